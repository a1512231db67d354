"""The exception tree shared by every stage.

    MdmError
    ├── ConfigError        a project file is wrong: carries the path and one line per problem
    ├── TransientError     the same input may succeed later (network, lock, target 5xx): retry
    │   └── TargetUnavailable   a target cannot take a delivery now (unreachable, timeout, 5xx,
    │                           408/425/429, a broker returning it): carries target, status, reason
    ├── TerminalError      needs a data fix or a person (target 4xx, unmappable row)
    │   ├── MappingError        a change event cannot be mapped: carries table, row key, reason
    │   ├── WriteBackError      a target's answer holds an owned value its attribute cannot take:
    │   │                       carries target, entity, business key, golden id, attribute, reason
    │   ├── TargetRefused       a target refuses a delivery for its data (4xx, a constraint, a
    │   │                       message too large): carries target, status, reason
    │   └── UnrecordableAnswer  a target took a delivery, but the hub cannot store its answer
    ├── RuntimeSetupError  the embedded PostgreSQL or JVM could not be started
    └── RequestError       a use case refuses a request as asked; nothing was changed (4xx)
        ├── NotFound           what was asked for is not there: carries kind and identifier
        ├── Conflict           the current state does not allow it (already done, moved on,
        │   │                  key held by another record)
        │   └── AlreadyExists  one of that kind with that identifier exists already
        ├── InvalidRequest     the request cannot be done as asked (carries the field, if one)
        │   └── InvalidParameter  a parameter's value is not valid (names the field)
        ├── Unauthorized       not signed in, or the credentials are not valid
        └── Forbidden          signed in, but this caller may not do it

The API answers a RequestError with the status of its class (mdm/api/errors.py: 404, 409,
400, 422, 401, 403) and `{"detail": message}`; TransientError is 503 with Retry-After.
Retrying code branches on TransientError vs TerminalError, never on message text: each target
kind (mdm/propagate/) translates its library's failures into TargetUnavailable or TargetRefused,
and mdm/propagate/base.py's `failed` makes the delivery's outcome from the class.
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


class TargetUnavailable(TransientError):
    """Target `target` could not take a delivery now: unreachable, timed out, an answer that
    says "later" (HTTP 5xx, 408, 425, 429; `status_code`) or that cannot be read, a broker that
    returned the message. The delivery stays queued and is retried with backoff. The message is
    `reason` (what was tried and what happened, with the target's redacted address)."""

    def __init__(self, target: str, reason: str, status_code: int | None = None) -> None:
        self.target = target
        self.reason = reason
        self.status_code = status_code
        super().__init__(reason)


class TargetRefused(TerminalError):
    """Target `target` refused a delivery for what it holds: HTTP 4xx (`status_code`), a
    constraint or a value its table does not take, a message larger than the broker takes.
    Sending the same again will not help: the delivery is dead, with a task for a steward."""

    def __init__(self, target: str, reason: str, status_code: int | None = None) -> None:
        self.target = target
        self.reason = reason
        self.status_code = status_code
        super().__init__(reason)


class UnrecordableAnswer(TerminalError):
    """Target `target` answered a delivery with something the hub's database cannot store
    (`problem`: a NUL character, a number PostgreSQL cannot keep, a refused row)."""

    def __init__(self, target: str, problem: str) -> None:
        self.target = target
        self.problem = problem
        super().__init__(problem)


class MappingError(TerminalError):
    """A change event could not be mapped onto its entity."""

    def __init__(self, table: str, row_key: str, reason: str) -> None:
        self.table = table
        self.row_key = row_key
        self.reason = reason
        super().__init__(f"cannot map row {row_key} of table {table}: {reason}")


class WriteBackError(TerminalError):
    """A value target `target` answered for an attribute it owns (`write_back:`) does not fit
    the attribute's type; the answer is kept as a failed inbox row with this message."""

    def __init__(self, target: str, entity: str, business_key: str | None,
                 golden_id: int | None, attribute: str, reason: str) -> None:
        self.target = target
        self.entity = entity
        self.business_key = business_key  # None: a draft
        self.golden_id = golden_id
        self.attribute = attribute
        self.reason = reason
        super().__init__(f"write-back from {target}: {entity} {business_key or '(draft)'} "
                         f"(golden id {golden_id}), attribute {attribute}: {reason}")


class RuntimeSetupError(MdmError):
    """The embedded runtime (PostgreSQL, JVM) could not be prepared."""


class RequestError(MdmError):
    """A use case refuses the request as asked; nothing was changed. `field` names the input
    at fault, when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotFound(RequestError):
    """No `kind` (task, delivery, user, token, entity, record, version …) is known by
    `identifier`. The message says so, or is `message` when that says more (what is known)."""

    def __init__(self, kind: str, identifier: object, message: str | None = None) -> None:
        self.kind = kind
        self.identifier = identifier
        super().__init__(message or f"no {kind} {identifier!r}")


class Conflict(RequestError):
    """The current state of `kind` `identifier` does not allow it: it is already done, a newer
    version moved on, another record holds the key. Retrying the same request will not help."""

    def __init__(self, message: str, kind: str | None = None, identifier: object = None) -> None:
        self.kind = kind
        self.identifier = identifier
        super().__init__(message)


class AlreadyExists(Conflict):
    """A `kind` with `identifier` exists already."""

    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier!r} already exists", kind, identifier)


class InvalidRequest(RequestError):
    """The request cannot be done as asked (a missing reason, an action the task does not
    allow, a value the attribute cannot take); `field` names the input at fault, if one."""


class InvalidParameter(InvalidRequest):
    """A parameter's value is not valid in itself (a time without a UTC offset, an unknown
    source name): the same as a request that fails its schema."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class Unauthorized(RequestError):
    """Not signed in, or the credentials are not (any more) valid."""


class Forbidden(RequestError):
    """Signed in, but this caller may not do this (role, CSRF token, deciding as another)."""
