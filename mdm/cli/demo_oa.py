"""`mdm demo oa …`: purchase requests in the running demo's OA, through its approval workflow's
API (mdm/demo/oa_requests.py) — what an OA user does in its UI: create, submit, approve,
reject, show."""
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

oa_app = typer.Typer(
    no_args_is_help=True,
    help="Purchase requests in the running demo's OA (its approval workflow without the UI): "
         "`request` makes a draft, `submit` sends it for approval, `approve` or `reject` "
         "decides it, `show` prints it with the ERP purchase order number the hub wrote back.")
REQUESTS = "/api/purchase-requests"


def parse_line(text: str) -> dict[str, Any]:
    """MATERIAL:QUANTITY:UNIT_PRICE[:NEEDED_BY] → a request line (decimals kept as written)."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or not parts[0].strip():
        raise typer.BadParameter(f"{text!r}: expected MATERIAL:QUANTITY:UNIT_PRICE[:NEEDED_BY], "
                                 "e.g. M-1002:12.5:3.20 or M-1002:12.5:3.20:2026-12-20")
    for name, value in (("quantity", parts[1]), ("unit price", parts[2])):
        try:
            Decimal(value)
        except InvalidOperation:
            raise typer.BadParameter(f"{text!r}: the {name} {value!r} is not a number") from None
    line: dict[str, Any] = {"material_code": parts[0].strip(), "quantity": parts[1].strip(),
                            "unit_price": parts[2].strip()}
    if len(parts) == 4 and parts[3].strip():
        line["needed_by"] = parts[3].strip()
    return line


def oa_url() -> str:
    """The OA of the demo running from this folder (.mdm/demo/demo.json), else $MDM_OA_URL."""
    state = demo_state()
    url = (state or {}).get("oa_url") or os.environ.get("MDM_OA_URL")
    if not url:
        raise MdmError("no running demo found in this folder (.mdm/demo/demo.json) and "
                       "MDM_OA_URL is not set; start 'mdm demo' first")
    return url.rstrip("/")


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = oa_url() + path
    try:
        response = httpx.request(method, url, json=body, timeout=30)
    except httpx.HTTPError as exc:
        raise MdmError(f"the demo OA at {url} does not answer ({exc})") from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise MdmError(f"OA answered {response.status_code}: {detail}")
    result: dict[str, Any] = response.json()
    return result


@oa_app.command("request")
def create_request(
        vendor: Annotated[str, typer.Option("--vendor", help="The vendor's code, e.g. S0001.")],
        line: Annotated[list[str], typer.Option(
            "--line", help="A line MATERIAL:QUANTITY:UNIT_PRICE[:NEEDED_BY], e.g. "
                           "M-1002:12.5:3.20 (repeat for more lines).")],
        title: Annotated[str, typer.Option(help="The request's title.")] = "办公用品采购",
        requester: Annotated[str | None, typer.Option(help="Who asks, e.g. E0042.")] = None,
        dept: Annotated[str | None, typer.Option(help="The requesting department, e.g. D01.")]
        = None) -> None:
    """Create a draft purchase request with its lines; print its number (PR-YYYYMMDD-NNNN).

    Example: `mdm demo oa request --vendor S0001 --line M-1002:12.5:3.20 --line M-1003:2:88`
    """
    body = {"title": title, "requester": requester, "dept_code": dept, "vendor_code": vendor,
            "lines": [parse_line(text) for text in line]}
    console.print(_call("POST", REQUESTS, body)["request_no"], highlight=False)


RequestNo = Annotated[str, typer.Argument(
    help="The request's number, e.g. PR-20261202-0001 (or an expense claim's BX-…, a payment "
         "request's PAY-…).")]


def _path(number: str) -> str:
    from mdm.cli.demo_finance import collection_of  # flows 5 and 6's documents

    return collection_of(number) or REQUESTS


@oa_app.command("submit")
def submit(request_no: RequestNo) -> None:
    """Submit a draft for approval (draft → submitted)."""
    found = _call("POST", f"{_path(request_no)}/{request_no}/submit")
    console.print(f"{request_no} submitted at {found['submitted_at']}", highlight=False)


@oa_app.command("approve")
def approve(request_no: RequestNo,
            by: Annotated[str, typer.Option("--by", help="The approver, e.g. 王经理.")],
            comment: Annotated[str | None, typer.Option(help="The approval's comment.")] = None
            ) -> None:
    """Approve a submitted request (submitted → approved). With the hub's flow running, the
    ERP creates its purchase order and `show` soon prints the order's number."""
    found = _call("POST", f"{_path(request_no)}/{request_no}/approve",
                  {"approver": by, "comment": comment})
    console.print(f"{request_no} approved by {found['approver']} at {found['approved_at']}",
                  highlight=False)


@oa_app.command("reject")
def reject(request_no: RequestNo,
           by: Annotated[str, typer.Option("--by", help="The approver, e.g. 王经理.")],
           comment: Annotated[str, typer.Option(help="Why it is rejected (required).")]) -> None:
    """Reject a submitted request (submitted → rejected), with a reason."""
    found = _call("POST", f"{_path(request_no)}/{request_no}/reject",
                  {"approver": by, "comment": comment})
    console.print(f"{request_no} rejected by {found['approver']}: {found['approval_comment']}",
                  highlight=False)


@oa_app.command("show")
def show(request_no: RequestNo) -> None:
    """Print a request: its state, who approved it, the ERP purchase order number and status
    the hub wrote back, and its lines."""
    found = _call("GET", f"{_path(request_no)}/{request_no}")
    if _path(request_no) != REQUESTS:
        from mdm.cli.demo_finance import show_finance

        show_finance(found)
        return
    console.print(f"[bold]{found['request_no']}[/bold]  {found['title']}  status "
                  f"[bold]{found['status']}[/bold]", highlight=False)
    for label, value in (("vendor", found["vendor_code"]), ("requester", found["requester"]),
                         ("department", found["dept_code"]),
                         ("submitted at", found["submitted_at"]),
                         ("approver", found["approver"]), ("approved at", found["approved_at"]),
                         ("comment", found["approval_comment"]),
                         ("ERP PO", found["po_no"] or "— (none yet)"),
                         ("PO status", found["po_status"])):
        if value is not None:
            console.print(f"  {label:<13}{value}", highlight=False)
    table = Table("line", "material", "quantity", "unit price", "needed by")
    for item in found["lines"]:
        table.add_row(str(item["line_no"]), item["material_code"], item["quantity"],
                      item["unit_price"], item["needed_by"] or "")
    console.print(table)
