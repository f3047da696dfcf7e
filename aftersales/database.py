"""How the batch opens DuckDB files: one place for the resource limits every stage runs under.

DuckDB's default buffer pool is 80 % of the machine's RAM and it keeps what it took, so a batch
whose stages each touch a few GiB would hold most of that for the whole night. A per-connection
`memory_limit` makes DuckDB spill large joins and aggregates to its temporary folder (beside the
database file, i.e. inside the run's work folder) instead. Settings: `duckdb_memory_limit`,
`duckdb_threads` (aftersales.example.toml; env AFTERSALES_DUCKDB_MEMORY_LIMIT and
AFTERSALES_DUCKDB_THREADS).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import duckdb

from aftersales.settings import Settings, load_settings

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB|B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_UNIT |= {"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}

# The DuckDB budget of the task running in this context (memory_limit, threads): set by a shard
# task below its worker's limits (aftersales.task_runners), read by every connection it opens.
_task_budget: ContextVar[tuple[str, int] | None] = ContextVar("aftersales_duckdb_task_budget", default=None)


@contextmanager
def task_budget(budget: tuple[str, int] | None) -> Iterator[None]:
    """Open this context's DuckDB connections with `budget` = (memory_limit, threads); None: settings."""
    token = _task_budget.set(budget)
    try:
        yield
    finally:
        _task_budget.reset(token)


def parse_bytes(text: str) -> int | None:
    """'1536MB', '2GiB', '512 MiB' -> bytes; None for '' or anything else."""
    found = _SIZE.match(text or "")
    if not found:
        return None
    return int(float(found.group(1)) * _UNIT[(found.group(2) or "").upper()])


def current_task_budget() -> tuple[str, int] | None:
    return _task_budget.get()


def duckdb_config(settings: Settings | None = None) -> dict[str, str | int]:
    """DuckDB configuration options of the batch's connections (empty values: DuckDB's default).

    Settings are read when a connection opens (a few file reads next to a database open), so a
    long-running `aftersales serve` process follows edits of the settings file and environment.
    Inside a task with a budget (`task_budget`), the budget wins: several tasks share a machine
    or a Dask worker, and DuckDB's defaults would each take the whole of it.
    """
    settings = settings or load_settings()
    config: dict[str, str | int] = {}
    if settings.duckdb_memory_limit:
        config["memory_limit"] = settings.duckdb_memory_limit
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    if (budget := _task_budget.get()) is not None:
        memory, threads = budget
        if memory:
            config["memory_limit"] = memory
        config["threads"] = threads
    return config


def connect(path: str | Path, *, read_only: bool = False, settings: Settings | None = None):
    """Open a database file of the batch (work database, warehouse candidate) under the limits."""
    path = Path(path)
    config = duckdb_config(settings)
    if not read_only:
        config["temp_directory"] = str(path.with_name(path.name + ".tmp"))  # spill beside the file
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    con.execute("SET TimeZone = 'UTC'")
    # Nobody watches a batch connection's progress bar; redirected, it floods the run's output.
    con.execute("SET enable_progress_bar = false")
    return con
