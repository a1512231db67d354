"""The exception tree shared by every stage.

    MdmError
    ├── ConfigError        a project file is wrong: carries the path and one line per problem
    ├── TransientError     the same input may succeed later (network, lock, target 5xx): retry
    ├── TerminalError      needs a data fix or a person (target 4xx, unmappable row)
    │   └── MappingError   a change event cannot be mapped onto its entity
    └── RuntimeSetupError  the embedded PostgreSQL or JVM could not be started
"""
from __future__ import annotations

from collections.abc import Sequence


class MdmError(Exception):
    """Base of every error mdm raises on purpose."""


class ConfigError(MdmError):
    """A project file (cdc/, golden_records/, rules/) is invalid. `path` and `problems` name
    the first bad file; `entries` holds every (file, problem) when several files are wrong
    (`ConfigError.of(entries)`, what `load_project` raises after reading every file)."""

    def __init__(self, path: str, problems: Sequence[str],
                 more: Sequence[tuple[str, str]] = ()) -> None:
        self.path = path
        self.problems = list(problems)
        self.entries = [(path, p) for p in self.problems] + list(more)
        lines = "\n".join(f"  {where}: {p}" for where, p in self.entries)
        files = len({where for where, _ in self.entries})
        head = f"in {path}" if files == 1 else f"({len(self.entries)} problems in {files} files)"
        super().__init__(f"invalid configuration {head}:\n{lines}")

    @classmethod
    def of(cls, entries: Sequence[tuple[str, str]]) -> ConfigError:
        """One error for (file, problem) pairs of any number of files (at least one)."""
        path = entries[0][0]
        return cls(path, [p for where, p in entries if where == path],
                   [(where, p) for where, p in entries if where != path])


class TransientError(MdmError):
    """The operation may succeed if retried later."""


class TerminalError(MdmError):
    """Retrying the same input will not help; a person or a data fix is needed."""


class MappingError(TerminalError):
    """A change event could not be mapped onto its entity."""

    def __init__(self, table: str, row_key: str, reason: str) -> None:
        self.table = table
        self.row_key = row_key
        self.reason = reason
        super().__init__(f"cannot map row {row_key} of table {table}: {reason}")


class RuntimeSetupError(MdmError):
    """The embedded runtime (PostgreSQL, JVM) could not be prepared."""
