"""The one declared list of the nightly batch's stages: what each reads, writes and publishes.

Dagster's `definitions.py` is the model: one place wires the batch. The Prefect flow
(`flows/nightly.py`), the plain runner (`run_stages`, used by the benchmark), the Prefect tasks
(`tasks/stages.py`) and the progress bar (`aftersales.progress`) all iterate `STAGES`; no stage
order is written anywhere else. Tables are the unit: a stage declares the work-database tables
it reads (`inputs`), the ones it writes for later stages or for publishing (`outputs`) and the
ones the publish step copies into the warehouse (`published`). `tests/test_stage_definitions.py`
checks that every input is an output of an earlier stage and that the published tables are the
warehouse schema's batch tables.

Every stage is a plain function of `(paths, batch_date, run_id)` plus the keyword arguments it
names in `needs` (`settings`, `run_row`), so any Prefect task runner can ship it: paths, never
DuckDB connections.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from aftersales import pipeline
from aftersales.database import task_budget
from aftersales.failpoints import failpoint
from aftersales.run_record import RunRecord
from aftersales.settings import Settings
from aftersales.shard_work import (
    ShardOutcome,
    combined_results,
    plan_batch_shards,
    shard_work_db,
    worker_name,
)
from aftersales.sharding import Shard
from aftersales.staging import STAGING_TABLES
from aftersales.task_runners import current_worker_budget
from aftersales.warehouse_schema import BATCH_TABLES

Phase = Literal["extract", "transform", "load"]


@dataclass(frozen=True)
class Stage:
    """One step of the batch. `needs` names keyword arguments beyond (paths, batch_date, run_id)."""

    name: str
    phase: Phase
    run: Callable[..., Any]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    published: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    retries: int = 0
    retry_delay_seconds: float = 0.0
    failpoint_after: str | None = None  # kill tests freeze the run here (aftersales.failpoints)
    per_shard: bool = False  # runs once per shard, into the shard's work database (aftersales.shard_work)


_INGEST_AUDIT = ("file_ledger", "quarantine", "validation_results")
_SCORED = ("case_features", "rulings", "rule_hits", "evidence_gaps", "rule_catalog")
_SLA_PUBLISHED = ("sla_breaches", "sla_open_clocks", "sla_met_on_time")

STAGES: tuple[Stage, ...] = (
    Stage("preflight", "extract", pipeline.stage_preflight),
    Stage(
        "ingest",
        "extract",
        pipeline.stage_ingest,
        outputs=(*STAGING_TABLES, *_INGEST_AUDIT),
        published=_INGEST_AUDIT,
        needs=("settings", "shard"),
        failpoint_after="after-ingest",
        per_shard=True,
    ),
    Stage(
        "score",
        "transform",
        pipeline.stage_score,
        inputs=(
            "stg_shops",
            "stg_order_lines",
            "stg_aftersales_requests",
            "stg_cancellations",
            "stg_evidence",
            "stg_appeals",
        ),
        outputs=_SCORED,
        published=_SCORED,
        failpoint_after="after-scoring",
        per_shard=True,
    ),
    Stage(
        "sla",
        "transform",
        pipeline.stage_sla,
        inputs=(
            "stg_shops",
            "stg_order_lines",
            "stg_aftersales_requests",
            "stg_cancellations",
            "stg_messages",
            "stg_appeals",
        ),
        # For health, never published: every obligation with started/due/met (models/sla_obligations.sql)
        # and the orders the clocks measured (models/sla_orders.sql).
        outputs=(*_SLA_PUBLISHED, "sla_obligations", "sla_orders"),
        published=_SLA_PUBLISHED,
        per_shard=True,
    ),
    Stage(
        "health",
        "transform",
        pipeline.stage_health,
        inputs=(
            "stg_shops",
            "stg_order_lines",
            "stg_cancellations",
            "stg_aftersales_requests",
            "sla_obligations",
            "sla_orders",
            "rulings",
        ),
        outputs=("seller_health",),
        published=("seller_health",),
        per_shard=True,
    ),
    Stage(
        "action_queue",
        "transform",
        pipeline.stage_action_queue,
        inputs=("stg_shops", "sla_open_clocks", "evidence_gaps", "rulings"),
        outputs=("action_queue",),
        published=("action_queue",),
        per_shard=True,
    ),
    # Publishing waits for a lock held by another run and touches the file system: worth a retry.
    Stage(
        "publish",
        "load",
        pipeline.stage_publish,
        needs=("run_row", "shard_dbs"),
        retries=2,
        retry_delay_seconds=5,
    ),
    Stage("report", "load", pipeline.stage_report),
)


# Published tables that every shard computes whole (the rule catalogue of the run's packs): publish
# takes them from one shard.
SHARED_TABLES = ("rule_catalog",)


def stage_names() -> tuple[str, ...]:
    return tuple(stage.name for stage in STAGES)


def phase(name: Phase) -> Iterator[Stage]:
    """The stages of one phase, in declared order."""
    return (stage for stage in STAGES if stage.phase == name)


def batch_stages(name: Phase) -> Iterator[Stage]:
    """The stages of one phase that run once for the whole batch (preflight; publish, report)."""
    return (stage for stage in phase(name) if not stage.per_shard)


def shard_stages() -> tuple[Stage, ...]:
    """The stages each shard runs, in order, into its own work database."""
    return tuple(stage for stage in STAGES if stage.per_shard)


def published_tables() -> tuple[str, ...]:
    """Every table the publish step copies into the warehouse, in the warehouse schema's order
    (the declared ones the schema does not know come last, so the definitions test names them)."""
    declared = [table for stage in STAGES for table in stage.published]
    return tuple(t for t in BATCH_TABLES if t in declared) + tuple(
        t for t in declared if t not in BATCH_TABLES
    )


def stage_arguments(
    stage: Stage, record: RunRecord, settings: Settings, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The keyword arguments a stage names in `needs`, from the run's record, settings and `extra`
    (the shard of a per-shard stage, the shards' work databases for publish)."""
    available = {"settings": lambda: settings, "run_row": record.succeeded}
    available |= {name: (lambda value=value: value) for name, value in (extra or {}).items()}
    return {need: available[need]() for need in stage.needs if need in available}


def run_stages(
    stages: Iterable[Stage],
    paths: pipeline.BatchPaths,
    record: RunRecord,
    settings: Settings,
    *,
    call: Callable[..., Any] | None = None,
    finished: Callable[[Stage, float], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `stages` in order, timing each into `record`; returns each stage's result by name.

    `call(stage, *args, **kwargs)` runs one stage (default: the plain function; the flow passes
    its Prefect task's submit-and-result), `finished(stage, seconds)` is told after each.
    """
    results: dict[str, Any] = {}
    for stage in stages:
        args = (paths, record.batch_date, record.run_id)
        kwargs = stage_arguments(stage, record, settings, extra)
        t0 = time.monotonic()
        out = call(stage, *args, **kwargs) if call is not None else stage.run(*args, **kwargs)
        seconds = round(time.monotonic() - t0, 3)
        record.stage_finished(stage.name, seconds, out)
        results[stage.name] = out
        if finished is not None:
            finished(stage, seconds)
        if stage.failpoint_after:
            failpoint(stage.failpoint_after)
    return results


def run_shard(
    paths: pipeline.BatchPaths,
    batch_date: date,
    run_id: str,
    settings: Settings,
    shard: Shard,
    budget: tuple[str, int] | None = None,
) -> ShardOutcome:
    """One shard's stages (`shard_stages`), in order, into the shard's own work database.

    A plain function of paths and values, so any task runner can ship it (a Dask worker imports
    this package). DuckDB's memory and threads: the Dask worker's share when run on one
    (`task_runners.current_worker_budget`), else `budget` (the thread runner's share), else the
    settings."""
    started = time.monotonic()
    budget = current_worker_budget() or budget
    shard_paths = dataclasses.replace(paths, work_db=shard_work_db(paths.work_dir, shard))
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    with task_budget(budget):
        for stage in shard_stages():
            kwargs = {"settings": settings, "shard": shard}
            t0 = time.monotonic()
            results[stage.name] = stage.run(
                shard_paths, batch_date, run_id, **{need: kwargs[need] for need in stage.needs}
            )
            timings[stage.name] = round(time.monotonic() - t0, 3)
            if stage.failpoint_after:
                failpoint(stage.failpoint_after, shard.name)
    return ShardOutcome(
        shard, shard_paths.work_db, results, timings, round(time.monotonic() - started, 3), worker_name()
    )


def record_shards(record: RunRecord, outcomes: list[ShardOutcome], wall_seconds: float) -> dict[str, Any]:
    """Put the shards' combined stage summaries into the run's record; returns them by stage name.

    A per-shard stage's time is its slowest shard's (the shards ran side by side); `shards` is the
    wall time of them all."""
    names = [stage.name for stage in shard_stages()]
    combined = combined_results(outcomes, names)
    for name in names:
        slowest = max((o.stage_timings.get(name, 0.0) for o in outcomes), default=0.0)
        record.stage_finished(name, slowest, combined[name])
    record.stage_timings["shards"] = round(wall_seconds, 3)
    return combined


def run_plain(paths: pipeline.BatchPaths, record: RunRecord, settings: Settings) -> dict[str, Any]:
    """The whole batch without Prefect (benchmark, profiling): preflight, every shard in turn,
    publish and report."""
    results = run_stages(batch_stages("extract"), paths, record, settings)
    shards = plan_batch_shards(paths.inbox, settings)
    record.task_runner, record.shards = "plain", len(shards)
    t0 = time.monotonic()
    outcomes = [run_shard(paths, record.batch_date, record.run_id, settings, shard) for shard in shards]
    results |= record_shards(record, outcomes, time.monotonic() - t0)
    extra = {"shard_dbs": tuple(o.work_db for o in outcomes)}
    results |= run_stages(batch_stages("transform"), paths, record, settings, extra=extra)
    results |= run_stages(batch_stages("load"), paths, record, settings, extra=extra)
    results["shards"] = [o.report() for o in outcomes]
    return results
