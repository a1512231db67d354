"""`mdm trace ENTITY KEY`: a document's chain across systems, hop by hop, as a tree — asks
the running hub's API (token in MDM_TOKEN, address in MDM_API_URL)."""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.tree import Tree

from mdm.cli.client import call
from mdm.cli.hub import GoldenIdOpt, lookup, when
from mdm.cli.main import console


def trace_cmd(entity: Annotated[str, typer.Argument(help="Entity, e.g. purchase_request.")],
              key: Annotated[str, typer.Argument(help="Business key, e.g. PR-20261202-0001 "
                                                      "(a golden id with --golden-id).")],
              by_golden_id: GoldenIdOpt = False) -> None:
    """Every document and hop of a document's chain: which system each document lives in,
    its number, what fired each hop (the transition, who, when), how long the target took,
    and the documents made from it — from the chain's first document, whichever one you ask.

    Asks the running hub (token in MDM_TOKEN, address in MDM_API_URL)."""
    found = call("GET", f"/api/v1/trace/{quote(entity, safe='')}/{quote(key, safe='')}",
                 params=lookup(by_golden_id))
    tree = Tree(_document(found["root"], found["asked"]))
    _branch(tree, found["root"], found["asked"])
    console.print(tree)


def _branch(tree: Tree, node: dict[str, Any], asked: int) -> None:
    for command in node["commands"]:
        tree.add(_command(command))
    for child in node["documents"]:
        _branch(tree.add(_document(child, asked)), child, asked)
    if node["cut"]:
        tree.add("[dim]… (more documents: the chain is cut here)[/dim]")


def _document(node: dict[str, Any], asked: int) -> str:
    first = when(node["first_seen"])
    seen = f" since {first:%Y-%m-%d %H:%M:%S}" if first else ""
    mark = " [bold]◀[/bold]" if node["golden_id"] == asked else ""
    key = node["business_key"] or f"#{node['golden_id']} (draft)"
    state = f" [magenta]{node['state']}[/magenta]" if node.get("state") is not None else ""
    return (f"[bold]{(node['system'] or '?').upper()}[/bold] {node['entity']} [cyan]{key}[/cyan]"
            f"{state} v{node['version']}{seen}{mark}")


def _command(c: dict[str, Any]) -> str:
    fired = when(c["fired_at"])
    why = f"{c['transition']}" if c["transition"] else "its fields changed"
    who = f" by {c['actor']}" if c["actor"] else ""
    at = f" at {fired:%H:%M:%S.%f}"[:-3] if fired else ""
    went = {"acked": "[green]acked[/green]", "dead": "[red]dead[/red]"}.get(c["status"], c["status"])
    took = f" +{c['ms_to_ack']} ms" if c["ms_to_ack"] is not None else ""
    answer = f" → {c['target_id']}" if c["target_id"] and not c["back"] else ""
    error = f" [red]{c['last_error']}[/red]" if c["status"] != "acked" and c["last_error"] else ""
    return (f"{c['operation']} at [bold]{c['target'].upper()}[/bold] ({c['hop']}) v{c['version']}: "
            f"{why}{who}{at} — {went}{took}{answer}{error}")


def register(app: typer.Typer) -> None:
    app.command("trace")(trace_cmd)
