"""The nightly batch as plain functions on paths; `flows/nightly.py` runs them as Prefect tasks.

Order: preflight → ingest → score → SLA → health → publish → report. Every stage before
publish writes only the run's private work database, so a failure or a kill anywhere leaves
the warehouse untouched; publish swaps the results in atomically (see aftersales.publish).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from aftersales.publish import (
    clear_attempts,
    pending_attempts,
    publish_batch,
    record_attempt_started,
    record_failed_attempt,
    running_attempts,
)
from aftersales.rulepack import RuleBook, RulePackError, load_rulebook
from aftersales.settings import Settings

STALE_WORK_DAYS = 3.0


class BatchRefused(Exception):
    """The batch cannot run at all (missing inbox, unreadable shop registry, invalid rule pack)."""


@dataclass(frozen=True)
class BatchPaths:
    inbox: Path
    warehouse: Path
    rules_dir: Path
    report_dir: Path
    work_db: Path

    @property
    def work_dir(self) -> Path:
        return self.work_db.parent


def new_run_id(batch_date: date) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{batch_date:%Y%m%d}-{stamp}-{uuid.uuid4().hex[:8]}"


def batch_paths(inbox, warehouse, rules_dir, report_dir, run_id: str) -> BatchPaths:
    warehouse = Path(warehouse).resolve()
    work_db = warehouse.parent / ".work" / run_id / "work.duckdb"
    return BatchPaths(
        Path(inbox).resolve(), warehouse, Path(rules_dir).resolve(), Path(report_dir).resolve(), work_db
    )


def summary_dict(summary) -> dict:
    if summary is None:
        return {}
    if is_dataclass(summary):
        return json.loads(json.dumps(asdict(summary), default=str))
    return dict(summary)


def preflight(inbox: Path, rules_dir: Path) -> RuleBook:
    """Refuse early, with one clear line, what would make the whole batch meaningless."""
    inbox = Path(inbox)
    if not inbox.exists():
        raise BatchRefused(f"inbox {inbox} does not exist")
    if not inbox.is_dir():
        raise BatchRefused(f"inbox {inbox} is not a folder")
    shops = inbox / "shops.csv"
    if not shops.is_file():
        raise BatchRefused(f"shop registry {shops} is missing")
    try:
        with open(shops, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise BatchRefused(f"shop registry {shops} cannot be read: {exc.strerror}") from exc
    try:
        return validated_rulebook(rules_dir)
    except RulePackError as exc:
        raise BatchRefused(f"invalid rule pack: {exc}") from exc


def validated_rulebook(rules_dir: Path) -> RuleBook:
    """The rule book with every pack's common metadata and policy bodies checked; RulePackError if not."""
    from aftersales.policy import validate_policy_packs

    book = load_rulebook(rules_dir)
    validate_policy_packs(rules_dir)
    return book


def stage_ingest(paths: BatchPaths, batch_date: date, run_id: str, settings: Settings):
    from aftersales.ingest import InboxError, ingest_inbox

    paths.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        return ingest_inbox(
            paths.inbox, paths.work_db, batch_date, run_id, settings, paths.report_dir / run_id
        )
    except InboxError as exc:
        raise BatchRefused(str(exc)) from exc


def stage_score(paths: BatchPaths, batch_date: date, run_id: str):
    from aftersales.policy import score_batch

    return score_batch(paths.work_db, batch_date, run_id, paths.rules_dir)


def stage_sla(paths: BatchPaths, batch_date: date, run_id: str):
    from aftersales.sla import compute_sla

    return compute_sla(paths.work_db, batch_date, run_id, paths.rules_dir)


def stage_health(paths: BatchPaths, batch_date: date, run_id: str):
    from aftersales.sla import compute_seller_health

    return compute_seller_health(paths.work_db, batch_date, run_id, paths.rules_dir)


def run_row(
    run_id: str,
    batch_date: date,
    started_at: datetime,
    status: str,
    *,
    book: RuleBook | None,
    ingest: dict | None,
    stage_timings: dict,
    inbox: Path,
    flow_run_id: str | None,
    error: str | None = None,
) -> dict:
    ingest = ingest or {}
    return {
        "run_id": run_id,
        "batch_date": batch_date.isoformat(),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "status": status,
        "policy_version": book.policy_version if book else None,
        "files_read": ingest.get("files_read"),
        "rows_read": ingest.get("rows_read"),
        "rows_quarantined": ingest.get("rows_quarantined"),
        "files_skipped": ingest.get("files_skipped"),
        "error": error,
        "flow_run_id": flow_run_id,
        "inbox": str(inbox),
        "stage_timings": json.dumps(stage_timings),
        "rule_pack_versions": json.dumps({p.id: p.version for p in book.packs} if book else {}),
    }


def stage_publish(paths: BatchPaths, batch_date: date, this_run: dict):
    """Swap the batch in, with this run's row and every attempt that ended without publishing."""
    run_id = this_run["run_id"]
    settled = pending_attempts(paths.warehouse, exclude={run_id})

    def refresh_views(con) -> None:
        try:
            from aftersales.analytics.views import create_views
        except ModuleNotFoundError:
            return
        create_views(con)

    summary = publish_batch(
        paths.work_db, paths.warehouse, batch_date, [*settled, this_run], after_swap_in=refresh_views
    )
    clear_attempts(paths.warehouse, settled, also={run_id})
    remove_stale_work(paths)
    return summary


def record_started(paths: BatchPaths, row: dict) -> None:
    record_attempt_started(paths.warehouse, row)


def remove_stale_work(paths: BatchPaths, keep_days: float = STALE_WORK_DAYS) -> list[str]:
    """Work folders of killed or failed runs are kept a few days for debugging, then removed."""
    root = paths.work_dir.parent
    if not root.is_dir():
        return []
    in_progress = {r["run_id"] for r in running_attempts(paths.warehouse)}
    cutoff = time.time() - keep_days * 86400
    removed = []
    for folder in root.iterdir():
        if folder == paths.work_dir or folder.name in in_progress or not folder.is_dir():
            continue
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def record_failure(paths: BatchPaths, row: dict) -> None:
    record_failed_attempt(paths.warehouse, row)


def discard_work(paths: BatchPaths) -> None:
    shutil.rmtree(paths.work_dir, ignore_errors=True)


def stage_report(paths: BatchPaths, batch_date: date, run_id: str) -> Path | None:
    try:
        from aftersales.report.page import write_report_page
    except ModuleNotFoundError:
        return None
    return write_report_page(paths.warehouse, batch_date, paths.report_dir / run_id, run_id=run_id)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if isinstance(exc, BatchRefused | RulePackError) else f"{type(exc).__name__}: {text}"
