"""The nightly adjudication flow: preflight → shards (ingest, score, SLA, health per shop group) → publish.

`aftersales.definitions.STAGES` says which stages run, in which order, and which run per shard.
Batch stages run as their Prefect tasks (`tasks/stages.py`); the shards run as `shard` tasks in
the `aftersales-shards` subflow, on the chosen task runner (threads, a Dask cluster, or one at a
time: `aftersales.task_runners`), every future resolved with `.result()` so no failure is silent.
One publish then commits every shard's tables at once.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from aftersales import definitions, pipeline, progress, task_runners
from aftersales.run_record import RunRecord, summary_dict
from aftersales.settings import Settings, load_settings
from aftersales.shard_work import (
    SHARDS_PER_LOCAL_WORKER,
    ShardOutcome,
    combined_results,
    plan_batch_shards,
    thread_budget,
)
from aftersales.sharding import Shard
from tasks import stages

FLOW_NAME = "aftersales-nightly"


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.CatalogException:
        return []


def run_facts(work_dbs: list[Path]) -> dict:
    """Counts for the run summary, read from the shards' private work databases (shops are
    disjoint between shards, so per-shop rows only concatenate)."""
    sums: dict[str, dict] = {"decisions": {}, "breaches": {}, "quarantine": {}}
    top: list[tuple] = []
    queries = {
        "decisions": "SELECT decision, count(*) FROM rulings GROUP BY 1",
        "breaches": "SELECT sla_id, count(*) FROM sla_breaches GROUP BY 1",
        "quarantine": "SELECT file_kind, count(*) FROM quarantine GROUP BY 1",
    }
    for work_db in work_dbs:
        con = duckdb.connect(str(work_db), read_only=True)
        try:
            for fact, sql in queries.items():
                for key, n in _rows(con, sql):
                    sums[fact][key] = sums[fact].get(key, 0) + n
            top += _rows(
                con,
                "SELECT shop_id, count(*) AS breaches, count(DISTINCT sla_id) AS slas, "
                "round(sum(overdue_hours), 1) AS overdue_hours FROM sla_breaches GROUP BY 1",
            )
        finally:
            con.close()

    def ranked(counts: dict) -> list[tuple]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))

    return {
        "decisions": ranked(sums["decisions"]),
        "breaches": ranked(sums["breaches"]),
        "top_shops": sorted(top, key=lambda r: (-r[1], r[0]))[:10],
        "quarantine": ranked(sums["quarantine"]),
    }


def summary_markdown(
    batch_date: date,
    run_id: str,
    ingest: dict,
    facts: dict,
    publish: dict,
    report_page: Path | None,
    validation_report: str | None,
    timings: dict,
) -> str:
    def table(header: tuple[str, str], items: list[tuple]) -> str:
        lines = [f"| {header[0]} | {header[1]} |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in items] or ["| (none) | 0 |"]
        return "\n".join(lines)

    parts = [
        f"# aftersales nightly batch {batch_date}",
        f"Run `{run_id}` published to `{publish.get('warehouse')}`.",
        "## Inputs",
        f"- files read: {ingest.get('files_read')}, skipped: {ingest.get('files_skipped')}",
        f"- rows read: {ingest.get('rows_read')}, quarantined: {ingest.get('rows_quarantined')}",
        "## Rulings by decision",
        table(("decision", "cases"), facts["decisions"]),
        "## SLA breaches by type",
        table(("sla_id", "breaches"), facts["breaches"]),
        "## Quarantine by file kind",
        table(("file kind", "rows"), facts["quarantine"]),
        "## Stage timings (s)",
        table(("stage", "seconds"), sorted(timings.items())),
        "## Links",
    ]
    if report_page:
        parts.append(f"- nightly report page: [{report_page}](file://{report_page})")
    if validation_report:
        parts.append(f"- validation report: [{validation_report}](file://{validation_report})")
    return "\n\n".join(parts)


def run_as_tasks(stage: definitions.Stage, *args, **kwargs):
    """One declared stage as its Prefect task, waited for (a failure raises here)."""
    return stages.TASKS[stage.name].submit(*args, **kwargs).result()


def shard_unit(shard: Shard) -> str:
    """How a failed shard is named: its name and its shops."""
    return f"{shard.name} (shops {shard.shops_named()})"


@flow(name="aftersales-shards", log_prints=False, persist_result=False, validate_parameters=False)
def run_shards(
    paths: pipeline.BatchPaths,
    batch_date: date,
    run_id: str,
    settings: Settings,
    shards: list[Shard],
    budget: tuple[str, int] | None,
) -> dict:
    """Every shard as a `shard` task on this subflow's task runner; every future resolved.

    Returns {"outcomes": [ShardOutcome, ...], "failures": {unit: cause}}: the caller decides
    whether a failure fails the batch."""
    futures = [
        (
            shard_unit(shard),
            stages.SHARD_TASK.with_options(task_run_name=shard.name).submit(
                paths, batch_date, run_id, settings, shard, budget
            ),
        )
        for shard in shards
    ]
    results, failures = task_runners.resolve_all(futures)
    return {"outcomes": list(results.values()), "failures": failures}


def shard_runner(settings: Settings) -> task_runners.RunnerChoice:
    return task_runners.RunnerChoice(
        settings.task_runner, settings.task_workers, settings.dask_address, settings.dask_worker_memory
    )


def sharded_stages(
    paths: pipeline.BatchPaths, record: RunRecord, settings: Settings, shards: list[Shard]
) -> list[ShardOutcome]:
    """Run the shards on the chosen runner; fail the batch naming the failed shards' shops, or
    (on_shard_failure = publish-others) keep the others and record the failed shops."""
    choice = shard_runner(settings)
    parallel = min(len(shards), choice.worker_count) if choice.name == "threads" else 1
    budget = thread_budget(settings.duckdb_memory_limit, parallel) if choice.name == "threads" else None
    subflow = run_shards.with_options(task_runner=task_runners.task_runner(choice))
    t0 = time.monotonic()
    done = subflow(paths, record.batch_date, record.run_id, settings, shards, budget)
    outcomes, failures = done["outcomes"], done["failures"]
    if failures:
        line = task_runners.failure_line(failures)
        if settings.on_shard_failure != "publish-others" or not outcomes:
            raise task_runners.UnitFailed(line)
        done_shards = {o.shard.name for o in outcomes}
        record.failed_shops = sorted(
            s for shard in shards if shard.name not in done_shards for s in shard.shop_ids
        )
        record.shard_failures = f"published without {len(failures)} failed shard(s): {line}"
        get_run_logger().warning("%s", record.shard_failures)
    outcomes.sort(key=lambda o: o.shard.index)
    definitions.record_shards(record, outcomes, time.monotonic() - t0)
    return outcomes


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def nightly_batch(
    inbox: str,
    warehouse: str,
    batch_date: str,
    rules_dir: str | None = None,
    report_dir: str | None = None,
    runner: str | None = None,
    dask_address: str | None = None,
    shards: int | None = None,
    workers: int | None = None,
) -> dict:
    """Adjudicate one batch date; returns the run summary (also written to `runs`).

    `runner`, `dask_address`, `shards` and `workers` override the settings of the same purpose
    (task_runner, dask_address, shards, task_workers)."""
    logger = get_run_logger()
    settings = load_settings().with_overrides(
        task_runner=runner, dask_address=dask_address, shards=shards, task_workers=workers
    )
    day = _as_date(batch_date)
    run_id = pipeline.new_run_id(day)
    paths = pipeline.batch_paths(
        inbox, warehouse, rules_dir or settings.rules_dir, report_dir or settings.report_dir, run_id
    )
    record = RunRecord(run_id, day, paths.inbox, str(flow_run.id) if flow_run.id else None)
    record.task_runner = settings.task_runner

    def finished(stage: definitions.Stage, seconds: float) -> None:
        progress.advance(stage.name)
        logger.info("stage %s finished in %.2fs", stage.name, seconds)

    def run(phase: definitions.Phase, extra: dict | None = None) -> dict:
        return definitions.run_stages(
            definitions.batch_stages(phase), paths, record, settings,
            call=run_as_tasks, finished=finished, extra=extra,
        )  # fmt: skip

    pipeline.record_started(paths, record.started())
    try:
        extracted = run("extract")
        choice = shard_runner(settings)
        local_cluster = choice.name == "dask" and not choice.dask_address
        try:
            plan = plan_batch_shards(
                paths.inbox, settings, SHARDS_PER_LOCAL_WORKER * choice.worker_count if local_cluster else 1
            )
        except Exception as exc:  # an unusable registry refuses the batch as ingest would
            raise pipeline.BatchRefused(pipeline.one_line(exc)) from exc
        record.shards = len(plan)
        outcomes = sharded_stages(paths, record, settings, plan)
        for stage in definitions.shard_stages():
            finished(stage, record.stage_timings.get(stage.name, 0.0))
        counts = record.ingest
        logger.info(
            "ingested %s rows from %s files (%s quarantined) in %d shards",
            counts.get("rows_read"),
            counts.get("files_read"),
            counts.get("rows_quarantined"),
            len(plan),
        )
        shard_dbs = tuple(o.work_db for o in outcomes)
        facts = run_facts(list(shard_dbs))
        loaded = run("load", {"shard_dbs": shard_dbs})
    except BaseException as exc:
        pipeline.record_failure(paths, record.failed(pipeline.one_line(exc)))
        raise
    pipeline.discard_work(paths)
    combined = combined_results(outcomes, [s.name for s in definitions.shard_stages()])
    summary = run_summary(record, paths, facts, {**extracted, **combined, **loaded})
    summary["shards"] = [o.report() for o in outcomes]
    summary["failed_shops"] = record.failed_shops
    summary["shard_failures"] = record.shard_failures
    summary["task_runner"] = settings.task_runner
    return summary


def run_summary(record: RunRecord, paths: pipeline.BatchPaths, facts: dict, results: dict) -> dict:
    """The run's Prefect artifacts (markdown summary, shops with most breaches) and return value."""
    day, timings = record.batch_date, record.stage_timings
    publish = summary_dict(results["publish"])
    report_page = results["report"]
    create_markdown_artifact(
        key="aftersales-run-summary",
        markdown=summary_markdown(
            day,
            record.run_id,
            record.ingest,
            facts,
            publish,
            report_page,
            record.ingest.get("validation_report_path"),
            timings,
        ),
        description=f"aftersales batch {day}",
    )
    create_table_artifact(
        key="aftersales-shops-most-breaches",
        table=[
            {"shop_id": s, "breaches": n, "slas": k, "overdue_hours": h} for s, n, k, h in facts["top_shops"]
        ],
        description=f"Shops with the most SLA breaches, batch {day}",
    )
    return {
        "run_id": record.run_id,
        "batch_date": day.isoformat(),
        "warehouse": str(paths.warehouse),
        "ingest": record.ingest,
        "scoring": summary_dict(results["score"]),
        "sla": summary_dict(results["sla"]),
        "health": summary_dict(results["health"]),
        "action_queue": summary_dict(results["action_queue"]),
        "publish": publish,
        "report_page": str(report_page) if report_page else None,
        "stage_timings": timings,
    }
