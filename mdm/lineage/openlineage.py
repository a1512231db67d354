"""OpenLineage run events for the hub's jobs, so a lineage server (Marquez …) shows the datasets
and jobs: ERP tables → capture → inbox → golden store → golden records per entity →
propagation → each target's collection, table, exchange or subject.

Configured by the environment: MDM_OPENLINEAGE_URL (an HTTP endpoint, e.g. Marquez at
http://marquez:5000) or MDM_OPENLINEAGE_FILE (one JSON event per line); MDM_OPENLINEAGE_NAMESPACE
(default "mdm") names the jobs; MDM_OPENLINEAGE_INTERVAL_S (default 60) spaces the RUNNING
events. Each role emits START when it starts, RUNNING on that interval and COMPLETE (or FAIL)
when it stops. Emitting never blocks or breaks the pipeline: a failure is logged and dropped.
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from mdm.config.loader import Project, expand_env
from mdm.config.targets import AnyTarget
from mdm.config.urls import hosts

logger = logging.getLogger(__name__)
PRODUCER = "https://github.com/mdm-hub/mdm"


@dataclass(frozen=True)
class JobSpec:
    name: str
    inputs: list[tuple[str, str]]  # (namespace, name)
    outputs: list[tuple[str, str]]


def _namespace(url: str, default_scheme: str) -> str:
    """scheme://host:port of a URL — never its user or password."""
    parts = urlsplit(url)
    scheme = (parts.scheme or default_scheme).split("+")[0]
    scheme = "postgres" if scheme in ("postgresql", "postgres") else scheme
    host, port = hosts(url)[0]  # the first of several (a:5432,b:5432): parts.port would raise
    return f"{scheme}://{host.lower() or 'localhost'}{f':{port}' if port else ''}"


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def jobs_of(role: str, project: Project, hub_url: str) -> list[JobSpec]:
    hub_ns, hub_db = _namespace(hub_url, "postgres"), _database(hub_url)
    inbox = (hub_ns, f"{hub_db}.public.inbox")
    golden = {e: (hub_ns, f"{hub_db}.golden_record.{e}") for e in project.entities}
    if role == "capture":
        jobs = []
        for name, source in project.sources.items():
            url = expand_env(source.url, f"cdc/{name}.yaml")
            tables = project.captured_tables(name)
            jobs.append(JobSpec(f"capture.{name}", [(_namespace(url, "postgres"),
                                                     f"{_database(url)}.{t}") for t in tables], [inbox]))
        return jobs
    if role == "process":
        return [JobSpec("golden_store", [inbox], sorted(golden.values()))]
    if role == "propagate":
        return [JobSpec(f"propagate.{t.name}", [golden[e] for e in sorted(project.entities)
                                                if t.name in project.entities[e].targets],
                        _target_datasets(t, project)) for t in project.targets.values()]
    return []


def _target_datasets(target: AnyTarget, project: Project) -> list[tuple[str, str]]:
    where = f"targets/{target.name}.yaml"
    url = expand_env(target.base_url if target.kind == "rest" else target.url, where)
    namespace = _namespace(url.split(",")[0], target.kind)
    out = []
    for entity in sorted(project.entities):
        mapping = project.entities[entity].targets.get(target.name)
        if mapping is None:
            continue
        if target.kind == "rest":
            out.append((namespace, f"{urlsplit(url).path.rstrip('/')}{mapping.path}"))
        elif target.kind == "sql":
            out.append((namespace, f"{_database(url)}.{mapping.table}"))
        elif target.kind == "amqp":
            out.append((namespace, f"{target.exchange}/{mapping.routing_key or entity}"))
        else:
            out.append((namespace, f"{target.stream}/{mapping.subject or f'{target.subject_prefix}.{entity}'}"))
    return out


class Emitter:
    """START now, RUNNING every interval, COMPLETE or FAIL at `finish`."""

    def __init__(self, client: Any, namespace: str, jobs: list[JobSpec], interval_s: float) -> None:
        self.client = client
        self.namespace = namespace
        self.jobs = [(job, str(uuid.uuid4())) for job in jobs]
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="openlineage")

    def start(self) -> None:
        self._emit("START")
        self.thread.start()

    def finish(self, exit_code: int) -> None:
        self.stopped.set()
        self._emit("COMPLETE" if exit_code == 0 else "FAIL")

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval_s):
            self._emit("RUNNING")

    def _emit(self, state: str) -> None:
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )

        now = datetime.now(UTC).isoformat()
        for job, run_id in self.jobs:
            event = RunEvent(
                eventType=RunState[state], eventTime=now, producer=PRODUCER, run=Run(runId=run_id),
                job=Job(namespace=self.namespace, name=job.name),
                inputs=[InputDataset(namespace=ns, name=n) for ns, n in job.inputs],
                outputs=[OutputDataset(namespace=ns, name=n) for ns, n in job.outputs])
            try:
                self.client.emit(event)
            except Exception as exc:  # noqa: BLE001 — lineage must never stop the pipeline
                logger.warning("openlineage %s event for %s not sent: %s", state, job.name, exc)


def start_emitter(role: str, project: Project, hub_url: str) -> Callable[[int], None] | None:
    """Start emitting for a role if MDM_OPENLINEAGE_URL or _FILE is set; return `finish`."""
    url, path = os.environ.get("MDM_OPENLINEAGE_URL"), os.environ.get("MDM_OPENLINEAGE_FILE")
    if not url and not path:
        return None
    jobs = jobs_of(role, project, hub_url)
    if not jobs:
        return None
    from openlineage.client import OpenLineageClient

    if url:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, timeout=5.0)))
        where = _namespace(url, "http")
    else:
        from openlineage.client.transport.file import FileConfig, FileTransport

        client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
        where = str(path)
    emitter = Emitter(client, os.environ.get("MDM_OPENLINEAGE_NAMESPACE", "mdm"), jobs,
                      float(os.environ.get("MDM_OPENLINEAGE_INTERVAL_S", "60")))
    emitter.start()
    logger.info("openlineage events for %s to %s", ", ".join(j.name for j in jobs), where)
    return emitter.finish
