"""`mdm demo erp …` and `mdm demo wms …`: what the ERP's buyer and the WMS's dock worker do in
the running demo for flow 2 (purchase receipt), through the systems' APIs
(mdm/demo/erp_receipts.py, mdm/demo/wms_receipts.py): release an order to its supplier,
receive goods against it, show a receipt or a pre-receipt."""
from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from mdm.cli.main import console
from mdm.errors import MdmError
from mdm.runtime.settings import demo_state

erp_app = typer.Typer(
    no_args_is_help=True,
    help="The running demo's ERP as its buyer uses it: `release` sends a purchase order to "
         "the supplier (created → released), which the hub turns into a WMS pre-receipt.")
wms_app = typer.Typer(
    no_args_is_help=True,
    help="The running demo's WMS as its dock worker uses it: `receive` enters and completes "
         "a receipt against a purchase order (accepted and rejected quantities, batch), which "
         "the hub posts as the ERP's stock-in and return; `show` prints a receipt (GR…) or a "
         "pre-receipt (ASN…).")


def parse_receipt_line(text: str, batch: str | None) -> dict[str, Any]:
    """PO_LINE:RECEIVED:ACCEPTED[:REJECTED[:REASON]] → a receipt line (decimals as written);
    REJECTED defaults to RECEIVED − ACCEPTED."""
    parts = text.split(":", 4)
    if len(parts) < 3 or not parts[0].strip().isdigit():
        raise typer.BadParameter(f"{text!r}: expected PO_LINE:RECEIVED:ACCEPTED[:REJECTED[:REASON]]"
                                 ", e.g. 1:80:80 or 2:50:45:5:包装破损")
    numbers = {}
    for name, value in zip(("received", "accepted", "rejected"), parts[1:4], strict=False):
        try:
            numbers[name] = Decimal(value.strip())
        except InvalidOperation:
            raise typer.BadParameter(f"{text!r}: the {name} quantity {value!r} is not a number") \
                from None
    rejected = numbers.get("rejected", numbers["received"] - numbers["accepted"])
    line: dict[str, Any] = {"po_line_no": int(parts[0]), "received_qty": parts[1].strip(),
                            "accepted_qty": parts[2].strip(), "rejected_qty": str(rejected)}
    if batch:
        line["batch_no"] = batch
    if len(parts) == 5 and parts[4].strip():
        line["reject_reason"] = parts[4].strip()
    return line


def _url(state_key: str, env: str) -> str:
    """The system's address in the demo running from this folder (.mdm/demo/demo.json), else
    $env."""
    url = (demo_state() or {}).get(state_key) or os.environ.get(env)
    if not url:
        raise MdmError(f"no running demo found in this folder (.mdm/demo/demo.json) and {env} "
                       "is not set; start 'mdm demo' first")
    return str(url).rstrip("/")


def _call(system: str, method: str, path: str, body: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    base = _url(*SYSTEMS[system])
    try:
        response = httpx.request(method, base + path, json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise MdmError(f"the demo {system} at {base} does not answer ({exc})") from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise MdmError(f"{system} answered {response.status_code}: {detail}")
    result: dict[str, Any] = response.json()
    return result


SYSTEMS = {"ERP": ("erp_api_url", "MDM_ERP_API_URL"), "WMS": ("wms_url", "MDM_WMS_URL")}
PoNo = Annotated[str, typer.Argument(help="The purchase order's number, e.g. 4500000001.")]


@erp_app.command("release")
def release(po_no: PoNo) -> None:
    """Release a created purchase order to its supplier (created → released, 已下达供应商).
    With the hub's flow running, the WMS soon has its pre-receipt."""
    found = _call("ERP", "POST", f"/api/purchase-orders/{po_no}/release")
    console.print(f"{po_no} released to supplier {found['supplier_code']} "
                  f"({len(found['lines'])} line(s))", highlight=False)


@wms_app.command("receive")
def receive(
        po_no: PoNo,
        line: Annotated[list[str], typer.Option(
            "--line", help="A received line PO_LINE:RECEIVED:ACCEPTED[:REJECTED[:REASON]], "
                           "e.g. 1:80:80 or 2:50:45:5:包装破损 (repeat for more lines).")],
        batch: Annotated[str | None, typer.Option(help="The batch number of every line.")] = None,
        warehouse: Annotated[str, typer.Option(help="The receiving warehouse.")] = "WH01",
        by: Annotated[str, typer.Option("--by", help="Who received the goods.")] = "仓管员",
        pre: Annotated[str | None, typer.Option(
            "--pre", help="The pre-receipt (ASN…); default: the PO's newest open one.")] = None,
        draft: Annotated[bool, typer.Option(
            "--draft", help="Leave the receipt a draft (complete it later).")] = False) -> None:
    """Enter a receipt against a purchase order and complete it; print its number (GR…).

    A line's item is the pre-receipt's item of that PO line. Example:
    `mdm demo wms receive 4500000001 --line 1:80:80 --line 2:50:45:5:包装破损 --batch B2612`
    """
    body = {"po_no": po_no, "pre_no": pre, "warehouse": warehouse, "received_by": by,
            "lines": [parse_receipt_line(text, batch) for text in line]}
    receipt_no = _call("WMS", "POST", "/api/receipts", body)["receipt_no"]
    if draft:
        console.print(f"{receipt_no} draft", highlight=False)
        return
    found = _call("WMS", "POST", f"/api/receipts/{receipt_no}/complete")
    console.print(f"{receipt_no} completed at {found['received_at']}", highlight=False)


@wms_app.command("show")
def show(number: Annotated[str, typer.Argument(
        help="A receipt (GR…), pre-receipt (ASN…), pick task (PK…) or outbound order (OB…).")]
         ) -> None:
    """Print a receipt (its state, the ERP stock-in number the hub wrote back, its lines with
    accepted and rejected quantities) or a pre-receipt (its PO, supplier and lines); a pick
    task (PK…) or outbound order (OB…) too."""
    from mdm.cli.demo_outbound import show_outbound

    if show_outbound(number):
        return
    fields: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    if number.upper().startswith("ASN"):
        found = _call("WMS", "GET", f"/api/pre-receipts/{number}")
        fields = ("po_no", "supplier_no", "expected_date", "created_at")
        table = Table("PO line", "item", "quantity")
        rows = [(item["line_no"], item["item_code"], item["quantity"]) for item in found["lines"]]
        title = found["pre_no"]
    else:
        found = _call("WMS", "GET", f"/api/receipts/{number}")
        fields = ("po_no", "pre_no", "warehouse", "received_by", "received_at", "erp_doc_no")
        table = Table("line", "PO line", "item", "received", "accepted", "rejected", "batch",
                      "reason")
        rows = [(item["line_no"], item["po_line_no"], item["item_code"], item["received_qty"],
                 item["accepted_qty"], item["rejected_qty"], item["batch_no"],
                 item["reject_reason"]) for item in found["lines"]]
        title = found["receipt_no"]
    console.print(f"[bold]{title}[/bold]  status [bold]{found['status']}[/bold]",
                  highlight=False)
    for field in fields:
        value = found[field] if field != "erp_doc_no" else found[field] or "— (none yet)"
        if value is not None:
            console.print(f"  {field:<14}{value}", highlight=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


# flows 3 and 4's commands join these groups (production picking, sales outbound)
from mdm.cli import demo_outbound  # noqa: E402,F401
from mdm.cli import demo_finance  # noqa: E402,F401  (flows 5 and 6: claims, vouchers, payments)
