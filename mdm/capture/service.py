"""The capture process: one Debezium engine per source database (one slot, one publication:
the tables it is the system of record of and the targets' copies it observes), plus slot
watchers."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from mdm.capture.debezium import InboxHandler, run_engine
from mdm.capture.registry import source_kind
from mdm.config.loader import Project, expand_env
from mdm.config.row_filter import snapshot_overrides
from mdm.errors import ConfigError, TransientError

logger = logging.getLogger(__name__)


def primary_keys(project: Project, source: str) -> dict[str, str]:
    """table → key column of every captured table (of record and observed): capture reads row
    keys from the row image."""
    keys = {table: observed.primary_key
            for table, observed in project.observed_tables(source).items()}
    for entity in project.entities.values():
        if entity.source == source:
            if isinstance(entity.primary_key, str):  # a composite key: Debezium's key struct
                keys[entity.table] = entity.primary_key
            keys.update({c.spec.table: c.spec.primary_key for c in entity.child_tables})
    return keys


def capture_sources(project: Project) -> list[str]:
    """Systems of record first, then the databases that only hold observed copies."""
    names = [name for name in project.sources if project.captured_tables(name)]
    return sorted(names, key=lambda n: not project.entities_of_record(n))


def run_capture(project: Project, hub_url: str, state_dir: Path, stop: threading.Event) -> None:
    """Capture every source until `stop` is set: one Debezium engine per source, all in this
    process's one JVM, each in its own thread and restarted on failure."""
    sources = capture_sources(project)
    if not sources:
        raise ConfigError(str(project.root), ["no source with mapped tables: nothing to capture"])
    urls = {}
    for name in sources:  # a missing ${VAR} or a bad URL stops here, naming the file
        where = f"cdc/{name}.yaml"
        urls[name] = expand_env(project.sources[name].url, where)
        source_kind(project.sources[name]).check_url(urls[name], where)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    threads = []
    for name in sources:
        thread = threading.Thread(target=_capture_source, name=f"capture-{name}", daemon=True,
                                  args=(project, name, urls[name], hub_url, state_dir, stop))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


def _capture_source(project: Project, name: str, source_url: str, hub_url: str,
                    state_dir: Path, stop: threading.Event) -> None:
    spec = project.sources[name]
    kind = source_kind(spec)
    filters = {table: row_filter for entity in project.entities.values() if entity.source == name
               for table, row_filter in entity.row_filters.items()}
    # the initial snapshot reads only the rows `where:` keeps (a passed-through property wins)
    props = {**snapshot_overrides(filters),
             **kind.engine_properties(spec, project.captured_tables(name), hub_url)}
    threading.Thread(target=kind.watch_position, name=f"slot-{name}", daemon=True,
                     args=(spec, source_url, hub_url, stop)).start()
    logger.info("capture starting source=%s tables=%d observed=%d slot=%s", name,
                len(project.captured_tables(name)), len(spec.tables), spec.slot)
    delay = 1.0
    while not stop.is_set():
        try:
            run_engine(props, InboxHandler(name, hub_url, primary_keys(project, name)),
                       state_dir / "logs", stop)
        except TransientError as exc:
            logger.warning("capture engine stopped source=%s, restarting in %.0fs: %s", name, delay, exc)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
