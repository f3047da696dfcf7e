"""The nightly adjudication flow: ingest → score → SLA → health → publish → report."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from aftersales import pipeline, progress
from aftersales.failpoints import failpoint
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
    started_at = datetime.now(UTC)
    timings: dict[str, float] = {}
    book = None
    ingest: dict = {}
    flow_run_id = str(flow_run.id) if flow_run.id else None

    def timed(name: str, fn, *args):
        t0 = time.monotonic()
        out = fn(*args)
        timings[name] = round(time.monotonic() - t0, 3)
        progress.advance(name)
        logger.info("stage %s finished in %.2fs", name, timings[name])
        return out

    pipeline.record_started(
        paths,
        pipeline.run_row(
            run_id,
            day,
            started_at,
            "running",
            book=None,
            ingest=None,
            stage_timings={},
            inbox=paths.inbox,
            flow_run_id=flow_run_id,
        ),
    )
    try:
        book = timed("preflight", stages.preflight, paths.inbox, paths.rules_dir)
        ingest = pipeline.summary_dict(timed("ingest", stages.ingest, paths, day, run_id, settings))
        logger.info(
            "ingested %s rows from %s files (%s quarantined)",
            ingest.get("rows_read"),
            ingest.get("files_read"),
            ingest.get("rows_quarantined"),
        )
        failpoint("after-ingest")
        scoring = pipeline.summary_dict(timed("score", stages.score, paths, day, run_id))
        failpoint("after-scoring")
        sla = pipeline.summary_dict(timed("sla", stages.sla, paths, day, run_id))
        health = pipeline.summary_dict(timed("health", stages.health, paths, day, run_id))
        actions = pipeline.summary_dict(timed("action_queue", stages.action_queue, paths, day, run_id))
        facts = run_facts(paths.work_db)
        row = pipeline.run_row(
            run_id,
            day,
            started_at,
            "success",
            book=book,
            ingest=ingest,
            stage_timings=timings,
            inbox=paths.inbox,
            flow_run_id=flow_run_id,
        )
        published = timed("publish", stages.publish, paths, day, row)
        report_page = timed("report", stages.report, paths, day, run_id)
    except BaseException as exc:
        failed = pipeline.run_row(
            run_id,
            day,
            started_at,
            "failed",
            book=book,
            ingest=ingest,
            stage_timings=timings,
            inbox=paths.inbox,
            flow_run_id=flow_run_id,
            error=pipeline.one_line(exc),
        )
        pipeline.record_failure(paths, failed)
        raise
    pipeline.discard_work(paths)

    publish = pipeline.summary_dict(published)
    create_markdown_artifact(
        key="aftersales-run-summary",
        markdown=summary_markdown(
            day, run_id, ingest, facts, publish, report_page, ingest.get("validation_report_path"), timings
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
        "run_id": run_id,
        "batch_date": day.isoformat(),
        "warehouse": str(paths.warehouse),
        "ingest": ingest,
        "scoring": scoring,
        "sla": sla,
        "health": health,
        "action_queue": actions,
        "publish": publish,
        "report_page": str(report_page) if report_page else None,
        "stage_timings": timings,
    }
