"""A batch as shards: the plan (which shops go together), what one shard's run hands back, and how
the shards' summaries add up to the batch's.

Each shard runs the per-shard stages (`definitions.shard_stages`: ingest, score, SLA, health,
action queue) into its own work database, `<run work folder>/<shard name>/work.duckdb`; publish
then commits every shard's tables in one step. A shard's run is idempotent: it recreates its own
work database from the inbox, so a task re-run by Dask after a lost worker gives the same tables.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aftersales.database import parse_bytes
from aftersales.sharding import Shard, plan_shards, shard_count_for

# Fields of stage summaries that are the same in every shard (not added up when combining).
SAME_IN_EVERY_SHARD = frozenset({"batch_date", "run_id", "policy_version", "catalogued_rules"})


@dataclass(frozen=True)
class ShardOutcome:
    """What one shard's task hands back: its work database, each stage's summary and seconds,
    its wall time and where it ran (host:pid:thread)."""

    shard: Shard
    work_db: Path
    results: dict[str, Any]
    stage_timings: dict[str, float]
    seconds: float
    worker: str

    def report(self) -> dict:
        return {
            "shard": self.shard.name,
            "shops": len(self.shard.shop_ids),
            "seconds": self.seconds,
            "stage_timings": self.stage_timings,
            "worker": self.worker,
        }


def shard_work_db(work_dir: Path, shard: Shard) -> Path:
    return Path(work_dir) / shard.name / "work.duckdb"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def registered_shops(inbox: Path, settings) -> list[str]:
    """The Shop IDs of the inbox's shops.csv, read by the ingest's own registry reader (InboxError
    when it is unusable, exactly as ingest would refuse it)."""
    from aftersales.ingest.scratch_db import open_scratch
    from aftersales.ingest.shop_registry import load_shop_registry
    from aftersales.settings import pseudonym_key

    with tempfile.TemporaryDirectory(prefix=".shard-plan-") as tmp:
        scratch = open_scratch(settings, Path(tmp), pseudonym_key(settings))
        try:
            return sorted(load_shop_registry(scratch, Path(inbox)).shops)
        finally:
            scratch.con.close()


def plan_batch_shards(inbox: Path, settings, min_shards: int = 1) -> list[Shard]:
    """The shards of this inbox: `settings.shards` of them when set, else about
    `settings.shops_per_shard` registered shops each and at least `min_shards` (at most
    `settings.max_shards`, never more than the shops)."""
    shops = registered_shops(inbox, settings)
    count = settings.shards or min(
        max(shard_count_for(len(shops), settings.shops_per_shard, settings.max_shards), min_shards),
        settings.max_shards,
        max(1, len(shops)),
    )
    return plan_shards(shops, count)


# A LocalCluster worker (one process, `dask_worker_memory` of memory) holds a whole shard: with the
# default 2 GiB a 100-shop default-scale shard passed 95 % and was killed, 25-shop shards peaked at
# 1.4-1.5 GiB (docs/SCALING.md). Unless the shard count is set, a LocalCluster run gets at least
# this many shards per worker (which also keeps every worker busy to the end).
SHARDS_PER_LOCAL_WORKER = 4


def thread_budget(memory_limit: str, parallel_tasks: int, cores: int | None = None) -> tuple[str, int]:
    """DuckDB budget of each of `parallel_tasks` shards sharing one process: the batch's memory
    limit and the cores split between them (each at least 1 thread, 64 MB)."""
    parallel = max(1, parallel_tasks)
    threads = max(1, (cores or os.cpu_count() or 1) // parallel)
    total = parse_bytes(memory_limit)
    return (f"{max(64, (total // parallel) >> 20)}MB" if total else "", threads)


def combine(values: Sequence[Any]) -> Any:
    """The batch's summary from its shards' summaries of one stage: counts and seconds added,
    per-key counts merged, lists joined; run-level fields (SAME_IN_EVERY_SHARD) and text taken
    from the first shard that has them."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    first = values[0]
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        merged = {}
        for f in dataclasses.fields(first):
            column = [getattr(v, f.name) for v in values]
            merged[f.name] = column[0] if f.name in SAME_IN_EVERY_SHARD else combine(column)
        return type(first)(**merged)
    if isinstance(first, bool):
        return all(values)
    if isinstance(first, int | float):
        total = sum(values)
        return round(total, 3) if isinstance(total, float) else total
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return {k: combine([v[k] for v in values if k in v]) for k in keys}
    if isinstance(first, list | tuple):
        return type(first)(item for v in values for item in v)
    return next((v for v in values if v), first)


def combined_results(outcomes: Sequence[ShardOutcome], stage_names: Sequence[str]) -> dict[str, Any]:
    return {name: combine([o.results.get(name) for o in outcomes]) for name in stage_names}
