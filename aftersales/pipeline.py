"""The nightly batch's stages as plain functions on paths, plus the run's journal and lock.

`aftersales.definitions` declares the stages (order, tables read and written) over these
functions; `flows/nightly.py` runs them as Prefect tasks. Every stage before publish writes only
the run's private work database, so a failure or a kill anywhere leaves the warehouse
untouched; publish swaps the results in atomically (see aftersales.publish).
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from aftersales import run_lock
from aftersales.analytics.views import create_views
from aftersales.publish import (
    clear_attempts,
    pending_attempts,
    publish_batch,
    record_attempt_started,
    record_failed_attempt,
    running_attempts,
)
from aftersales.publish.swap import warehouse_problem
from aftersales.rulepack import RuleBook, RulePackError, load_rulebook
from aftersales.settings import Settings
from aftersales.task_runners import UnitFailed  # names the failed shard and its cause itself

STALE_WORK_DAYS = 3.0
# Run locks held by runs of this process, by run id (taken in record_started).
_run_locks: dict[str, run_lock.RunLock] = {}


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


def warehouse_address(warehouse: str | Path) -> Path:
    """A warehouse path made absolute; a `ducklake:` catalog address (PostgreSQL) is kept as written."""
    return Path(str(warehouse)) if str(warehouse).startswith("ducklake:") else Path(warehouse).resolve()


def batch_paths(inbox, warehouse, rules_dir, report_dir, run_id: str) -> BatchPaths:
    from aftersales.lakehouse.side_tables import private_folder

    warehouse = warehouse_address(warehouse)
    work_db = private_folder(warehouse) / run_id / "work.duckdb"
    return BatchPaths(
        Path(inbox).resolve(), warehouse, Path(rules_dir).resolve(), Path(report_dir).resolve(), work_db
    )


def preflight(
    inbox: Path, rules_dir: Path, warehouse: Path | None = None, batch_date: date | None = None
) -> RuleBook:
    """Refuse early, with one clear line, what would make the whole batch meaningless.

    With `warehouse`, it must be absent or a DuckDB database this DuckDB opens (checked
    read-only); with `batch_date` too, no other run of that date may be running on it (a probe
    of the run lock, which the run itself takes at its start: `record_started`).
    """
    from aftersales.ingest.discovery import regular_file_problem  # (imports the ingest package)
    from aftersales.ingest.shop_registry import inbox_problem

    inbox = Path(inbox)
    if (problem := inbox_problem(inbox)) is not None:
        raise BatchRefused(problem)
    if warehouse is not None:
        if (problem := warehouse_problem(Path(warehouse))) is not None:
            raise BatchRefused(problem)
        if batch_date is not None:
            try:
                with run_lock.holding(Path(warehouse), batch_date):
                    pass
            except run_lock.RunInProgress as exc:
                raise BatchRefused(str(exc)) from None
    shops = inbox / "shops.csv"
    # A link (maybe to a file outside the inbox) or a FIFO as shops.csv is refused, never followed.
    if (problem := regular_file_problem(inbox, "shops.csv")) is not None:
        raise BatchRefused(f"shop registry {shops}: {problem}")
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


def stage_preflight(paths: BatchPaths, batch_date: date, run_id: str) -> RuleBook:
    """The flow's preflight: the checks of `preflight` that need no warehouse (the command line
    checked the warehouse and the run lock before Prefect started)."""
    return preflight(paths.inbox, paths.rules_dir)


def stage_ingest(paths: BatchPaths, batch_date: date, run_id: str, settings: Settings, shard=None):
    """Ingest the inbox (with `shard`, that shard's part of it) into `paths.work_db`. A shard of
    several writes its validation report into its own folder of the run's reports."""
    from aftersales.ingest import InboxError, ingest_preflighted_inbox

    paths.work_dir.mkdir(parents=True, exist_ok=True)
    reports = paths.report_dir / run_id
    if shard is not None and shard.count > 1:
        reports = reports / shard.name
    try:
        return ingest_preflighted_inbox(
            paths.inbox, paths.work_db, batch_date, run_id, settings, reports, shard=shard
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


def stage_publish(
    paths: BatchPaths, batch_date: date, run_id: str, run_row: dict, shard_dbs: tuple[Path, ...] = ()
):
    """Swap the batch in, with this run's row and every attempt that ended without publishing.

    What is published is what the declared stages say they publish (`definitions.published_tables`),
    from every shard's work database (`shard_dbs`; none: the run's own work database) at once."""
    from aftersales.definitions import SHARED_TABLES, published_tables  # (definitions wires these stages)

    settled = pending_attempts(paths.warehouse, exclude={run_id})
    summary = publish_batch(
        list(shard_dbs) or paths.work_db,
        paths.warehouse,
        batch_date,
        [*settled, run_row],
        after_swap_in=create_views,
        tables=published_tables(),
        run_id=run_id,
        shared_tables=SHARED_TABLES,
    )
    clear_attempts(paths.warehouse, settled, also={run_id})
    remove_stale_work(paths)
    return summary


def record_started(paths: BatchPaths, row: dict) -> None:
    """Check the warehouse, take the run's lock, then journal the start. BatchRefused (journalled
    as a failed attempt) when the warehouse is unusable or another run of the date holds the lock.

    The lock is held until `discard_work` (success) or `record_failure` (failure) of this run
    id; a caller that already holds it in this thread (`claim_batch`) re-enters it.
    """
    run_id = row["run_id"]
    day = date.fromisoformat(str(row["batch_date"]))
    try:
        if (problem := warehouse_problem(paths.warehouse)) is not None:
            raise BatchRefused(problem)
        try:
            _run_locks[run_id] = run_lock.acquire(paths.warehouse, day)
        except run_lock.RunInProgress as exc:
            raise BatchRefused(str(exc)) from None
        except OSError as exc:
            raise BatchRefused(_lock_unavailable(paths.warehouse, day, exc)) from None
    except BatchRefused as exc:
        record_failed_attempt(
            paths.warehouse,
            {**row, "status": "failed", "finished_at": datetime.now(UTC).isoformat(), "error": one_line(exc)},
        )
        raise
    try:
        record_attempt_started(paths.warehouse, row)
    except BaseException:
        _release_run_lock(run_id)
        raise


def claim_batch(warehouse: Path, batch_date: date, *, wait: bool = False, on_wait=None) -> run_lock.RunLock:
    """The run lock of (warehouse, batch date) for a caller that then runs the flow in this
    thread (the flow's own `record_started` re-enters it): BatchRefused naming the running one,
    or with `wait`, `on_wait(message)` once and a wait until it ends."""
    try:
        try:
            return run_lock.acquire(warehouse, batch_date)
        except run_lock.RunInProgress as exc:
            if not wait:
                raise BatchRefused(str(exc)) from None
            if on_wait is not None:
                on_wait(str(exc).split(";")[0] + "; waiting for it to end")
        return run_lock.acquire(warehouse, batch_date, wait=True)
    except OSError as exc:
        raise BatchRefused(_lock_unavailable(warehouse, batch_date, exc)) from None


def _lock_unavailable(warehouse: Path, batch_date: date, exc: OSError) -> str:
    return f"run lock {run_lock.lock_path(warehouse, batch_date)} cannot be taken: {exc.strerror or exc}"


def release_batch(lock: run_lock.RunLock | None) -> None:
    if lock is not None:
        run_lock.release(lock)


def _release_run_lock(run_id: str) -> None:
    lock = _run_locks.pop(run_id, None)
    if lock is not None:
        run_lock.release(lock)


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
    """Journal a failed attempt; the run ends here, so its run lock (if any) is released."""
    try:
        record_failed_attempt(paths.warehouse, row)
    finally:
        _release_run_lock(row.get("run_id", ""))


def discard_work(paths: BatchPaths) -> None:
    """The run succeeded: drop its work folder and release its run lock (if any)."""
    try:
        shutil.rmtree(paths.work_dir, ignore_errors=True)
    finally:
        _release_run_lock(paths.work_dir.name)


def stage_action_queue(paths: BatchPaths, batch_date: date, run_id: str):
    """What sellers can still act on as of the batch end (after SLA and scoring, before publish)."""
    from aftersales.actions import build_action_queue

    return build_action_queue(paths.work_db, batch_date, run_id, paths.rules_dir)


def stage_report(paths: BatchPaths, batch_date: date, run_id: str) -> Path | None:
    from aftersales.report.page import write_report_page

    return write_report_page(
        paths.warehouse,
        batch_date,
        paths.report_dir / run_id,
        run_id=run_id,
        rules_dir=paths.rules_dir,
        index_dir=paths.report_dir,
    )


SKIPPED_FILES_SHOWN = 10
_UNKNOWN_SHOP_REASON = "shop folder % is not a Shop ID in %"


def skipped_file_lines(warehouse: str, batch_date: str, run_id: str) -> list[str]:
    """The run's skipped files, named on the console (not only in the `quarantine` table): shop
    folders missing from shops.csv first, then up to SKIPPED_FILES_SHOWN files with their reason."""
    import duckdb

    from aftersales.lakehouse.connect import open_warehouse

    con = open_warehouse(warehouse)
    try:
        skipped = con.execute(
            """SELECT source_file, coalesce(reason, '') AS reason, reason LIKE ? AS unknown_shop
               FROM file_ledger WHERE batch_date = CAST(? AS DATE) AND run_id = ? AND status = 'skipped'
               ORDER BY source_file""",
            [_UNKNOWN_SHOP_REASON, batch_date, run_id],
        ).fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        con.close()
    if not skipped:
        return []
    lines = []
    folders: dict[str, int] = {}
    for source_file, _, unknown_shop in skipped:
        if unknown_shop:
            folder = source_file.split("/", 1)[0]
            folders[folder] = folders.get(folder, 0) + 1
    if folders:
        named = ", ".join(
            f"{_printable(f)} ({n} file{'s' if n > 1 else ''})" for f, n in sorted(folders.items())
        )
        lines.append(f"shop folders not listed in shops.csv, not read: {named}")
    lines.append(f"skipped files ({len(skipped)}):")
    for source_file, reason, _ in skipped[:SKIPPED_FILES_SHOWN]:
        shown = reason if len(reason) <= 120 else reason[:117] + "..."
        lines.append(f"  {_printable(source_file)}: {_printable(shown)}")
    if len(skipped) > SKIPPED_FILES_SHOWN:
        lines.append(
            f"  ... and {len(skipped) - SKIPPED_FILES_SHOWN} more "
            f"(SELECT source_file, reason FROM file_ledger WHERE run_id = '{run_id}' AND status = 'skipped')"
        )
    return lines


def _printable(text: str) -> str:
    """A file name or reason as one inert console line: control characters (a newline, a terminal
    escape sequence in a hostile file name) are shown escaped, never interpreted."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        text
        if isinstance(exc, BatchRefused | RulePackError | UnitFailed)
        else f"{type(exc).__name__}: {text}"
    )
