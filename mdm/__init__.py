"""mdm — a master data hub: capture ERP changes, keep golden records, propagate to OA and WMS."""

__version__ = "0.1.0"
