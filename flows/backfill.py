"""Backfill: the nightly flow for a range of batch dates, in date order, one subflow per date.

Resumable: a date already published (a successful `runs` row) is skipped unless `force`; the
check is repeated just before each date, so a nightly run that publishes a date meanwhile is
respected. The backfill stops at the first date that fails (later dates are left for the
next attempt, which resumes there) and the parent flow run ends Failed.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger

from aftersales import progress
from aftersales.orchestration.backfill_plan import plan_backfill, published_runs
from flows.nightly import nightly_batch

FLOW_NAME = "aftersales-backfill"


class BackfillStopped(RuntimeError):
    """A date of the backfill failed; `summary` says what ran, what was skipped, and where it stopped."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def backfill_batches(
    date_from: str,
    date_to: str,
    inbox: str,
    warehouse: str,
    force: bool = False,
    rules_dir: str | None = None,
    report_dir: str | None = None,
) -> dict:
    """Run the nightly flow for every date of [date_from, date_to] not yet published (all if force)."""
    logger = get_run_logger()
    first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    steps = plan_backfill(first, last, inbox, Path(warehouse), force=force)
    summary: dict = {"date_from": date_from, "date_to": date_to, "force": force, "dates": [], "failed": None}
    for step in steps:
        entry = step.as_dict()
        summary["dates"].append(entry)
        if step.action == "skip":
            entry["action"] = "skipped"
            logger.info("batch %s skipped: %s", step.batch_date, step.reason)
            continue
        if not force:
            done = published_runs(Path(warehouse))
            if step.batch_date in done:  # published by another run since the plan was made
                entry.update(action="skipped", reason=f"published meanwhile by run {done[step.batch_date]}")
                continue
        started = time.monotonic()
        try:
            result = nightly_batch.with_options(flow_run_name=f"batch-{step.batch_date}")(
                inbox=str(step.inbox),
                warehouse=warehouse,
                batch_date=step.batch_date.isoformat(),
                rules_dir=rules_dir,
                report_dir=report_dir,
            )
        except Exception as exc:
            entry.update(action="failed", reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            entry["seconds"] = round(time.monotonic() - started, 2)
            summary["failed"] = step.batch_date.isoformat()
            logger.error("batch %s failed, backfill stopped: %s", step.batch_date, entry["reason"])
            raise BackfillStopped(f"batch {step.batch_date} failed: {entry['reason']}", summary) from exc
        entry.update(action="ran", run_id=result["run_id"], seconds=round(time.monotonic() - started, 2))
        progress.advance(f"batch {step.batch_date}")
        entry["rulings"] = result.get("publish", {}).get("rows", {}).get("rulings")
        logger.info("batch %s published by run %s", step.batch_date, result["run_id"])
    return summary
