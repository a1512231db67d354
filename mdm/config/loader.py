"""The one loader of a project folder: cdc/, golden_records/, targets/ (YAML) → validated specs.

Every problem is reported as `file: key.path: what was expected`, never as a traceback.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from mdm.config.models import EntitySpec, SourceSpec
from mdm.config.rule_checks import check_observed_sources, check_rule_file
from mdm.config.rules import RuleFile
from mdm.config.targets import KIND_KEYS, AnyTarget, TargetMapping, TargetSpec
from mdm.errors import ConfigError

M = TypeVar("M")
ENV_PATTERN = re.compile(r"\$\{(file:[^}]+|[A-Za-z_][A-Za-z0-9_]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PROJECT_FOLDERS = ("cdc", "golden_records", "targets", "rules")


@dataclass(frozen=True)
class Project:
    root: Path
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    entities: dict[str, EntitySpec] = field(default_factory=dict)
    targets: dict[str, AnyTarget] = field(default_factory=dict)
    rules: dict[str, RuleFile] = field(default_factory=dict)

    def entity_for_table(self, source: str, table: str) -> EntitySpec | None:
        return self._table_index().get((source, table))

    def _table_index(self) -> dict[tuple[str, str], EntitySpec]:
        index: dict[tuple[str, str], EntitySpec] = {}
        for spec in self.entities.values():
            for table in spec.tables:
                index[(spec.source, table)] = spec
        return index

    def captured_tables(self, source: str) -> list[str]:
        """Child tables first: Debezium snapshots tables in this order, so a parent's children
        are mirrored before the parent row arrives and the first version is whole."""
        children, mains = [], []
        spec_of_source = self.sources.get(source)
        if spec_of_source is not None and spec_of_source.authority == "observed":
            return sorted(spec_of_source.tables)
        for spec in self.entities.values():
            if spec.source == source:
                children += [c.table for c in spec.children.values()]
        mains = [self.entities[e].table for e in self.entity_order()
                 if self.entities[e].source == source]
        return sorted(children) + mains

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


def _format_error(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (not allowed here)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "invalid_key" and isinstance(error.get("input"), bool):
        message = ("a key reads as a boolean: YAML takes on/off/yes/no as true/false; "
                   "quote it or use another name")
    got = error.get("input")
    suffix = f" (got {got!r})" if error["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict) else ""
    return f"{location}: {message}{suffix}"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, display: str) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(display, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(display, [f"not UTF-8 text (byte {exc.start}: {exc.reason})"]) from exc
    except RecursionError as exc:
        raise ConfigError(display, ["not valid YAML (nested too deeply)"]) from exc
    except Exception as exc:  # noqa: BLE001 — PyYAML's constructors raise ValueError,
        # TypeError, KeyError … for values it parsed but cannot build (a 2026-02-30 date,
        # `!!int x`, a list as a mapping key): the file is wrong, not the loader.
        raise ConfigError(display, [f"not valid YAML ({type(exc).__name__}: {exc})"]) from exc
    if _is_cyclic(data):
        raise ConfigError(display, ["an alias refers to the mapping or list that contains it "
                                    "(a cycle); write the value out"])
    if not isinstance(data, dict):
        raise ConfigError(display, ["expected a mapping of keys at the top level"])
    return data


def _is_cyclic(data: Any) -> bool:
    """Whether YAML aliases made a container hold itself (`&x [*x]`): validation would recurse."""
    on_path: set[int] = set()

    def visit(node: Any) -> bool:
        if not isinstance(node, dict | list):
            return False
        if id(node) in on_path:
            return True
        on_path.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        found = any(visit(child) for child in children)
        on_path.discard(id(node))
        return found

    try:
        return visit(data)
    except RecursionError:  # nested deeper than Python recurses: as bad as a cycle
        return True


def _parse(path: Path, display: str, model: Any) -> Any:
    data = _read_yaml(path, display)
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(display, [_format_error(e) for e in exc.errors()]) from exc


def _files(root: Path, folder: str) -> list[Path]:
    base = root / folder
    return sorted([*base.glob("*.yaml"), *base.glob("*.yml")]) if base.is_dir() else []


def load_project(root: Path) -> Project:
    """Load and validate every project file under `root`; raise ConfigError on the first bad file."""
    root = root.resolve()
    if not any((root / f).is_dir() for f in PROJECT_FOLDERS):
        raise ConfigError(str(root), [f"not a project folder: none of {', '.join(PROJECT_FOLDERS)}/ found "
                                      "(run 'mdm init DIR' to create one)"])
    sources: dict[str, SourceSpec] = {}
    entities: dict[str, EntitySpec] = {}
    targets: dict[str, AnyTarget] = {}
    for path in _files(root, "cdc"):
        spec = _parse(path, _rel(root, path), SourceSpec)
        _unique(sources, spec.name, path, root, "name")
        sources[spec.name] = spec
    for path in _files(root, "targets"):
        target = _parse(path, _rel(root, path), TargetSpec)
        _unique(targets, target.name, path, root, "name")
        targets[target.name] = target
    for path in _files(root, "golden_records"):
        entity = _parse(path, _rel(root, path), EntitySpec)
        _unique(entities, entity.entity, path, root, "entity")
        _check_references(entity, sources, targets, _rel(root, path))
        entities[entity.entity] = entity
    entities = _attach_mappings(entities, targets)
    rules: dict[str, RuleFile] = {}
    for path in _files(root, "rules"):
        rule_file = _parse(path, _rel(root, path), RuleFile)
        _unique(rules, rule_file.entity, path, root, "entity")
        problems = check_rule_file(rule_file, entities)
        if problems:
            raise ConfigError(_rel(root, path), problems)
        rules[rule_file.entity] = rule_file
    for name, source in sources.items():
        problems = check_observed_sources(source, entities, targets)
        if problems:
            raise ConfigError(f"cdc/{name}.yaml", problems)
    project = Project(root=root, sources=sources, entities=entities, targets=targets, rules=rules)
    _check_tables_unique(project)
    return project


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _unique(seen: dict[str, Any], name: str, path: Path, root: Path, key: str) -> None:
    if name in seen:
        raise ConfigError(_rel(root, path), [f"{key}: '{name}' is declared in two files"])


def _check_references(entity: EntitySpec, sources: dict[str, SourceSpec],
                      targets: dict[str, AnyTarget], display: str) -> None:
    problems = []
    if entity.source not in sources:
        problems.append(f"source: '{entity.source}' is not a source in cdc/ "
                        f"(known: {', '.join(sorted(sources)) or 'none'})")
    for name in entity.targets:
        if name not in targets:
            problems.append(f"targets.{name}: not a target in targets/ "
                            f"(known: {', '.join(sorted(targets)) or 'none'})")
    if problems:
        raise ConfigError(display, problems)


def _attach_mappings(entities: dict[str, EntitySpec],
                     targets: dict[str, AnyTarget]) -> dict[str, EntitySpec]:
    """Merge mappings declared in target files into their entities, fill `fields` left empty
    (every attribute under its own name) and check the keys each target kind needs."""
    for name, spec in entities.items():
        for attr, owner in spec.owned.items():
            if owner not in targets:
                raise ConfigError(f"golden_records/{name}.yaml", [
                    f"attributes.{attr}.owner: '{owner}' is not a target in targets/"])
    merged: dict[str, EntitySpec] = {}
    for name, spec in entities.items():
        mappings = dict(spec.targets)
        for target in targets.values():
            if name in target.entities:
                if target.name in mappings:
                    raise ConfigError(f"targets/{target.name}.yaml", [
                        f"entities.{name}: already mapped in golden_records/{name}.yaml "
                        f"(targets.{target.name}); declare it in one place"])
                mappings[target.name] = target.entities[name]
        for target_name, mapping in list(mappings.items()):
            where, key = ((f"targets/{target_name}.yaml", f"entities.{name}")
                          if target_name not in spec.targets
                          else (f"golden_records/{name}.yaml", f"targets.{target_name}"))
            problem = (spec.mapping_problem(mapping)
                       or _kind_problem(targets[target_name], mapping, spec))
            if problem:
                raise ConfigError(where, [f"{key}.{problem}"])
            if not mapping.fields:
                mappings[target_name] = mapping.model_copy(update={"fields": {
                    n: n for n in [*spec.attributes, *spec.children]}})
        merged[name] = spec.model_copy(update={"targets": mappings})
    for target in targets.values():
        for name in target.entities:
            if name not in entities:
                raise ConfigError(f"targets/{target.name}.yaml", [
                    f"entities.{name}: not an entity in golden_records/ "
                    f"(known: {', '.join(sorted(entities)) or 'none'})"])
    return merged


def _kind_problem(target: AnyTarget, mapping: TargetMapping, spec: EntitySpec) -> str | None:
    if mapping.write_back and target.kind not in ("rest", "sql"):
        return f"write_back: a {target.kind} target does not answer with values to write back"
    for answered, attr in mapping.write_back.items():
        if spec.attributes.get(attr) is None or spec.attributes[attr].owner != target.name:
            return (f"write_back.{answered}: '{attr}' must be an attribute of {spec.entity} with "
                    f"owner: {target.name}")
    missing = [k for k in KIND_KEYS[target.kind] if getattr(mapping, k) is None]
    if missing:
        return (f"{missing[0]}: required for a {target.kind} target "
                f"({' and '.join(KIND_KEYS[target.kind])})")
    if target.kind in ("rest", "sql") and mapping.retire == "flag" and not mapping.active_field:
        return "active_field: retire: flag needs active_field (the target's active/enabled field)"
    return None


def _check_tables_unique(project: Project) -> None:
    owner: dict[tuple[str, str], str] = {}
    for spec in project.entities.values():
        for table in spec.tables:
            key = (spec.source, table)
            if key in owner:
                raise ConfigError(f"golden_records/{spec.entity}.yaml",
                                  [f"table {table} is already mapped by entity {owner[key]}"])
            owner[key] = spec.entity
