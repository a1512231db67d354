"""The capture process: one Debezium engine per system-of-record source, plus slot watchers."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from mdm.capture.debezium import InboxHandler, debezium_properties, parse_url, run_engine
from mdm.capture.slot import watch_slot
from mdm.config.loader import Project, expand_env
from mdm.errors import ConfigError, TransientError

logger = logging.getLogger(__name__)


def primary_keys(project: Project, source: str) -> dict[str, str]:
    """table → key column of every mapped table: capture reads row keys from the row image."""
    keys: dict[str, str] = {}
    for spec in project.entities.values():
        if spec.source == source:
            keys[spec.table] = spec.primary_key
            keys.update({c.table: c.primary_key for c in spec.children.values()})
    return keys


def capture_sources(project: Project) -> list[str]:
    return [name for name, spec in project.sources.items()
            if spec.authority == "system_of_record" and project.captured_tables(name)]


def run_capture(project: Project, hub_url: str, state_dir: Path, stop: threading.Event) -> None:
    """Capture every system-of-record source until `stop` is set. Restarts a failed engine."""
    sources = capture_sources(project)
    if not sources:
        raise ConfigError(str(project.root), ["no source with mapped tables: nothing to capture"])
    if len(sources) > 1:
        logger.warning("only the first source is captured per process for now source=%s", sources[0])
    name = sources[0]
    spec = project.sources[name]
    where = f"cdc/{name}.yaml"
    source_url = expand_env(spec.url, where)
    parse_url(source_url, where)
    (state_dir / "offsets").mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    props = debezium_properties(spec, project.captured_tables(name),
                                state_dir / "offsets" / f"{name}-{spec.slot}.dat")
    threading.Thread(
        target=watch_slot, name=f"slot-{name}", daemon=True,
        args=(name, source_url, spec.slot, hub_url, spec.lag_warning_bytes, stop),
    ).start()
    logger.info("capture starting source=%s tables=%d slot=%s", name,
                len(project.captured_tables(name)), spec.slot)
    delay = 1.0
    while not stop.is_set():
        try:
            run_engine(props, InboxHandler(name, hub_url, primary_keys(project, name)),
                       state_dir / "logs", stop)
        except TransientError as exc:
            logger.warning("capture engine stopped source=%s, restarting in %.0fs: %s", name, delay, exc)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
