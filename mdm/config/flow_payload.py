"""Making a flow command's payload from a version (flows/*.yaml mappings): fields, value maps,
constants, references rendered, child rows filtered; a hop's `if:`; the bodies of a command of
several calls. Pure functions over the schemas of flows.py."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mdm.config.flows import TEMPLATE, CommandMapping, Constant, FieldSource, Guard
from mdm.config.references import Rendered
from mdm.config.row_match import matches
from mdm.model.references import ReferencedRecord, field_path, listed_slot, render_field

if TYPE_CHECKING:
    from mdm.config.models import EntitySpec


class UnmappedValue(ValueError):
    """A value map (`{from: …, map: …}`) lacks the version's value and has no default."""


def command_payload(mapping: CommandMapping, attributes: Mapping[str, Any],
                    referenced: Mapping[str, ReferencedRecord] | None = None,
                    target: str | None = None) -> dict[str, Any]:
    """What a command writes: each field from the version's attributes (a reference's record
    rendered as a target mapping renders it, from `referenced`; a child list's rows by the
    list's own fields, only those its `where:` keeps), through value maps and constants.
    Raises UnmappedValue naming the field and the value a map lacks: the command is refused,
    never sent with a guess."""
    found = referenced or {}
    payload = {}
    for field, source in mapping.fields.items():
        if isinstance(source, str) and source in mapping.children:
            rows = mapping.children[source]
            payload[field] = [_row(rows.fields, row, f"{field}[{n}]", found, target, source)
                              for n, row in enumerate(attributes.get(source) or [])
                              if rows.row_filter is None or matches(rows.row_filter, row)]
        else:
            payload[field] = _value(source, attributes, field, found, target, ())
    return payload


def _row(fields: Mapping[str, FieldSource], row: Mapping[str, Any], at: str,
         referenced: Mapping[str, ReferencedRecord], target: str | None,
         path: str) -> dict[str, Any]:
    return {field: _value(source, row, f"{at}.{field}", referenced, target, (path,))
            for field, source in fields.items()}


def _value(source: FieldSource, attributes: Mapping[str, Any], field: str,
           referenced: Mapping[str, ReferencedRecord], target: str | None,
           path: tuple[str, ...]) -> Any:
    if isinstance(source, Constant):
        return source.value
    if isinstance(source, str):
        if "." not in source:
            return attributes.get(source)
        fp = field_path(source)
        slot = listed_slot(path, fp.attribute, attributes.get(fp.attribute)) if path \
            else fp.attribute
        record = referenced.get(slot)
        return render_field(fp, attributes, {fp.attribute: record} if record else {}, target)
    value = attributes.get(source.from_)
    text = "" if value is None else str(value)
    if text in source.map:
        return source.map[text]
    if source.has_default:
        return source.default
    known = ", ".join(sorted(source.map))
    raise UnmappedValue(f"{field}: the value map of {source.from_} has no entry for {value!r} "
                        f"(known: {known}); add it to the flow's file or give it a default")


def changed_fields(payload: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `payload` whose value differs from `sent` (what the target holds from the
    last acknowledged update); all of them when none differs — a repeat, never an empty one."""
    changed = {k: v for k, v in payload.items() if k not in sent or sent[k] != v}
    return changed or dict(payload)


def guard_holds(guard: Guard | None, attributes: Mapping[str, Any]) -> bool:
    """Whether the hop's `if:` holds for the version (no guard: it does)."""
    if guard is None:
        return True
    if guard.any is None:
        return matches(guard.row_filter, attributes)
    return any(matches(guard.row_filter, row) for row in attributes.get(guard.any) or ()
               if isinstance(row, Mapping))


def command_references(spec: EntitySpec, mapping: CommandMapping) -> list[Rendered]:
    """The references whose record a command's mapping renders (`supplier.code`, a line's
    `material.code`): loaded with the command when it is claimed."""
    found: set[Rendered] = set()
    for path, attributes, fields in _mapped(spec, mapping):
        for source in fields.values():
            if isinstance(source, str) and "." in source:
                attribute = attributes.get(field_path(source).attribute)
                if attribute is not None and attribute.references is not None:
                    found.add(Rendered(path, field_path(source).attribute,
                                       attribute.references.entity))
    return sorted(found, key=lambda r: (r.path, r.attribute))


def _mapped(spec: EntitySpec, mapping: CommandMapping) -> list[tuple[tuple[str, ...], Any, Any]]:
    found: list[tuple[tuple[str, ...], Any, Any]] = [((), spec.attributes, mapping.fields)]
    for name, rows in mapping.children.items():
        if name in spec.children:
            found.append(((name,), spec.children[name].attributes, rows.fields))
    return found


def fill(template: Any, answers: Mapping[str, Any], payload: Any = None) -> Any:
    """A step's body: "{payload}" is the hop's mapped fields, "{step.field}" strings take that
    step's answer's field (a whole-string placeholder keeps the value's type)."""
    if isinstance(template, dict):
        return {k: fill(v, answers, payload) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, answers, payload) for v in template]
    if not isinstance(template, str):
        return template
    if template == "{payload}":
        return payload
    whole = TEMPLATE.fullmatch(template)
    if whole:
        return answer_at(answers.get(whole.group(1)), whole.group(2))
    return TEMPLATE.sub(lambda m: str(answer_at(answers.get(m.group(1)), m.group(2))), template)


def answer_at(answer: Any, path: str) -> Any:
    """The value at a dotted path of a JSON answer (None where it has none)."""
    for part in path.split("."):
        if not isinstance(answer, dict):
            return None
        answer = answer.get(part)
    return answer
