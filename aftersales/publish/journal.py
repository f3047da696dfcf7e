"""Run journal: attempts are recorded beside the warehouse, never inside it.

A failed batch must leave the warehouse exactly as it was, yet `runs` must show every attempt,
including one killed without a chance to say so. So each run appends a `running` line (with its
pid) to `<warehouse>.attempts.jsonl` when it starts, and a `failed` line if it fails. The next
successful publish settles the journal: failed attempts, and running ones whose process is
gone (killed or crashed), go into `runs` in the same atomic step as its own results, and their
lines are cleared. `runs.run_id` is a primary key and rows go in with INSERT OR IGNORE, so
settling twice (a kill between swap and clear) never duplicates a row.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil

from aftersales.lakehouse.location import WarehouseLocation

KILLED = "killed or crashed before publishing (no failure was recorded)"


def journal_path(warehouse: Path | str) -> Path:
    """Beside the warehouse file or the lake's SQLite catalog; a PostgreSQL-catalog lake keeps it in
    its shared data folder (WarehouseLocation.sidecar). Never inside the warehouse: an attempt that
    fails must leave no trace there (no snapshot, no rows) until a publish settles it."""
    sidecar = WarehouseLocation.parse(warehouse).sidecar
    return sidecar.with_name(sidecar.name + ".attempts.jsonl")


def _append(warehouse: Path, row: dict) -> None:
    path = journal_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def record_attempt_started(warehouse: Path, run_row: dict) -> None:
    """Say a run has begun, so that a kill leaves a trace the next publish can report."""
    _append(warehouse, {**run_row, "status": "running", "pid": os.getpid(), "pid_started": time.time()})


def record_failed_attempt(warehouse: Path, run_row: dict) -> None:
    _append(warehouse, run_row)


def _lines(warehouse: Path) -> list[dict]:
    path = journal_path(warehouse)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write carries nothing usable
    return rows


def _alive(row: dict) -> bool:
    """Is the process that wrote this `running` line still that same process?"""
    try:
        proc = psutil.Process(int(row["pid"]))
        return proc.is_running() and proc.create_time() <= float(row.get("pid_started", 0)) + 1
    except (psutil.Error, KeyError, ValueError, TypeError):
        return False


def pending_attempts(warehouse: Path, exclude: set[str] = frozenset()) -> list[dict]:
    """Attempts that ended without publishing, as `runs` rows (status failed).

    A run still in progress (its process alive) and the runs in `exclude` (the publishing run
    itself) are left out.
    """
    by_run: dict[str, dict] = {}
    for row in _lines(warehouse):
        run_id = row.get("run_id")
        if not run_id or run_id in exclude:
            continue
        if row.get("status") == "running":
            if run_id not in by_run and not _alive(row):
                settled = {k: v for k, v in row.items() if k not in ("pid", "pid_started")}
                by_run[run_id] = {**settled, "status": "failed", "error": KILLED, "finished_at": None}
        else:
            by_run[run_id] = row
    return list(by_run.values())


def running_attempts(warehouse: Path) -> list[dict]:
    """Runs that have started and whose process is still alive."""
    lines = _lines(warehouse)
    finished = {r.get("run_id") for r in lines if r.get("status") != "running"}
    return [
        r for r in lines if r.get("status") == "running" and r.get("run_id") not in finished and _alive(r)
    ]


def clear_attempts(warehouse: Path, settled: list[dict], also: set[str] = frozenset()) -> None:
    """Drop the journal lines of runs now in `runs` (settled attempts and the publishing run)."""
    path = journal_path(warehouse)
    if not path.exists():
        return
    done = {r.get("run_id") for r in settled} | set(also)
    remaining = [r for r in _lines(warehouse) if r.get("run_id") not in done]
    if remaining:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in remaining), encoding="utf-8")
        os.replace(tmp, path)
    else:
        path.unlink(missing_ok=True)
