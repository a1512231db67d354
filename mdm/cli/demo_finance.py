"""`mdm demo oa claim …` and `mdm demo erp post-vouchers|pay …`: the finance documents of flows 5
and 6 in the running demo (mdm/demo/oa_finance.py, mdm/demo/erp_finance.py). An expense claim
(BX-…) or a payment request (PAY-…) is submitted, approved, rejected and shown with the same
`mdm demo oa submit|approve|reject|show` commands as a purchase request."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.table import Table

from mdm.cli.demo_oa import _call as oa_call
from mdm.cli.demo_oa import oa_app
from mdm.cli.demo_receipts import _call, erp_app
from mdm.cli.main import console

CLAIMS = "/api/expense-claims"
PAYMENT_REQUESTS = "/api/payment-requests"


def collection_of(number: str) -> str | None:
    """The OA collection of a finance document's number (BX-…, PAY-…), else None."""
    if number.startswith("BX-"):
        return CLAIMS
    if number.startswith("PAY-"):
        return PAYMENT_REQUESTS
    return None


def parse_claim_line(text: str) -> dict[str, Any]:
    """EXPENSE_TYPE:AMOUNT[:INVOICE_NO[:DESCRIPTION]] → a claim line (the amount as written)."""
    parts = text.split(":", 3)
    if len(parts) < 2 or not parts[0].strip():
        raise typer.BadParameter(f"{text!r}: expected EXPENSE_TYPE:AMOUNT[:INVOICE_NO"
                                 "[:DESCRIPTION]], e.g. 差旅费:1280.50:04403311")
    try:
        Decimal(parts[1])
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r}: the amount {parts[1]!r} is not a number") from None
    line: dict[str, Any] = {"expense_type": parts[0].strip(), "amount": parts[1].strip()}
    for name, value in zip(("invoice_no", "description"), parts[2:], strict=False):
        if value.strip():
            line[name] = value.strip()
    return line


@oa_app.command("claim")
def create_claim(
        line: Annotated[list[str], typer.Option(
            "--line", help="A line EXPENSE_TYPE:AMOUNT[:INVOICE_NO[:DESCRIPTION]], e.g. "
                           "差旅费:1280.50:04403311 (repeat for more lines).")],
        claimant: Annotated[str, typer.Option(help="Who claims (staff number).")] = "E0003",
        title: Annotated[str, typer.Option(help="The claim's title.")] = "出差报销",
        dept: Annotated[str | None, typer.Option(help="The department, e.g. D01.")] = None
        ) -> None:
    """Create a draft expense claim; print its number (BX-YYYYMMDD-NNNN). Then `mdm demo oa
    submit BX-…` and `approve BX-… --by 李总监`: the hub writes it into the ERP's voucher
    interface.

    Example: `mdm demo oa claim --line 差旅费:1280.50:04403311 --line 业务招待费:356`
    """
    body = {"title": title, "claimant": claimant, "dept_code": dept,
            "lines": [parse_claim_line(text) for text in line]}
    console.print(oa_call("POST", CLAIMS, body)["claim_no"], highlight=False)


def show_finance(found: dict[str, Any]) -> None:
    """Print an OA expense claim or payment request as `mdm demo oa show` does."""
    number = found.get("claim_no") or found["request_no"]
    console.print(f"[bold]{number}[/bold]  {found['title']}  status [bold]{found['status']}"
                  "[/bold]", highlight=False)
    fields = ("claimant", "dept_code", "total_amount", "payable_no", "po_no", "supplier_code",
              "amount", "due_date", "approver", "approved_at", "approval_comment", "erp_status",
              "voucher_no", "payment_no", "pay_status", "paid_amount", "paid_at", "bank_ref")
    for field in fields:
        if found.get(field) is not None:
            console.print(f"  {field:<17}{found[field]}", highlight=False)
    if found.get("lines"):
        table = Table("line", "expense type", "amount", "invoice no", "description")
        for item in found["lines"]:
            table.add_row(str(item["line_no"]), item["expense_type"], item["amount"],
                          item["invoice_no"] or "", item["description"] or "")
        console.print(table)


@erp_app.command("post-vouchers")
def post_vouchers() -> None:
    """Run the ERP's posting job: every pending row of its voucher interface (gl_voucher_interface,
    written by the hub) becomes a posted voucher, or is marked error with the reason."""
    done = _call("ERP", "POST", "/api/vouchers/post-interface")
    for item in done["posted"]:
        console.print(f"{item['claim_no']} → voucher {item['voucher_no']} posted", highlight=False)
    for item in done["errors"]:
        console.print(f"{item['claim_no']} not posted: {item['error']}", highlight=False)
    if not done["posted"] and not done["errors"]:
        console.print("no pending interface rows", highlight=False)


@erp_app.command("pay")
def pay(voucher_no: Annotated[str, typer.Argument(help="The voucher, e.g. 记-2026-12-0001.")],
        bank_ref: Annotated[str | None, typer.Option(help="The bank's reference (default: "
                                                       "one the demo bank assigns).")] = None
        ) -> None:
    """Pay a posted expense-claim voucher to its claimant (the ERP's payment); with the hub
    running, the OA claim shows 已付款 with amount, time and bank reference."""
    done = _call("ERP", "POST", f"/api/vouchers/{voucher_no}/pay",
                 {"bank_ref": bank_ref} if bank_ref else None)
    console.print(f"{voucher_no} paid {done['amount']} at {done['paid_at']} "
                  f"(payment {done['payment_no']}, bank ref {done['bank_ref']})", highlight=False)
