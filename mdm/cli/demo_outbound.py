"""`mdm demo erp …` and `mdm demo wms …` for flows 3 and 4 (production picking, sales outbound):
what the ERP's planner and sales staff and the WMS's picker and shipper do in the running
demo, through the systems' APIs (mdm/demo/erp_picking.py, erp_sales.py, wms_outbound.py). The
commands join those of mdm/cli/demo_receipts.py on the same `erp` and `wms` groups."""
from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from mdm.cli.demo_receipts import _call, erp_app, wms_app
from mdm.cli.main import console


def parse_pick_line(text: str) -> dict[str, Any]:
    """LINE:PICKED[:BATCH] → a confirmation line (the quantity as written)."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0].strip().isdigit() or not parts[1].strip():
        raise typer.BadParameter(f"{text!r}: expected LINE:PICKED[:BATCH], e.g. 1:30 or "
                                 "1:12:B20261008-01")
    line: dict[str, Any] = {"line_no": int(parts[0]), "picked_qty": parts[1].strip()}
    if len(parts) == 3 and parts[2].strip():
        line["batch_no"] = parts[2].strip()
    return line


def parse_sales_line(text: str) -> dict[str, Any]:
    """MATERIAL:QUANTITY:UNIT_PRICE → a sales order line (decimals as written)."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3 or not all(parts):
        raise typer.BadParameter(f"{text!r}: expected MATERIAL:QUANTITY:UNIT_PRICE, "
                                 "e.g. M-1002:12:368.50")
    return {"material_code": parts[0], "quantity": parts[1], "unit_price": parts[2]}


def parse_ship_line(text: str) -> dict[str, Any]:
    """LINE:SHIPPED → a shipped line."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1]:
        raise typer.BadParameter(f"{text!r}: expected LINE:SHIPPED, e.g. 2:1.5")
    return {"line_no": int(parts[0]), "shipped_qty": parts[1]}


def _table(headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    table = Table(*headers)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def _header(title: str, found: dict[str, Any], fields: tuple[str, ...]) -> None:
    console.print(f"[bold]{title}[/bold]  status [bold]{found['status']}[/bold]",
                  highlight=False)
    for field in fields:
        if found.get(field) is not None:
            console.print(f"  {field:<16}{found[field]}", highlight=False)


@erp_app.command("picking-list")
def picking_list(mo_no: Annotated[str, typer.Argument(help="The production order, e.g. "
                                                           "MO00000001.")],
                 release: Annotated[bool, typer.Option(
                     "--release", help="Also release it to the warehouse.")] = False) -> None:
    """Make a production order's picking list from its BOM (required = order qty × qty per
    unit) and print it (LL…); --release sends it to the warehouse at once."""
    found = _call("ERP", "POST", f"/api/production-orders/{mo_no}/picking-list")
    if release:
        found = _call("ERP", "POST", f"/api/picking-lists/{found['pick_list_no']}/release")
    _show_erp(found["pick_list_no"], found)


@erp_app.command("release-picking")
def release_picking(pick_list_no: Annotated[str, typer.Argument(help="e.g. LL00000001")]) -> None:
    """Release a picking list (created → released): the hub makes the WMS's pick task."""
    _show_erp(pick_list_no, _call("ERP", "POST", f"/api/picking-lists/{pick_list_no}/release"))


@erp_app.command("sales-order")
def sales_order(
        customer: Annotated[str, typer.Option(help="The customer's code, e.g. C0001.")],
        line: Annotated[list[str], typer.Option(
            "--line", help="MATERIAL:QUANTITY:UNIT_PRICE, e.g. M-1002:12:368.50 (repeat).")],
        address: Annotated[str, typer.Option(help="Ship-to address.")] = "上海市浦东新区张江路 1388 号",
        priority: Annotated[int, typer.Option(help="1 (most urgent) … 5.")] = 3,
        contact: Annotated[str | None, typer.Option(help="The consignee.")] = None,
        phone: Annotated[str | None, typer.Option(help="The consignee's phone.")] = None,
        release: Annotated[bool, typer.Option("--release", help="Also release it.")] = False
) -> None:
    """Enter a sales order (SO…); --release sends it to the warehouse (the hub makes the WMS's
    outbound order)."""
    found = _call("ERP", "POST", "/api/sales-orders", {
        "customer_code": customer, "priority": priority, "ship_to_address": address,
        "contact": contact, "phone": phone, "lines": [parse_sales_line(t) for t in line]})
    if release:
        found = _call("ERP", "POST", f"/api/sales-orders/{found['so_no']}/release")
    _show_erp(found["so_no"], found)


@erp_app.command("release-sales")
def release_sales(so_no: Annotated[str, typer.Argument(help="e.g. SO00000001")]) -> None:
    """Release a sales order to the warehouse (created → released)."""
    _show_erp(so_no, _call("ERP", "POST", f"/api/sales-orders/{so_no}/release"))


@erp_app.command("show")
def show_erp(number: Annotated[str, typer.Argument(
        help="A picking list (LL…), sales order (SO…) or stock issue (CK…).")]) -> None:
    """Print an ERP picking list (required, issued, short per line), sales order (status in
    words, shipments and receivables) or stock issue (per batch)."""
    kind = number[:2].upper()
    path = {"LL": "/api/picking-lists/", "SO": "/api/sales-orders/", "CK": "/api/stock-issues/"}
    if kind not in path:
        raise typer.BadParameter(f"{number!r}: expected LL…, SO… or CK…")
    _show_erp(number, _call("ERP", "GET", path[kind] + number))


def _show_erp(number: str, found: dict[str, Any]) -> None:
    if number.upper().startswith("LL"):
        _header(number, found, ("mo_no", "product_code", "mo_quantity", "warehouse",
                                "pick_task_no"))
        _table(("line", "material", "required", "issued", "short"),
               [(ln["line_no"], ln["material_code"], ln["required_qty"], ln["issued_qty"],
                 ln["short_qty"]) for ln in found["lines"]])
    elif number.upper().startswith("SO"):
        found = {**found, "status": f"{found['status']} {found.get('status_text') or ''}"}
        _header(number, found, ("customer_code", "priority", "ship_to_address", "total_amount",
                                "tracking_no", "shipped_at"))
        _table(("line", "material", "quantity", "unit price", "amount", "shipped"),
               [(ln["line_no"], ln["material_code"], ln["quantity"], ln["unit_price"],
                 ln["amount"], ln["shipped_qty"]) for ln in found["lines"]])
        for s in found.get("shipments", []):
            console.print(f"  shipment {s['doc_no']} ({s['tracking_no']}) {s['amount']} → "
                          f"receivable {s['ar_no']} due {s['due_date']}", highlight=False)
    else:
        _header(number, {**found, "status": found.get("list_status")},
                ("pick_list_no", "pick_task_no", "warehouse", "posted_at"))
        _table(("line", "list line", "material", "quantity", "batch"),
               [(ln["line_no"], ln["pl_line_no"], ln["material_code"], ln["quantity"],
                 ln["batch_no"]) for ln in found["lines"]])


@wms_app.command("pick")
def pick(task_no: Annotated[str, typer.Argument(help="The pick task, e.g. PK00000001.")],
         line: Annotated[list[str] | None, typer.Option(
             "--line", help="LINE:PICKED[:BATCH] where the picker took less than allocated "
                            "(repeat); lines left out are picked as allocated.")] = None,
         by: Annotated[str, typer.Option("--by", help="Who picked.")] = "拣货员") -> None:
    """Confirm a pick task (open|short → picked): the hub posts the ERP's stock issue."""
    body: dict[str, Any] = {"picked_by": by}
    if line:
        body["lines"] = [parse_pick_line(t) for t in line]
    show_outbound(task_no, _call("WMS", "POST", f"/api/pick-tasks/{task_no}/confirm", body))


@wms_app.command("ship")
def ship(outbound_no: Annotated[str, typer.Argument(help="The outbound order, e.g. OB00000001.")],
         tracking: Annotated[str, typer.Option(help="The tracking number.")],
         carrier: Annotated[str, typer.Option(help="The carrier.")] = "顺丰速运",
         line: Annotated[list[str] | None, typer.Option(
             "--line", help="LINE:SHIPPED for a line shipped short (repeat).")] = None) -> None:
    """Ship an outbound order (open → shipped): the hub posts the ERP's sales shipment."""
    body: dict[str, Any] = {"tracking_no": tracking, "carrier": carrier}
    if line:
        body["lines"] = [parse_ship_line(t) for t in line]
    show_outbound(outbound_no, _call("WMS", "POST", f"/api/outbound-orders/{outbound_no}/ship",
                                     body))


def show_outbound(number: str, found: dict[str, Any] | None = None) -> bool:
    """Print a pick task (PK…) or an outbound order (OB…); False for any other number."""
    if number.upper().startswith("PK"):
        found = found or _call("WMS", "GET", f"/api/pick-tasks/{number}")
        _header(number, found, ("pick_list_no", "mo_no", "warehouse", "picked_by", "erp_doc_no"))
        _table(("line", "item", "required", "allocated", "picked", "short"),
               [(ln["line_no"], ln["item_code"], ln["required_qty"], ln["allocated_qty"],
                 ln["picked_qty"], ln["short_qty"]) for ln in found["lines"]])
        _table(("line", "batch", "received on", "allocated", "picked"),
               [(a["line_no"], a["batch_no"], a["received_on"], a["qty"], a["picked_qty"])
                for a in found["allocations"]])
        return True
    if number.upper().startswith("OB"):
        found = found or _call("WMS", "GET", f"/api/outbound-orders/{number}")
        _header(number, found, ("so_no", "customer_no", "priority", "ship_to_address",
                                "carrier", "tracking_no", "shipped_at", "erp_doc_no",
                                "erp_status"))
        _table(("line", "item", "quantity", "shipped"),
               [(ln["line_no"], ln["item_code"], ln["quantity"], ln["shipped_qty"])
                for ln in found["lines"]])
        return True
    return False
