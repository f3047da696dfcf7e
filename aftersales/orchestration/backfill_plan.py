"""Backfill planning: which dates of a range still need a nightly run, and from which inbox.

A date counts as published when `runs` holds a successful run for it. Backfills are resumable
because of that: re-running the same range after an interruption (a failed date, a kill, a
reboot) runs only what is missing; `force` re-runs every date (each run replaces its own date's
results, so nothing is duplicated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from aftersales.lakehouse.connect import open_warehouse
from aftersales.orchestration.dates import dates_between, inbox_for


@dataclass(frozen=True)
class BackfillStep:
    batch_date: date
    inbox: Path
    action: str  # run, skip
    reason: str

    def as_dict(self) -> dict:
        return {
            "batch_date": self.batch_date.isoformat(),
            "inbox": str(self.inbox),
            "action": self.action,
            "reason": self.reason,
        }


def published_runs(warehouse: Path) -> dict[date, str]:
    """batch_date → the latest successful run_id, read from the warehouse without locking it."""
    warehouse = Path(warehouse)
    if not warehouse.exists():
        return {}
    con = open_warehouse(warehouse)
    try:
        rows = con.execute(
            "SELECT batch_date, arg_max(run_id, finished_at) FROM runs WHERE status = 'success' GROUP BY 1"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    finally:
        con.close()
    return {day: run_id for day, run_id in rows}


def plan_backfill(
    first: date, last: date, inbox: str | Path, warehouse: Path, force: bool = False
) -> list[BackfillStep]:
    """One step per date of [first, last], in order: run it, or skip it as already published."""
    done = {} if force else published_runs(warehouse)
    steps = []
    for day in dates_between(first, last):
        folder = inbox_for(inbox, day)
        if day in done:
            steps.append(BackfillStep(day, folder, "skip", f"already published by run {done[day]}"))
        else:
            steps.append(BackfillStep(day, folder, "run", "forced" if force else "not published yet"))
    return steps


def missing_inboxes(steps: list[BackfillStep]) -> list[BackfillStep]:
    """Steps that would run but have no inbox folder: refused before anything starts."""
    return [s for s in steps if s.action == "run" and not s.inbox.is_dir()]
