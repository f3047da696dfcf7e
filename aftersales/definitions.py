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

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from aftersales import pipeline
from aftersales.failpoints import failpoint
from aftersales.run_record import RunRecord
from aftersales.settings import Settings
from aftersales.staging import STAGING_TABLES
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
        needs=("settings",),
        failpoint_after="after-ingest",
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
    ),
    Stage(
        "action_queue",
        "transform",
        pipeline.stage_action_queue,
        inputs=("stg_shops", "sla_open_clocks", "evidence_gaps", "rulings"),
        outputs=("action_queue",),
        published=("action_queue",),
    ),
    # Publishing waits for a lock held by another run and touches the file system: worth a retry.
    Stage("publish", "load", pipeline.stage_publish, needs=("run_row",), retries=2, retry_delay_seconds=5),
    Stage("report", "load", pipeline.stage_report),
)


def stage_names() -> tuple[str, ...]:
    return tuple(stage.name for stage in STAGES)


def phase(name: Phase) -> Iterator[Stage]:
    """The stages of one phase, in declared order."""
    return (stage for stage in STAGES if stage.phase == name)


def published_tables() -> tuple[str, ...]:
    """Every table the publish step copies into the warehouse, in the warehouse schema's order
    (the declared ones the schema does not know come last, so the definitions test names them)."""
    declared = [table for stage in STAGES for table in stage.published]
    return tuple(t for t in BATCH_TABLES if t in declared) + tuple(
        t for t in declared if t not in BATCH_TABLES
    )


def stage_arguments(stage: Stage, record: RunRecord, settings: Settings) -> dict[str, Any]:
    """The keyword arguments a stage names in `needs`, from the run's record and settings."""
    available = {"settings": lambda: settings, "run_row": record.succeeded}
    return {need: available[need]() for need in stage.needs}


def run_stages(
    stages: Iterable[Stage],
    paths: pipeline.BatchPaths,
    record: RunRecord,
    settings: Settings,
    *,
    call: Callable[..., Any] | None = None,
    finished: Callable[[Stage, float], None] | None = None,
) -> dict[str, Any]:
    """Run `stages` in order, timing each into `record`; returns each stage's result by name.

    `call(stage, *args, **kwargs)` runs one stage (default: the plain function; the flow passes
    its Prefect task's submit-and-result), `finished(stage, seconds)` is told after each.
    """
    results: dict[str, Any] = {}
    for stage in stages:
        args = (paths, record.batch_date, record.run_id)
        kwargs = stage_arguments(stage, record, settings)
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


def run_plain(paths: pipeline.BatchPaths, record: RunRecord, settings: Settings) -> dict[str, Any]:
    """The whole batch without Prefect (benchmark, profiling): every declared stage in order."""
    return run_stages(STAGES, paths, record, settings)
