"""`mdm reconcile NAME [KEY]`: an order's three-way match across systems (reconciliations/):
per line ordered / received / rejected / stocked / payable, the order's payables and payments,
and each verdict — or with `--mismatches` every order whose documents disagree. Asks the
running hub's API (token in MDM_TOKEN, address in MDM_API_URL)."""
from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from mdm.cli.client import call
from mdm.cli.main import console
from mdm.errors import MdmError

VERDICT = {"agrees": "[green]agrees[/green]", "in_progress": "[yellow]in progress[/yellow]",
           "mismatch": "[bold red]mismatch[/bold red]"}


def reconcile_cmd(name: Annotated[str, typer.Argument(help="Reconciliation, e.g. purchase_order.")],
                  key: Annotated[str | None, typer.Argument(help="The order's business key, "
                                                                 "e.g. 4500000012.")] = None,
                  mismatches: Annotated[bool, typer.Option(
                      "--mismatches", help="List every order whose documents disagree.")] = False,
                  as_json: Annotated[bool, typer.Option("--json", help="Print the JSON.")] = False,
                  ) -> None:
    """Ordered vs received vs stocked vs payable vs paid, per order line, and whether the
    documents agree (reconciliations/NAME.yaml). Asks the running hub."""
    base = f"/api/v1/reconcile/{quote(name, safe='')}"
    if mismatches or key is None:
        if not mismatches:
            raise MdmError(f"give an order's key (mdm reconcile {name} KEY) or --mismatches")
        found = call("GET", base)
        if as_json:
            console.print_json(json.dumps(found, ensure_ascii=False))
        else:
            _print_mismatches(name, found["mismatches"])
        return
    found = call("GET", f"{base}/{quote(key, safe='')}")
    if as_json:
        console.print_json(json.dumps(found, ensure_ascii=False))
        return
    _print_reconciliation(found)


def _print_mismatches(name: str, orders: list[dict[str, Any]]) -> None:
    table = Table(title=f"{name}: {len(orders)} order(s) whose documents disagree")
    for column in ("order", "task", "since", "mismatches"):
        table.add_column(column, overflow="fold")
    for o in orders:
        table.add_row(o["business_key"], str(o["task_id"]), str(o["since"])[:19],
                      "\n".join(o["mismatches"]))
    console.print(table)


def _print_reconciliation(r: dict[str, Any]) -> None:
    marked = {(ln["line"], x["figure"]) for ln in r["lines"] for x in ln["reasons"]
              if x["verdict"] == "mismatch"}
    table = Table(title=f"{r['entity']} {r['business_key']} ({r['state']}): "
                        f"{VERDICT[r['verdict']]}")
    for column in ("line", "ordered", "price", "amount", "received", "rejected", "stocked",
                   "stocked × price", "verdict", "why"):
        table.add_column(column, justify="right" if column not in ("verdict", "why") else "left",
                         overflow="fold")
    for ln in r["lines"]:
        def figure(name: str, line: dict[str, Any] = ln) -> str:
            mark = (line["line"], name) in marked
            return f"[bold red]{line[name]}[/bold red]" if mark else str(line[name])
        table.add_row(ln["line"], ln["ordered"], ln["unit_price"], ln["amount"],
                      figure("received"), ln["rejected"], figure("stocked"), ln["payable"],
                      VERDICT[ln["verdict"]], "; ".join(x["text"] for x in ln["reasons"]))
    console.print(table)
    order = {x["figure"] for x in r["reasons"] if x["verdict"] == "mismatch"}
    money = [(label, r[field], field in order) for label, field in (
        ("stocked × price", "expected_payable"), ("payable", "payable"), ("paid", "paid"))]
    console.print("  ".join(f"{label} [bold red]{v}[/bold red]" if bad else f"{label} {v}"
                            for label, v, bad in money), highlight=False)
    for x in r["reasons"]:
        console.print(f"  order: {x['text']} ({x['verdict']})", highlight=False)
    for figure, keys in r["documents"].items():
        console.print(f"  {figure}: {', '.join(keys) or '—'}", highlight=False)
    if not r["settled"]:
        console.print("  [dim]commands between these documents are still in flight[/dim]")


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile_cmd)
