"""Cross-file checks of the roles a source plays, decided per table: system of record of the
entities that name it (golden_records/ `source:`), observer of a target's copies (its own
`observes:` and `tables:`); one database may be both, through one slot and one publication.

The deprecated `authority:` key of cdc/*.yaml is still read: where it agrees with the tables
it gives a note (remove it), where it contradicts them a problem saying what to change.
"""
from __future__ import annotations

from collections.abc import Mapping

from mdm.config.models import EntitySpec
from mdm.config.project_checks import Findings
from mdm.config.sources import SourceSpec

AUTHORITY_NOTE = "authority: is no longer needed: the role is decided per table; remove it"


def check_roles(sources: Mapping[str, SourceSpec], entities: Mapping[str, EntitySpec],
                found: Findings) -> list[tuple[str, str]]:
    """Add each source's role problems to `found`; return the notes as (file, `key: …`)."""
    notes: list[tuple[str, str]] = []
    for name, source in sources.items():
        where = found.file_of("cdc", name)
        of_record = [e for e in entities.values() if e.source == name]
        problems = [*_authority_problems(name, source, of_record, found),
                    *_write_method_problems(name, source, of_record, found),
                    *_tables_of_both_roles(name, source, of_record, found)]
        found.add(where, problems)
        if source.authority is not None and not problems:
            notes.append((where, AUTHORITY_NOTE))
    return notes


def _authority_problems(name: str, source: SourceSpec, of_record: list[EntitySpec],
                        found: Findings) -> list[str]:
    """authority: observed where an entity takes this source as its system of record.
    (authority against the file's own `tables:`: the model's validator.)"""
    if source.authority != "observed" or not of_record:
        return []
    files = ", ".join(found.file_of("golden_records", e.entity) for e in of_record)
    return [f"authority: 'observed' contradicts {files} (source: {name}), which take {name} "
            f"as their system of record: remove `authority:` from this file (the role is "
            f"decided per table: its `tables:` stay observed copies), or name another source "
            f"there"]


def _write_method_problems(name: str, source: SourceSpec, of_record: list[EntitySpec],
                           found: Findings) -> list[str]:
    if source.write_method == "none" or of_record or found.unreadable.get("golden_records"):
        return []  # (an unreadable entity file may name this source: its problems come first)
    return [f"write_method: change requests are written to a system of record only, and no "
            f"entity in golden_records/ has source: {name}; remove write_method (or set it to "
            f"none)"]


def _tables_of_both_roles(name: str, source: SourceSpec, of_record: list[EntitySpec],
                          found: Findings) -> list[str]:
    """A table is either of record or an observed copy, never both."""
    record_tables = {t: e for e in of_record for t in e.tables}
    problems = []
    for table in source.tables:
        entity = record_tables.get(table)
        if entity is not None:
            problems.append(f"tables.{table}: is also a table of record of {entity.entity} "
                            f"({found.file_of('golden_records', entity.entity)}, source: {name})"
                            f"; a table is either of record or an observed copy")
    return problems
