"""`mdm check --explain`: the Debezium properties the hub derives for each source (every
connector, through SOURCE_KINDS), secrets masked; and `mdm check`'s checks of what a
connector needs beyond the schema (its URL's form, Db2's driver jar).

A `${VAR}` that is not set is shown as written, never a failure: the properties are derived
with the reference standing in for its value.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mdm.capture.other_connectors import check_driver
from mdm.capture.registry import source_kind
from mdm.config.loader import Project, expand_env
from mdm.config.sources import SourceSpec
from mdm.config.urls import redact
from mdm.errors import ConfigError

_REFERENCE = re.compile(r"\$\{([^}]+)\}")
_SECRET_KEY = re.compile(r"password|secret|token|credential|passphrase", re.I)
MASK = "********"
EMBEDDED_HUB = "postgresql://mdm@127.0.0.1:5432/mdm"  # the embedded hub's (port set at start)


@dataclass(frozen=True)
class Explained:
    """One source's derived properties (masked), or why they could not be derived."""

    source: str
    connector: str
    properties: dict[str, str]
    problem: str | None = None
    unset: tuple[str, ...] = ()


def mask(key: str, value: str) -> str:
    """A property's value fit to print: secrets masked, URLs' passwords redacted."""
    if _SECRET_KEY.search(key):
        return MASK if value else value
    return redact(value) if "://" in value else value


def _unset(*texts: str) -> list[str]:
    names = []
    for text in texts:
        for name in _REFERENCE.findall(text):
            if name.startswith("file:") or name in names:
                continue
            try:
                expand_env("${" + name + "}", "")
            except ConfigError:
                names.append(name)
    return names


@contextmanager
def _standing_in(names: list[str]) -> Iterator[None]:
    """Each unset variable holds its own reference (`${NAME}`) while the properties are
    derived; the environment is as it was afterwards."""
    for name in names:
        os.environ[name] = "${" + name + "}"
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)


_STAND_IN = {"user": "mdm-unset-user", "host": "mdm-unset-host", "port": "1",
             "database": "mdm-unset-db"}
_SCHEMES = {"postgresql": "postgresql", "sqlserver": "sqlserver", "oracle": "oracle",
            "db2": "db2", "mysql": "mysql", "mariadb": "mariadb"}


def _whole_url_stand_in(spec: SourceSpec, unset: list[str]) -> SourceSpec | None:
    """A copy of `spec` whose URL, one unset `${VAR}` as a whole, is a URL of the connector's
    form made of stand-ins (put back as `${VAR}` in the derived properties)."""
    match = _REFERENCE.fullmatch(spec.url.strip())
    if match is None or match.group(1) not in unset:
        return None
    s = _STAND_IN
    url = f"{_SCHEMES.get(spec.connector, spec.connector)}://{s['user']}@{s['host']}:{s['port']}/{s['database']}"
    return spec.model_copy(update={"url": url})


def _put_back(props: dict[str, str], reference: str) -> dict[str, str]:
    stand_ins = {v for k, v in _STAND_IN.items() if k != "port"}
    return {k: reference if v in stand_ins or (k == "database.port" and v == _STAND_IN["port"])
            else v for k, v in props.items()}


def explain_source(spec: SourceSpec, tables: list[str], hub_url: str) -> Explained:
    texts = [spec.url, hub_url] + ([spec.db2.driver_jar] if spec.db2 else [])
    unset = _unset(*texts)
    whole = _whole_url_stand_in(spec, unset)
    try:
        with _standing_in(unset):
            props = source_kind(spec).engine_properties(whole or spec, tables, hub_url)
    except ConfigError as exc:
        return Explained(spec.name, spec.connector, {}, "; ".join(exc.problems), tuple(unset))
    if whole is not None:
        props = _put_back(props, spec.url.strip())
    return Explained(spec.name, spec.connector, {k: mask(k, v) for k, v in props.items()},
                     None, tuple(unset))


def explain(project: Project, hub_url: str | None) -> list[Explained]:
    """Every Debezium source's properties, in the order of cdc/ (tables: those capture reads)."""
    hub = hub_url or EMBEDDED_HUB
    return [explain_source(spec, project.captured_tables(name), hub)
            for name, spec in project.sources.items()]


def connector_problems(project: Project) -> list[tuple[str, str]]:
    """(file, problem) for what each source's connector needs beyond the schema: a URL of
    the connector's form (when its ${VAR}s are set) and, for Db2, IBM's driver jar."""
    problems: list[tuple[str, str]] = []
    for name, spec in project.sources.items():
        where = f"cdc/{name}.yaml"
        if spec.connector == "postgresql":
            continue  # checked when capture starts, as before (its URL may be a libpq one)
        if not _unset(spec.url):
            try:
                source_kind(spec).check_url(expand_env(spec.url, where), where)
            except ConfigError as exc:
                problems += [(where, p) for p in exc.problems]
        problems += [(where, p) for p in check_driver(spec)]
    return problems
