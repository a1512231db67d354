"""The one loader of a project folder: cdc/, golden_records/, targets/, rules/ (YAML) →
validated specs (cross-file checks: config/project_checks.py).

Every problem is reported as `file: key.path: what was expected`, never as a traceback, and
all of them at once: every file is read even after a bad one.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mdm.config.models import EntitySpec
from mdm.config.project_checks import (
    Findings,
    attach_mappings,
    check_entity_references,
    check_observed,
    check_rules,
    check_tables_unique,
)
from mdm.config.reference_checks import check_divergence_fields, check_references
from mdm.config.role_checks import check_roles
from mdm.config.flow_checks import check_flows
from mdm.config.flows import FlowSpec, Hop, hop_id
from mdm.config.reconcile import ReconciliationSpec, check_reconciliations
from mdm.config.rules import RuleFile
from mdm.config.feed_checks import check_feeds
from mdm.config.feeds import FeedSpec, cdc_model
from mdm.config.sources import ObservedTable, SourceSpec
from mdm.config.targets import AnyTarget, TargetSpec
from mdm.config.yaml_files import parse_file, read_yaml
from mdm.errors import ConfigError

logger = logging.getLogger(__name__)
M = TypeVar("M")
ENV_PATTERN = re.compile(r"\$\{(file:[^}]+|[A-Za-z_][A-Za-z0-9_]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PROJECT_FOLDERS = ("cdc", "golden_records", "targets", "rules", "flows", "reconciliations")


@dataclass(frozen=True)
class Project:
    root: Path
    sources: dict[str, SourceSpec] = field(default_factory=dict)  # databases (Debezium)
    feeds: dict[str, FeedSpec] = field(default_factory=dict)  # webhooks, polls, queues
    entities: dict[str, EntitySpec] = field(default_factory=dict)
    targets: dict[str, AnyTarget] = field(default_factory=dict)
    rules: dict[str, RuleFile] = field(default_factory=dict)
    flows: dict[str, FlowSpec] = field(default_factory=dict)
    reconciliations: dict[str, ReconciliationSpec] = field(default_factory=dict)
    notes: tuple[tuple[str, str], ...] = ()  # (file, `key: …`): deprecations, not problems

    def entity_for_table(self, source: str, table: str) -> EntitySpec | None:
        return self._table_index().get((source, table))

    def _table_index(self) -> dict[tuple[str, str], EntitySpec]:
        index: dict[tuple[str, str], EntitySpec] = {}
        for spec in self.entities.values():
            for table in spec.tables:
                index[(spec.source, table)] = spec
        return index

    @property
    def systems_read(self) -> list[str]:
        """Every source the hub reads: captured databases, then feeds."""
        return [*self.sources, *self.feeds]

    def entities_of_record(self, source: str) -> list[str]:
        """The entities whose system of record `source` is (their `source:`), referenced first."""
        return [e for e in self.entity_order() if self.entities[e].source == source]

    def hops_from(self, entity: str) -> list[tuple[str, Hop]]:
        """(flow, hop) of every hop watching `entity`'s versions."""
        return [(f.flow, h) for f in self.flows.values() for h in f.hops if h.from_ == entity]

    def backs_of(self, entity: str) -> list[tuple[str, Hop]]:
        """(flow, hop) of every hop whose created documents are `entity`'s and return fields
        to their origin (`back:`)."""
        return [(f.flow, h) for f in self.flows.values() for h in f.hops
                if h.link is not None and h.link.entity == entity and h.back is not None]

    def command_of(self, hop: str) -> tuple[Hop, bool]:
        """The hop a command's delivery names (flow.hop, or flow.hop.back: True)."""
        for flow in self.flows.values():
            for h in flow.hops:
                if hop_id(flow.flow, h.name) == hop:
                    return h, False
                if hop_id(flow.flow, h.name, back=True) == hop:
                    return h, True
        raise KeyError(f"no hop {hop} in flows/")

    def observed_tables(self, source: str) -> dict[str, ObservedTable]:
        """schema.table → the observed copy `source` holds there (its `tables:`)."""
        spec = self.sources.get(source)
        return dict(spec.tables) if spec is not None else {}

    def captured_tables(self, source: str) -> list[str]:
        """Every table of the source's one slot and publication: the tables of the entities of
        record, child tables first (Debezium snapshots tables in this order, so a parent's
        children are mirrored before the parent row arrives and the first version is whole),
        then the observed copies."""
        children, mains = [], []
        for spec in self.entities.values():
            if spec.source == source:
                children += [c.spec.table for c in spec.child_tables]
        mains = [self.entities[e].table for e in self.entities_of_record(source)]
        return sorted(children) + mains + sorted(self.observed_tables(source))

    def entity_order(self) -> list[str]:
        """Entities with the ones that rules reference first (suppliers before the materials
        that name them), so that an initial snapshot does not judge a reference before the
        record it points to exists."""
        import networkx as nx

        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(self.entities)
        for entity, rules in self.rules.items():
            for check in rules.checks:
                if check.references and check.references != entity:
                    graph.add_edge(check.references, entity)
        for entity, spec in self.entities.items():  # and what reference attributes point at
            for reference in spec.references.values():
                if reference.entity != entity and reference.entity in self.entities:
                    graph.add_edge(reference.entity, entity)
        try:
            return list(nx.lexicographical_topological_sort(graph))
        except nx.NetworkXUnfeasible:  # references in a circle: no order helps
            return sorted(self.entities)


def expand_env(value: str, where: str) -> str:
    """Replace ${VAR} with the environment's value (or, if unset, the value in the secrets file
    named by $MDM_SECRETS_FILE) and ${file:/path} with that file's content (a mounted secret).
    Anything missing is a ConfigError naming the variable or file, never its value."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("file:"):
            path = Path(name[5:]).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(where, [f"secret file {path} cannot be read ({exc.strerror})"]) from exc
        if name in os.environ:
            return os.environ[name]
        secrets = _secrets_file()
        if name in secrets:
            return secrets[name]
        hint = f" (nor in {os.environ['MDM_SECRETS_FILE']})" if "MDM_SECRETS_FILE" in os.environ else ""
        raise ConfigError(where, [f"environment variable {name} is not set{hint}"])

    return ENV_PATTERN.sub(substitute, value)


def _secrets_file() -> dict[str, str]:
    """NAME=value lines of $MDM_SECRETS_FILE (blank lines and # comments ignored)."""
    path = os.environ.get("MDM_SECRETS_FILE")
    if not path:
        return {}
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"MDM_SECRETS_FILE cannot be read ({exc.strerror})"]) from exc
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not ENV_NAME.fullmatch(name.strip()):
            raise ConfigError(path, [f"line {number}: expected NAME=value"])
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _files(root: Path, folder: str) -> list[Path]:
    base = root / folder
    return sorted([*base.glob("*.yaml"), *base.glob("*.yml")]) if base.is_dir() else []


def load_project(root: Path) -> Project:
    """Load and validate every project file under `root`. Every problem of every file and every
    cross-file problem (an entity naming an unknown source …) is raised at once, as one
    ConfigError whose `entries` list each (file, problem)."""
    project, problems = read_project(root)
    if problems:
        raise ConfigError.of(problems)
    for file, note in project.notes:
        logger.warning("%s: %s", file, note)
    return project


def read_project(root: Path) -> tuple[Project, list[tuple[str, str]]]:
    """Read and check every project file; return what loaded and every problem as (file,
    `key.path: what was expected`). With problems, the project lacks what the bad files
    declare: use it for further checks only (`mdm check`), never to run the hub."""
    root = root.resolve()
    if not any((root / f).is_dir() for f in PROJECT_FOLDERS):
        raise ConfigError(str(root), [f"not a project folder: none of {', '.join(PROJECT_FOLDERS)}/ found "
                                      "(run 'mdm init DIR' to create one)"])
    found = Findings()
    in_cdc: dict[str, SourceSpec | FeedSpec] = _read_folder(root, "cdc", cdc_model, "name", found)
    sources = {n: s for n, s in in_cdc.items() if isinstance(s, SourceSpec)}
    feeds = {n: s for n, s in in_cdc.items() if not isinstance(s, SourceSpec)}
    targets: dict[str, AnyTarget] = _read_folder(root, "targets", TargetSpec, "name", found)
    entities: dict[str, EntitySpec] = _read_folder(root, "golden_records", EntitySpec,
                                                   "entity", found)
    for entity in entities.values():
        check_entity_references(entity, in_cdc, targets, found)
    entities = attach_mappings(entities, targets, found)
    rule_files: dict[str, RuleFile] = _read_folder(root, "rules", RuleFile, "entity", found)
    rules = check_rules(rule_files, entities, found)
    check_observed(sources, entities, targets, found)
    notes = check_roles(sources, entities, found)
    check_tables_unique(entities, found)
    check_references(entities, targets, found)
    check_divergence_fields(rules, entities, found)
    if not found.unreadable.get("golden_records"):  # a bad entity file may be a feed's
        found.problems += check_feeds(feeds, entities, {n: found.file_of("cdc", n) for n in feeds})
    flows: dict[str, FlowSpec] = _read_folder(root, "flows", FlowSpec, "flow", found)
    found.problems += check_flows(
        flows, entities, targets, {n: found.file_of("flows", n) for n in flows},
        found.unreadable.get("golden_records", set()) | found.unreadable.get("targets", set()))
    reconciliations: dict[str, ReconciliationSpec] = _read_folder(
        root, "reconciliations", ReconciliationSpec, "reconciliation", found)
    found.problems += check_reconciliations(
        reconciliations, entities, {n: found.file_of("reconciliations", n) for n in reconciliations})
    project = Project(root=root, sources=sources, feeds=feeds, entities=entities,
                      targets=targets, rules=rules,
                      flows=flows, reconciliations=reconciliations, notes=tuple(notes))
    return project, found.problems


def _read_folder(root: Path, folder: str, model: Any, key: str, found: Findings) -> dict[str, Any]:
    """The specs of folder/*.yaml by their `key` (name or entity); a bad file's problems go to
    `found`, and the name it was meant to declare to `found.unreadable`."""
    specs: dict[str, Any] = {}
    for path in _files(root, folder):
        display = _rel(root, path)
        try:
            spec = parse_file(path, display, model)
        except ConfigError as exc:
            found.add_error(exc)
            found.unreadable.setdefault(folder, set()).add(_meant_name(path, display, key))
            continue
        name = getattr(spec, key)
        if name in specs:
            found.add(display, [f"{key}: '{name}' is declared in two files "
                                f"({found.file_of(folder, name)} and this one)"])
            continue
        specs[name] = spec
        found.files[(folder, name)] = display
    return specs


def _meant_name(path: Path, display: str, key: str) -> str:
    """The name a file that failed validation declares (its `key`, else its file name)."""
    try:
        value = read_yaml(path, display).get(key)
    except ConfigError:
        value = None
    return value if isinstance(value, str) else path.stem


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
