"""The nightly adjudication flow: extract → transform → load over the declared stages.

`aftersales.definitions.STAGES` says which stages each phase runs, in which order; each runs as
its Prefect task (`tasks/stages.py`), submitted and resolved with `.result()`, so another task
runner can take the same stages.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from aftersales import definitions, pipeline, progress
from aftersales.run_record import RunRecord, summary_dict
from aftersales.settings import load_settings
from tasks import stages

FLOW_NAME = "aftersales-nightly"


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def run_facts(work_db: Path) -> dict:
    """Counts for the run summary, read from the run's private work database."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:

        def rows(sql: str) -> list[tuple]:
            try:
                return con.execute(sql).fetchall()
            except duckdb.CatalogException:
                return []

        return {
            "decisions": rows("SELECT decision, count(*) FROM rulings GROUP BY 1 ORDER BY 2 DESC"),
            "breaches": rows("SELECT sla_id, count(*) FROM sla_breaches GROUP BY 1 ORDER BY 2 DESC"),
            "top_shops": rows(
                "SELECT shop_id, count(*) AS breaches, count(DISTINCT sla_id) AS slas, "
                "round(sum(overdue_hours), 1) AS overdue_hours FROM sla_breaches "
                "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
            ),
            "quarantine": rows("SELECT file_kind, count(*) FROM quarantine GROUP BY 1 ORDER BY 2 DESC"),
        }
    finally:
        con.close()


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


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def nightly_batch(
    inbox: str, warehouse: str, batch_date: str, rules_dir: str | None = None, report_dir: str | None = None
) -> dict:
    """Adjudicate one batch date; returns the run summary (also written to `runs`)."""
    logger = get_run_logger()
    settings = load_settings()
    day = _as_date(batch_date)
    run_id = pipeline.new_run_id(day)
    paths = pipeline.batch_paths(
        inbox, warehouse, rules_dir or settings.rules_dir, report_dir or settings.report_dir, run_id
    )
    record = RunRecord(run_id, day, paths.inbox, str(flow_run.id) if flow_run.id else None)

    def finished(stage: definitions.Stage, seconds: float) -> None:
        progress.advance(stage.name)
        logger.info("stage %s finished in %.2fs", stage.name, seconds)

    def run(phase: definitions.Phase) -> dict:
        return definitions.run_stages(
            definitions.phase(phase), paths, record, settings, call=run_as_tasks, finished=finished
        )

    pipeline.record_started(paths, record.started())
    try:
        extracted = run("extract")
        counts = record.ingest
        logger.info(
            "ingested %s rows from %s files (%s quarantined)",
            counts.get("rows_read"),
            counts.get("files_read"),
            counts.get("rows_quarantined"),
        )
        transformed = run("transform")
        facts = run_facts(paths.work_db)
        loaded = run("load")
    except BaseException as exc:
        pipeline.record_failure(paths, record.failed(pipeline.one_line(exc)))
        raise
    pipeline.discard_work(paths)
    return run_summary(record, paths, facts, {**extracted, **transformed, **loaded})


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
