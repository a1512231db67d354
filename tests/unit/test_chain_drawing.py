"""The trace page's drawing laid out from a trace (mdm.api.chain_drawing): one box per
document left to right, one arrow per hop to the document it made (a dashed ghost box when it
made none), the back updates on an arrow returning to the origin, the asked-for document
marked; and the template drawing it with real text and labels for screen readers."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from mdm.api.chain_drawing import BOX_W, GAP_X, LINE, MAX_BACKS, layout, record_page, trace_page
from mdm.api.i18n import translator
from mdm.api.trace_page import SYSTEM_COLOURS
from mdm.api.web import _env

T0 = datetime(2026, 12, 2, 5, 40, tzinfo=UTC)


def _command(id_: int, hop: str, operation: str, target: str, status: str = "acked",
             back: bool = False, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "hop": hop, "version": 3, "operation": operation, "target": target,
            "status": status, "back": back, "transition": None, "actor": None,
            "fired_at": T0, "acked_at": T0 + timedelta(milliseconds=85), "ms_to_ack": 85,
            "target_id": None, "last_error": None, "payload": {}, **extra}


def _document(golden_id: int, system: str, entity: str, key: str | None,
              commands: list[dict[str, Any]], documents: list[dict[str, Any]] | None = None,
              link_command: int | None = None) -> dict[str, Any]:
    node = {"golden_id": golden_id, "entity": entity, "business_key": key, "status": "active",
            "version": 2, "system": system, "first_seen": T0, "versions": [],
            "commands": commands, "documents": documents or [], "cut": False}
    if link_command is not None:
        node["link"] = {"flow": "purchase_approval", "hop": "create_po", "command_id": link_command,
                        "linked_version": 1, "linked_at": T0}
    return node


def _approval_chain(asked: int, backs: int = 2) -> dict[str, Any]:
    create = _command(11, "purchase_approval.create_po", "create", "erp", target_id="4500000007",
                      transition="status: submitted → approved", actor="王经理")
    updates = [_command(20 + i, "purchase_approval.create_po.back", "update", "oa", back=True,
                        payload={"po_no": "4500000007", "po_status": ["已创建", "已下达供应商"][i % 2]})
               for i in range(backs)]
    order = _document(2, "erp", "purchase_order", "4500000007", updates, link_command=11)
    return {"asked": asked, "root": _document(1, "oa", "purchase_request", "PR-20261202-0001",
                                              [create], [order])}


def test_documents_go_left_to_right_and_each_hop_is_an_arrow_from_the_firing_one():
    drawing = layout(_approval_chain(asked=2))
    request, order = drawing.boxes
    assert (request.system, request.number, order.system, order.number) == (
        "OA", "PR-20261202-0001", "ERP", "4500000007")
    assert order.x == request.x + BOX_W + GAP_X and order.y == request.y
    [arrow] = drawing.arrows
    assert arrow.command is not None and arrow.command.delivery_id == 11
    assert arrow.path.startswith(f"M{request.x + BOX_W},") and arrow.path.endswith(f"H{order.x}")
    assert (arrow.command.transition, arrow.command.actor, arrow.command.ms_to_ack) == (
        "status: submitted → approved", "王经理", 85)
    assert arrow.command.href == "/api/v1/deliveries/11"
    assert [b.asked for b in drawing.boxes] == [False, True]
    assert request.href == "/records/purchase_request/PR-20261202-0001/lineage"
    assert drawing.width >= order.x + BOX_W and drawing.height >= order.y + order.h


def test_back_updates_return_to_the_origin_and_only_a_few_are_listed_on_the_drawing():
    drawing = layout(_approval_chain(asked=1, backs=MAX_BACKS + 3))
    request, order = drawing.boxes
    [back] = drawing.returns
    assert back.target == "OA" and len(back.commands) == MAX_BACKS and back.more == 3
    assert back.path.startswith(f"M{order.x},") and back.path.endswith(f"H{request.x + BOX_W}")
    assert all(c.back and c.origin == "ERP 4500000007" for c in back.commands)
    assert "po_status 已创建" in back.commands[0].fields
    assert len(drawing.commands) == 1 + MAX_BACKS + 3  # the table lists every command
    assert drawing.height > order.y + order.h  # the listed updates fit under the arrow


def test_a_dead_command_points_at_a_ghost_box_with_the_targets_error():
    dead = _command(12, "purchase_approval.create_po", "create", "erp", status="dead",
                    acked_at=None, ms_to_ack=None, last_error="HTTP 422: 会计期间 2026-12 已关账")
    drawing = layout({"asked": 1, "root": _document(1, "oa", "purchase_request", None, [dead])})
    request, ghost = drawing.boxes
    assert ghost.ghost and ghost.system == "ERP" and ghost.status == "dead"
    assert request.href == "/records/purchase_request/1/lineage?by=golden_id"  # a draft
    [arrow] = drawing.arrows
    assert arrow.command is not None and arrow.command.error == "HTTP 422: 会计期间 2026-12 已关账"


def test_a_second_made_document_goes_below_the_first():
    first = _command(11, "f.a", "create", "erp")
    second = _command(12, "f.b", "create", "wms")
    docs = [_document(2, "erp", "purchase_order", "4500000001", [], link_command=11),
            _document(3, "wms", "pre_receipt", "ASN-1", [], link_command=12)]
    drawing = layout({"asked": 3, "root": _document(1, "oa", "purchase_request", "PR-1",
                                                    [first, second], docs)})
    _, po, asn = drawing.boxes
    assert po.x == asn.x and asn.y >= po.y + po.h
    assert [a.command.delivery_id for a in drawing.arrows if a.command] == [11, 12]
    assert "V" in drawing.arrows[1].path  # the elbow down to the second row


def test_addresses_of_the_record_and_trace_pages_quote_the_key():
    assert record_page("purchase_order", "A/B 1", 5) == "/records/purchase_order/A%2FB%201/lineage"
    assert trace_page("purchase_request", "PR-1", 5) == "/trace/purchase_request/PR-1"
    assert trace_page("purchase_request", None, 5) == "/trace/purchase_request/5?by=golden_id"


def _render(chain: dict[str, Any], lang: str = "en") -> str:
    record = {"entity": "purchase_order", "business_key": "4500000007", "golden_id": 2}
    return _env.get_template("trace.html").render(
        t=translator(lang), lang=lang, who=None, csrf=None, record=record, drawing=layout(chain),
        root=chain["root"], json_href="/api/v1/trace/purchase_order/4500000007",
        colours=SYSTEM_COLOURS, line=LINE)


def test_the_template_draws_real_text_with_labels_for_screen_readers():
    html = _render(_approval_chain(asked=2))
    assert html.count('class="doc') == 2 and html.count('class="hop"') == 1
    labels = re.findall(r'aria-label="([^"]*)"', html)
    assert any(label.startswith("OA purchase_request PR-20261202-0001, since 2026-12-02 05:40:00")
               for label in labels), labels
    assert any("ERP purchase_order 4500000007" in label and "the document you asked for" in label
               for label in labels), labels
    assert any("status: submitted → approved · 王经理, acked, 85 ms" in label for label in labels)
    assert 'aria-current="true"' in html and "★ the document you asked for" in html
    assert 'href="/api/v1/deliveries/11"' in html and 'href="/api/v1/deliveries/20"' in html
    assert "↩ back to OA (2)" in html


def test_the_template_speaks_chinese():
    html = _render(_approval_chain(asked=1), "zh")
    assert "跨系统单据链" in html and "回写 OA" in html and "已确认" in html


def test_a_third_document_goes_one_column_further_and_widens_the_drawing():
    chain = _approval_chain(asked=3)
    order = chain["root"]["documents"][0]
    order["commands"].append(_command(30, "purchase_receipt.pre_receipt", "create", "wms"))
    asn = _document(3, "wms", "pre_receipt", "ASN-00000001", [])
    asn["link"] = {"flow": "purchase_receipt", "hop": "pre_receipt", "command_id": 30,
                   "linked_version": 1, "linked_at": T0}
    order["documents"].append(asn)
    drawing = layout(chain)
    request, po, receipt = drawing.boxes
    assert receipt.x == po.x + BOX_W + GAP_X and receipt.asked and receipt.system == "WMS"
    assert drawing.width == receipt.x + BOX_W + 20
    assert [a.link for a in drawing.arrows] == ["purchase_approval.create_po",
                                                "purchase_receipt.pre_receipt"]
    assert [r.target for r in drawing.returns] == ["OA"]  # the receipt sent nothing back
    # read in chain order: a document, the hop out of it, the one it made, what that sent back
    assert [item.kind for item in drawing.items] == ["box", "arrow", "box", "return", "arrow",
                                                     "box"]
