"""Project copies the benchmark and the tests run on: a source left out with what depends on
it — the entities it is the system of record of, and the flows and reconciliations naming
those entities."""
from __future__ import annotations

from pathlib import Path

import yaml


def without_sources(root: Path, names: set[str]) -> None:
    """Remove cdc/<name>.yaml for each of `names`, the golden_records of record there and the
    flows whose hops watch, create or wait for one of those entities."""
    for name in names:
        (root / f"cdc/{name}.yaml").unlink(missing_ok=True)
    dropped = set()
    for path in (root / "golden_records").glob("*.y*ml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if spec.get("source", "erp") in names:
            dropped.add(spec.get("entity"))
            path.unlink()
    for path in (root / "flows").glob("*.y*ml"):
        flow = yaml.safe_load(path.read_text(encoding="utf-8"))
        named = {e for hop in flow.get("hops", []) for e in (
            hop.get("from"), (hop.get("link") or {}).get("entity"),
            (hop.get("origin") or {}).get("entity"))}
        if named & dropped:
            path.unlink()
    for path in (root / "reconciliations").glob("*.y*ml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        named = {(spec.get("order") or {}).get("entity")} | {
            (spec.get(f) or {}).get("entity") for f in ("received", "stocked", "payable", "paid")}
        if named & dropped:
            path.unlink()
