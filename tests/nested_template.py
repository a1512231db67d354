"""The nested-children entity shared by the unit and integration tests of nested child lists:
a product template whose variants each list their cost prices (template → variants → prices)."""
from __future__ import annotations

TEMPLATE = """entity: template
table: public.t_template
business_key: code
attributes:
  code: {type: string, required: true}
  name: {type: string}
children:
  variants:
    table: public.t_variant
    parent_column: template_id
    order_by: sku
    attributes:
      sku: {type: string}
    children:
      prices:
        table: public.t_cost_price
        parent_column: variant_id
        order_by: valid_from
        attributes:
          valid_from: {type: date}
          price: {type: decimal}
"""
