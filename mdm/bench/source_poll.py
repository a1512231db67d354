"""`mdm bench --sources`, poll: the demo SaaS API (mdm/demo/poll_api.py, served from the bench's
process, a 1 ms clock) read by a `kind: poll` feed with keyset paging on (modified time, id).
Commit → golden starts at the record's modified time as the API stamped it (what the feed
stores as the version's cause_commit_ts)."""
from __future__ import annotations

from mdm.bench.source_kinds import LatencyFrom, document, entity_file, pace
from mdm.demo.poll_api import PollApi
from mdm.demo.stack import DemoStack

SOURCE_NAME = "bench_poll"
TOKEN = "mdm-bench-poll-token"  # the bench's own, on loopback
INTERVAL_S = 0.1  # between two polls once the list is read to its end: bounds latency at rest
SETTLE_S = 0.01  # above the API's 1 ms clock (same machine: no skew)
PAGE_SIZE = 500
RESOURCE = "items"
SOURCE = f"""\
name: {SOURCE_NAME}
kind: poll
description: mdm bench --sources, the demo SaaS API's items modified since the cursor
base_url: ${{MDM_BENCH_POLL_URL}}
auth: {{token: '${{MDM_BENCH_POLL_TOKEN}}'}}
interval_s: {INTERVAL_S}
settle_s: {SETTLE_S}
rate_limit_per_s: 200
backoff: {{initial_s: 0.1, max_s: 2}}
resources:
  bench_poll.item:
    path: /api/{RESOURCE}
    records: data.items
    page_size: {PAGE_SIZE}
    params: {{after_id: after_id}}
"""


class PollDriver:
    kind = "poll"
    variant = ""
    label = "poll (GET modified since, keyset pages)"
    entity = "bench_poll_item"
    latency_from: LatencyFrom = "cause_commit_ts"
    note = (f"records written into the API; pages of {PAGE_SIZE}, interval_s={INTERVAL_S}, "
            f"settle_s={SETTLE_S}")

    def __init__(self) -> None:
        self.api = PollApi(resolution_ms=1, token=TOKEN)
        self.url = ""

    def unavailable(self) -> str | None:
        return None

    def project_files(self) -> dict[str, str]:
        return {f"cdc/{SOURCE_NAME}.yaml": SOURCE,
                f"golden_records/{self.entity}.yaml": entity_file(
                    self.entity, self.kind, "an API polled for records modified since",
                    SOURCE_NAME, "bench_poll.item")}

    def env(self) -> dict[str, str]:
        if not self.url:
            self.url = self.api.start()
        return {"MDM_BENCH_POLL_URL": self.url, "MDM_BENCH_POLL_TOKEN": TOKEN}

    def start(self, stack: DemoStack) -> None:
        self.env()

    def send(self, keys: list[int], phase: str, rate: float | None) -> int:
        wait = pace(rate)
        for n, key in enumerate(keys):
            wait(n)
            self.api.upsert(RESOURCE, key, document(key, phase))
        return len(keys)

    def stop(self) -> None:
        self.api.stop()
