"""A record's lineage as a graph (networkx) and as an SVG a newcomer can read.

Nodes: what caused each version (an ERP commit, a steward's decision, a target's answer),
the versions, their deliveries and the targets' acknowledgements. Edges point the way data
flowed: cause → version → delivery → ack; a version also points to the next version.
Read left to right; every box links to its JSON in the API.
"""
from __future__ import annotations

from html import escape
from typing import Any

import networkx as nx
from sqlalchemy import Connection

from mdm.lineage.queries import cause_of
from mdm.store.repositories import lineage

KINDS = {  # column, fill, stroke, legend
    "cause": (0, "#eef4ff", "#3b6fd8", "what made the version: an ERP commit, a decision, an answer"),
    "version": (1, "#f3f8ee", "#4a8a2a", "a golden record version"),
    "delivery": (2, "#fff7e8", "#c07a00", "the version sent to a target"),
    "ack": (3, "#f4f4f4", "#555555", "the target's acknowledgement"),
}
BOX_W, BOX_H, GAP_X, GAP_Y, TOP = 250, 46, 40, 12, 90


def record_address(entity: str, business_key: str | None, golden_id: int) -> tuple[str, str]:
    """A record's API path and the query that goes with it: by business key, or for a draft
    (no business key yet) by golden id (`?by=golden_id`, a lookup never made implicitly)."""
    if business_key is not None:
        return f"/api/v1/records/{entity}/{business_key}", ""
    return f"/api/v1/records/{entity}/{golden_id}", "?by=golden_id"


def build(conn: Connection, entity: str, business_key: str | None, golden_id: int,
          versions: int = 30) -> nx.DiGraph[str]:
    """The lineage graph of the newest `versions` versions of one record (a draft, without a
    business key, is addressed by its golden id)."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    base, by = record_address(entity, business_key, golden_id)
    rows = lineage.graph_versions(conn, golden_id, versions)
    for row in reversed(rows):
        v = f"version:{row['version']}"
        graph.add_node(v, kind="version", label=f"version {row['version']} · {row['status']}",
                       detail=f"valid from {row['valid_from']:%Y-%m-%d %H:%M:%S%z} · {row['quality']}",
                       href=f"{base}/versions/{row['version']}{by}", order=row["version"])
        cause = cause_of(row)
        c = f"cause:{row['version']}"
        graph.add_node(c, kind="cause", **_cause_box(cause, base, by), order=row["version"])
        graph.add_edge(c, v, label="made")
        if graph.has_node(f"version:{row['version'] - 1}"):
            graph.add_edge(f"version:{row['version'] - 1}", v, label="next")
    if rows:
        low = min(r["version"] for r in rows)
        _add_deliveries(conn, graph, golden_id, low)
        _add_decisions(conn, graph, golden_id, low)
    return graph


def _add_decisions(conn: Connection, graph: nx.DiGraph[str], golden_id: int, low: int) -> None:
    """Decisions about a version that did not make it (approve, push, retry, waive…); a decision
    that made a version is already that version's cause."""
    for d in lineage.decisions_since_version(conn, golden_id, low):
        version = f"version:{d['version']}"
        if not graph.has_node(version):
            continue
        node = f"decision:{d['id']}"
        graph.add_node(node, kind="cause", label=f"decision: {d['action']} by {d['actor']}",
                       detail=f"task {d['task_id']} · {d['decided_at']:%Y-%m-%d %H:%M:%S}"
                              + (f" · {d['reason']}" if d["reason"] else ""),
                       href=f"/api/v1/tasks/{d['task_id']}", order=d["version"])
        graph.add_edge(node, version, label="decided")


def _cause_box(cause: dict[str, Any], base: str, by: str) -> dict[str, str]:
    if cause["kind"] == "decision":
        return {"label": f"decision by {cause['actor']}", "detail": f"task {cause['task_id']}",
                "href": f"/api/v1/tasks/{cause['task_id']}"}
    if cause["kind"] == "write_back":
        return {"label": f"answer from {cause['target']}", "detail": f"inbox event {cause['inbox_id']}",
                "href": f"{base}/history{by}"}
    when = f"{cause['commit_ts']:%Y-%m-%d %H:%M:%S}" if cause["commit_ts"] else "snapshot"
    return {"label": f"{cause['source']} tx {cause['tx_id']} · {cause['op']} {cause['table']}",
            "detail": f"row {cause['row_key']} · {when} · LSN {cause['lsn']}",
            "href": f"/api/v1/transactions/{cause['source']}/{cause['tx_id']}"}


def _add_deliveries(conn: Connection, graph: nx.DiGraph[str], golden_id: int, low: int) -> None:
    for d in lineage.graph_deliveries(conn, golden_id, low):
        node = f"delivery:{d['id']}"
        detail = f"{d['status']} after {d['attempts']} attempt(s)" + (
            f" · HTTP {d['response_status']}" if d["response_status"] else "")
        graph.add_node(node, kind="delivery", label=f"→ {d['target']} (#{d['id']})",
                       detail=detail, href=f"/api/v1/deliveries/{d['id']}", order=d["version"])
        graph.add_edge(f"version:{d['version']}", node, label="sent")
        if d["acked_at"] is not None:
            ack = f"ack:{d['id']}"
            graph.add_node(ack, kind="ack", label=f"{d['target']} acknowledged",
                           detail=f"{d['acked_at']:%Y-%m-%d %H:%M:%S} · id {d['target_id'] or '—'}",
                           href=f"/api/v1/deliveries/{d['id']}", order=d["version"])
            graph.add_edge(node, ack, label="acked")


def to_svg(graph: nx.DiGraph[str], title: str) -> str:
    """Lay the graph out in four columns (cause, version, delivery, ack), newest version on top."""
    rows: dict[int, dict[str, list[str]]] = {}
    for node, data in graph.nodes(data=True):
        rows.setdefault(data["order"], {}).setdefault(data["kind"], []).append(node)
    position: dict[str, tuple[int, int]] = {}
    y = TOP
    for order in sorted(rows, reverse=True):
        by_kind = rows[order]
        deliveries = sorted(by_kind.get("delivery", []), key=lambda n: int(n.split(":")[1]))
        height = max(1, *(len(nodes) for nodes in by_kind.values()))
        for kind, nodes in by_kind.items():
            column = KINDS[kind][0]
            ordered = deliveries if kind == "delivery" else sorted(nodes)
            for i, node in enumerate(ordered):
                if kind == "ack":
                    i = deliveries.index(node.replace("ack:", "delivery:"))
                position[node] = (20 + column * (BOX_W + GAP_X), y + i * (BOX_H + GAP_Y))
        y += height * (BOX_H + GAP_Y) + GAP_Y
    width = 20 + 4 * (BOX_W + GAP_X)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 20}" '
             f'font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="{escape(title)}">',
             '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#888"/></marker></defs>',
             _legend()]
    for a, b, data in graph.edges(data=True):
        (x1, y1), (x2, y2) = position[a], position[b]
        if data["label"] == "next":  # version to version: down the version column
            parts.append(f'<line x1="{x1 + BOX_W // 2}" y1="{y1}" x2="{x2 + BOX_W // 2}" '
                         f'y2="{y2 + BOX_H}" stroke="#bbb" stroke-dasharray="4 3" marker-end="url(#arrow)"/>')
        else:
            parts.append(f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" '
                         f'y2="{y2 + BOX_H // 2}" stroke="#888" marker-end="url(#arrow)"/>')
    for node, data in graph.nodes(data=True):
        x, y_ = position[node]
        _, fill, stroke, _ = KINDS[data["kind"]]
        parts.append(
            f'<a href="{escape(data["href"])}"><g><title>{escape(data["label"])} — '
            f'{escape(data["detail"])}</title><rect x="{x}" y="{y_}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="6" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 8}" y="{y_ + 18}" font-weight="600">{escape(_clip(data["label"]))}</text>'
            f'<text x="{x + 8}" y="{y_ + 35}" fill="#444">{escape(_clip(data["detail"]))}</text></g></a>')
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    items = []
    for kind, (column, fill, stroke, meaning) in KINDS.items():
        x = 20 + column * (BOX_W + GAP_X)
        items.append(f'<rect x="{x}" y="14" width="14" height="14" rx="3" fill="{fill}" '
                     f'stroke="{stroke}"/><text x="{x + 20}" y="25" font-weight="600">{kind}</text>'
                     f'<text x="{x}" y="48" fill="#555">{escape(meaning[:44])}</text>'
                     f'<text x="{x}" y="62" fill="#555">{escape(meaning[44:88])}</text>')
    return "".join(items)


def _clip(label: str, limit: int = 38) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def page_title(record: dict[str, Any]) -> str:
    """The lineage page's title: the record by its business key, a draft (no key yet) by its
    golden id."""
    key = record["business_key"]
    name = key if key is not None else f"(draft, golden id {record['golden_id']})"
    return f"{record['entity']} {name} — lineage"


def page(title: str, svg: str, record: dict[str, Any], versions: int,
         trace_href: str | None = None) -> str:
    """The lineage page around the SVG: what the reader is looking at, in plain words (and a
    link to the document's chain across systems when its entity is in a flow)."""
    entity = record["entity"]
    key = record["business_key"] or f"(draft {record['golden_id']})"
    address, by = record_address(entity, record["business_key"], record["golden_id"])
    api = escape(address)
    more = f"?versions={versions * 4}" + (f"&{by[1:]}" if by else "")
    chain = (f' · <a href="{escape(trace_href)}" class="trace-link">its chain across systems '
             '(trace)</a>') if trace_href else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(title)}</title><style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
p {{ max-width: 60em; line-height: 1.5; }} a {{ color: #2456b3; }}
.svg {{ overflow-x: auto; border: 1px solid #ddd; padding: 8px; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>Golden record <b>{escape(entity)} {escape(key)}</b> (golden id {record["golden_id"]}), now at
version {record["version"]}, {escape(record["status"])}. Read each row from left to right: what
made the version (an ERP commit with its transaction id and LSN, a steward's decision, or a
target's own answer) and any decision taken about it, the version itself, each delivery of it to a target, and the target's
acknowledgement. The newest version is at the top; dashed arrows join a version to the next.
Click a box to see its data. Showing the newest {versions} versions
(<a href="{more}">more</a>).</p>
<p>Also: <a href="{api}/history{by}">history with changes</a> ·
<a href="{api}{by}">current record</a> · <a href="{api}/lineage{by}">this graph as JSON</a>{chain}</p>
<div class="svg">{svg}</div></body></html>"""
