"""The capture process: one Debezium engine per source database (one slot, one publication:
the tables it is the system of record of and the targets' copies it observes), plus slot
watchers."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import psycopg

from mdm.capture.debezium import InboxHandler, offsets_table, run_engine
from mdm.capture.feeds import feed_kind, running_feeds
from mdm.capture.other_connectors import CLASSPATH_PROPERTY, extra_classpath, put_on_jvm_classpath
from mdm.capture.registry import source_kind
from mdm.capture.signals import EngineHandle, reopen_for_start, send_snapshot_signals
from mdm.capture.snapshots import prepare_snapshots
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
    feeds = running_feeds(project)
    if not sources and not feeds:
        raise ConfigError(str(project.root), ["no source with mapped tables: nothing to capture"])
    urls = {}
    for name in sources:  # a missing ${VAR} or a bad URL stops here, naming the file
        where = f"cdc/{name}.yaml"
        urls[name] = expand_env(project.sources[name].url, where)
        source_kind(project.sources[name]).check_url(urls[name], where)
    # one JVM per process, started by the first engine: every source's jars go on it first
    put_on_jvm_classpath([jar for name in sources for jar in extra_classpath(project.sources[name])])
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    prepared = {name: _prepare(project, name, urls[name], hub_url) for name in sources}
    threads = [_start_feed(project, name, hub_url, stop) for name in feeds]
    for name in sources:
        thread = threading.Thread(target=_capture_source, name=f"capture-{name}", daemon=True,
                                  args=(project, name, urls[name], hub_url, state_dir, stop,
                                        prepared[name]))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


def _prepare(project: Project, name: str, source_url: str, hub_url: str) -> bool:
    """Signal table and new tables (mdm/capture/snapshots.py) before the engine starts: a
    ConfigError stops capture here; an unreachable database is retried by the source's thread."""
    try:
        prepare_snapshots(project, name, source_url, hub_url)
    except psycopg.OperationalError as exc:
        logger.warning("cannot compare captured tables yet source=%s (retried): %s", name, exc)
        return False
    return True


def _capture_source(project: Project, name: str, source_url: str, hub_url: str,
                    state_dir: Path, stop: threading.Event, prepared: bool = True) -> None:
    spec = project.sources[name]
    tables = project.captured_tables(name)
    kind = source_kind(spec)
    filters = {table: row_filter for entity in project.entities.values() if entity.source == name
               for table, row_filter in entity.row_filters.items()}
    # the initial snapshot reads only the rows `where:` keeps (a passed-through property wins)
    props = {**snapshot_overrides(filters),
             **kind.engine_properties(spec, project.captured_tables(name), hub_url)}
    props.pop(CLASSPATH_PROPERTY, None)  # on the JVM's classpath already (run_capture)
    threading.Thread(target=kind.watch_position, name=f"slot-{name}", daemon=True,
                     args=(spec, source_url, hub_url, stop)).start()
    handle = EngineHandle()
    threading.Thread(target=send_snapshot_signals, name=f"signals-{name}", daemon=True,
                     args=(spec, hub_url, handle, stop)).start()
    logger.info("capture starting source=%s tables=%d observed=%d slot=%s", name,
                len(project.captured_tables(name)), len(spec.tables), spec.slot)
    delay = 1.0
    while not stop.is_set():
        try:
            prepared = prepared or _prepare(project, name, source_url, hub_url)
            if not prepared:  # new tables must be known before the engine reads them
                stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            with handle.lock:  # no signal goes out between the reopening and the new engine
                reopen_for_start(spec, offsets_table(spec), hub_url)
            handler = InboxHandler(name, hub_url, primary_keys(project, name), tables,
                                   spec.signal_table)
            run_engine(props, handler, state_dir / "logs", stop, handle)
        except (TransientError, psycopg.OperationalError) as exc:
            logger.warning("capture engine stopped source=%s, restarting in %.0fs: %s", name, delay, exc)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)


def _start_feed(project: Project, name: str, hub_url: str,
                stop: threading.Event) -> threading.Thread:
    """A feed's runner in its own thread, restarted with backoff when its system or the hub
    database fails (it resumes from what the inbox and its durable cursor hold)."""
    spec = project.feeds[name]
    run = feed_kind(spec).run
    assert run is not None  # running_feeds keeps only feeds with a runner

    def forever() -> None:
        delay = 1.0
        logger.info("feed starting source=%s kind=%s entities=%s", name, spec.kind,
                    ",".join(project.entities_of_record(name)))
        while not stop.is_set():
            try:
                run(project, spec, hub_url, stop)
                return
            except (TransientError, psycopg.OperationalError, OSError) as exc:
                logger.warning("feed stopped source=%s, restarting in %.0fs: %s", name, delay,
                               exc)
                stop.wait(delay)
                delay = min(delay * 2, 30.0)

    thread = threading.Thread(target=forever, name=f"feed-{name}", daemon=True)
    thread.start()
    return thread
