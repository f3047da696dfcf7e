"""One run per batch date and warehouse at a time: the later one is refused, or waits if asked.

Two runs of the same batch date would both compute the date and the later publish would
silently replace the earlier one. Each run therefore holds an exclusive `flock` on a lock file
beside the warehouse, keyed by warehouse and batch date (`<warehouse>.run-<date>.lock`), from
its start to its end. The kernel drops the lock when its process dies, so a SIGKILLed run never
blocks the next. The holder writes its pid and start time into the file: the refusal names them.

Runs of different dates on one warehouse take different locks and still serialise where they
must, at the publish lock (aftersales.publish.swap.publish_lock).

Within one process the lock is re-entrant for the thread that holds it: the CLI takes it for a
fast refusal before Prefect starts, and the flow it then runs in the same thread takes it again.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

WAIT_POLL_S = 0.5
_HOLDER_READ_TRIES = 20  # the holder writes its pid right after locking: re-read briefly


class RunInProgress(Exception):
    """Another run of the same batch date on the same warehouse holds the run lock."""


@dataclass
class RunLock:
    path: Path
    handle: IO[str]
    thread: int
    depth: int = 1


_held: dict[Path, RunLock] = {}
_guard = threading.Lock()


def lock_path(warehouse: Path, batch_date: date) -> Path:
    """Beside the warehouse file (a DuckDB file or a lake's catalog file); for a PostgreSQL-catalog
    lake, in its shared data folder, so that every machine publishing to it sees the same lock."""
    from aftersales.lakehouse.location import WarehouseLocation

    sidecar = WarehouseLocation.parse(str(warehouse)).sidecar
    return sidecar.with_name(f"{sidecar.name}.run-{batch_date.isoformat()}.lock")


def acquire(
    warehouse: Path, batch_date: date, *, wait: bool = False, timeout_s: float | None = None
) -> RunLock:
    """Take the run lock of (warehouse, batch date); RunInProgress naming the holder when it is
    taken and `wait` is false (or `timeout_s` passes while waiting)."""
    path = lock_path(warehouse, batch_date)
    me = threading.get_ident()
    with _guard:
        held = _held.get(path)
        if held is not None and held.thread == me:
            held.depth += 1
            return held
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (deadline is not None and time.monotonic() > deadline):
                    raise RunInProgress(_refusal(warehouse, batch_date, path, waited=wait)) from None
                time.sleep(WAIT_POLL_S)
        with _guard:
            if path in _held:  # another thread of this process holds it: not re-entrant across threads
                raise RunInProgress(_refusal(warehouse, batch_date, path, waited=wait))
            lock = _held[path] = RunLock(path, handle, me)
        _write_holder(handle, batch_date)
        return lock
    except BaseException:
        handle.close()
        raise


def release(lock: RunLock) -> None:
    """Undo one `acquire`; the last one empties the holder line and drops the lock."""
    with _guard:
        lock.depth -= 1
        if lock.depth > 0:
            return
        _held.pop(lock.path, None)
    try:
        lock.handle.seek(0)
        lock.handle.truncate()
        lock.handle.flush()
    except OSError:
        pass  # the lock goes with the descriptor anyway
    finally:
        fcntl.flock(lock.handle, fcntl.LOCK_UN)
        lock.handle.close()


@contextmanager
def holding(
    warehouse: Path, batch_date: date, *, wait: bool = False, timeout_s: float | None = None
) -> Iterator[RunLock]:
    lock = acquire(warehouse, batch_date, wait=wait, timeout_s=timeout_s)
    try:
        yield lock
    finally:
        release(lock)


def holder(warehouse: Path, batch_date: date) -> dict:
    """What the current holder wrote (pid, started_at), or {} when unknown."""
    return _read_holder(lock_path(warehouse, batch_date))


def _write_holder(handle: IO[str], batch_date: date) -> None:
    line = json.dumps(
        {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "batch_date": batch_date.isoformat(),
        }
    )
    handle.seek(0)
    handle.truncate()
    handle.write(line + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _read_holder(path: Path) -> dict:
    for _ in range(_HOLDER_READ_TRIES):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            return {}
        if text:
            try:
                found = json.loads(text.splitlines()[0])
            except json.JSONDecodeError:
                found = None
            if isinstance(found, dict):
                return found
        time.sleep(0.05)
    return {}


def _refusal(warehouse: Path, batch_date: date, path: Path, *, waited: bool) -> str:
    found = _read_holder(path)
    who = (
        f"pid {found.get('pid')}, started {found.get('started_at')}"
        if found.get("pid")
        else f"pid unknown; lock file {path}"
    )
    if waited:
        return f"batch {batch_date} on {warehouse} is still running ({who}); gave up waiting"
    return (
        f"batch {batch_date} is already running on {warehouse} ({who}); "
        "wait for it with `aftersales run --wait-for-running`, or run again when it ends"
    )
