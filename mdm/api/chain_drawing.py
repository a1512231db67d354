"""The trace page's drawing, laid out from a trace (mdm.lineage.trace: the chain's first
document, its commands and the documents made from them) — no I/O, no SVG text: positions
and what each shape says; the template (templates/trace.html) draws it.

Read left to right: one box per document (its system, entity, number, since when), one arrow
per hop's command from the document that fired it to the document it made (a dashed box when
it made none: refused, dead, not acknowledged yet), and under each made document the updates
that went back to its origin (`back:`), drawn as an arrow returning to the origin. A parent's
first child sits on its row, the next ones below."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from datetime import datetime
from typing import Any
from urllib.parse import quote

BOX_W, BOX_H = 250, 112
GAP_X, GAP_Y = 330, 22
LEFT, TOP = 20, 16
ARROW_Y = 70  # the forward arrow, from a box's top; its labels sit in the lines above it
RETURN_Y = 88  # the returning arrow; the updates it carried are listed below it
LINE = 15  # one label line
MAX_BACKS = 6  # back updates listed on the drawing (all of them in the table below it)


@dataclass
class Box:
    """A document (or, `ghost`, where a command made none)."""
    kind: ClassVar[str] = "box"
    x: int
    y: int
    system: str
    entity: str
    number: str
    golden_id: int | None = None
    since: datetime | None = None
    version: int | None = None
    status: str | None = None
    asked: bool = False
    ghost: bool = False
    href: str | None = None
    w: int = BOX_W
    h: int = BOX_H


@dataclass
class Command:
    """One command of a hop as the page shows it (a forward hop or an update going back)."""
    delivery_id: int
    href: str
    hop: str
    operation: str
    target: str
    status: str
    transition: str | None
    actor: str | None
    fired_at: datetime | None
    acked_at: datetime | None
    ms_to_ack: int | None
    target_id: str | None
    error: str | None
    fields: str  # the payload's top-level values, shortly (what a back update wrote)
    back: bool
    origin: str  # the document it was made from, as "SYSTEM number"
    origin_id: int  # and its golden id


@dataclass
class Arrow:
    """A forward hop: from the firing document's box to the made one, with its command."""
    kind: ClassVar[str] = "arrow"
    path: str  # SVG path data
    label_x: int
    label_y: int  # the first label line's baseline
    command: Command | None  # None: a link without its command (the hop no longer declared)
    link: str  # flow.hop


@dataclass
class Return:
    """The updates a made document sent back to its origin, as one returning arrow."""
    kind: ClassVar[str] = "return"
    path: str
    label_x: int
    label_y: int
    target: str
    commands: list[Command]
    more: int  # updates not listed on the drawing


@dataclass
class Drawing:
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)  # every command, chain order
    items: list[Box | Arrow | Return] = field(default_factory=list)  # all, in reading order
    cut: bool = False


def record_page(entity: str, business_key: str | None, golden_id: int) -> str:
    """The record's page in the workbench (its lineage), a draft by its golden id."""
    if business_key is None:
        return f"/records/{quote(entity, safe='')}/{golden_id}/lineage?by=golden_id"
    return f"/records/{quote(entity, safe='')}/{quote(business_key, safe='')}/lineage"


def trace_page(entity: str, business_key: str | None, golden_id: int) -> str:
    """This page's address for a record, a draft by its golden id."""
    if business_key is None:
        return f"/trace/{quote(entity, safe='')}/{golden_id}?by=golden_id"
    return f"/trace/{quote(entity, safe='')}/{quote(business_key, safe='')}"


def in_flows(project: Any, entity: str) -> bool:
    """Whether `entity` appears in a flow: a hop watches it, makes documents of it or names it
    as its origin, or a `links:` entry links it (or links under it)."""
    for flow in project.flows.values():
        if any(hop.from_ == entity or (hop.link is not None and hop.link.entity == entity)
               or (hop.origin is not None and hop.origin.entity == entity) for hop in flow.hops):
            return True
        if any(entity in (link.entity, link.origin.entity) for link in flow.links):
            return True
    return False


def trace_link(project: Any, entity: str, business_key: str | None,
               golden_id: int | None) -> str | None:
    """The trace page of a record whose entity appears in a flow (None otherwise)."""
    if golden_id is None or not in_flows(project, entity):
        return None
    return trace_page(entity, business_key, golden_id)


def layout(trace: dict[str, Any]) -> Drawing:
    """Where every box, arrow and label of the chain goes."""
    drawing = Drawing(0, 0)
    bottom = _place(drawing, trace["root"], int(trace["asked"]), 0, TOP)
    columns = 1 + max(((b.x - LEFT) // (BOX_W + GAP_X) for b in drawing.boxes), default=0)
    drawing.width = LEFT * 2 + columns * BOX_W + (columns - 1) * GAP_X
    drawing.height = bottom
    return drawing


def _place(drawing: Drawing, node: dict[str, Any], asked: int, depth: int, y: int,
           parent: Box | None = None) -> int:
    """Lay out `node` at column `depth`, row `y`, what it sent back to `parent`, and its chain
    to the right; the next free y."""
    box = _box(node, asked, LEFT + depth * (BOX_W + GAP_X), y)
    drawing.boxes.append(box)
    drawing.items.append(box)
    drawing.cut = drawing.cut or bool(node.get("cut"))
    origin = f"{box.system} {box.number}"
    commands = [_command(c, origin, box.golden_id or 0) for c in node["commands"]]
    drawing.commands.extend(commands)
    backs = [c for c in commands if c.back]
    if parent is not None and backs:
        drawing.returns.append(Return(
            _elbow(box.x, y + RETURN_Y, parent.x + BOX_W, parent.y + RETURN_Y, GAP_X - 6),
            parent.x + BOX_W + 22, y + RETURN_Y + LINE + 2, backs[0].target.upper(),
            backs[:MAX_BACKS], max(0, len(backs) - MAX_BACKS)))
        drawing.items.append(drawing.returns[-1])
    made = {int(d["link"]["command_id"]): d for d in node["documents"]
            if d["link"].get("command_id") is not None}
    next_y = y
    for command in (c for c in commands if not c.back):
        child = made.pop(command.delivery_id, None)
        next_y = _child(drawing, box, child, command, asked, depth, next_y)
    for child in sorted(made.values(), key=lambda d: d["golden_id"]) + [
            d for d in node["documents"] if d["link"].get("command_id") is None]:
        next_y = _child(drawing, box, child, None, asked, depth, next_y)
    return max(y + _height(node) + GAP_Y, next_y)


def _child(drawing: Drawing, parent: Box, child: dict[str, Any] | None,
           command: Command | None, asked: int, depth: int, y: int) -> int:
    """A hop's arrow to the document it made (or to a ghost box) and that document's chain."""
    x = LEFT + (depth + 1) * (BOX_W + GAP_X)
    link = f"{child['link']['flow']}.{child['link']['hop']}" if child else (
        command.hop if command else "")
    drawing.arrows.append(Arrow(_elbow(parent.x + BOX_W, parent.y + ARROW_Y, x, y + ARROW_Y, 12),
                                parent.x + BOX_W + 22, y + ARROW_Y - 4 * LINE + 2, command, link))
    drawing.items.append(drawing.arrows[-1])
    if child is not None:
        return _place(drawing, child, asked, depth + 1, y, parent)
    assert command is not None
    ghost = Box(x, y, command.target.upper(), "", command.target_id or "", ghost=True,
                status=command.status)
    drawing.boxes.append(ghost)
    drawing.items.append(ghost)
    return y + BOX_H + GAP_Y


def _elbow(x1: int, y1: int, x2: int, y2: int, turn: int) -> str:
    """From (x1, y1) to (x2, y2): straight on one row, else across, down `turn` from x1, across."""
    if y1 == y2:
        return f"M{x1},{y1} H{x2}"
    bend = x1 + turn if x2 > x1 else x1 - turn
    return f"M{x1},{y1} H{bend} V{y2} H{x2}"


def _height(node: dict[str, Any]) -> int:
    """A document's row: its box, or the updates listed under its returning arrow."""
    backs = sum(1 for c in node["commands"] if c.get("back"))
    if not backs or not node.get("link"):
        return BOX_H
    listed = min(backs, MAX_BACKS) + (1 if backs > MAX_BACKS else 0)
    return max(BOX_H, RETURN_Y + (listed + 1) * LINE + 6)


def _number(node: dict[str, Any]) -> str:
    key = node.get("business_key")
    return str(key) if key is not None else f"#{node['golden_id']}"


def _box(node: dict[str, Any], asked: int, x: int, y: int) -> Box:
    golden_id = int(node["golden_id"])
    return Box(x, y, (node.get("system") or "?").upper(), node["entity"], _number(node),
               golden_id, node.get("first_seen"), node.get("version"),
               node.get("state") or node.get("status"),
               golden_id == asked, href=record_page(node["entity"], node.get("business_key"),
                                                    golden_id))


def _command(c: dict[str, Any], origin: str, origin_id: int) -> Command:
    payload = c.get("payload")
    fields = ", ".join(f"{k} {v}" for k, v in payload.items()
                       if not isinstance(v, (list, dict))) if isinstance(payload, dict) else ""
    error = c.get("last_error") if c.get("status") != "acked" else None
    return Command(int(c["id"]), f"/api/v1/deliveries/{int(c['id'])}", str(c["hop"]),
                   str(c["operation"]), str(c["target"]), str(c["status"]), c.get("transition"),
                   c.get("actor"), c.get("fired_at"), c.get("acked_at"), c.get("ms_to_ack"),
                   c.get("target_id"), error, fields, bool(c.get("back")), origin, origin_id)
