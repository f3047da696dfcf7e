"""How the batch opens DuckDB files: one place for the resource limits every stage runs under.

DuckDB's default buffer pool is 80 % of the machine's RAM and it keeps what it took, so a batch
whose stages each touch a few GiB would hold most of that for the whole night. A per-connection
`memory_limit` makes DuckDB spill large joins and aggregates to its temporary folder (beside the
database file, i.e. inside the run's work folder) instead. Settings: `duckdb_memory_limit`,
`duckdb_threads` (aftersales.example.toml; env AFTERSALES_DUCKDB_MEMORY_LIMIT and
AFTERSALES_DUCKDB_THREADS).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from aftersales.settings import Settings, load_settings


def duckdb_config(settings: Settings | None = None) -> dict[str, str | int]:
    """DuckDB configuration options of the batch's connections (empty values: DuckDB's default).

    Settings are read when a connection opens (a few file reads next to a database open), so a
    long-running `aftersales serve` process follows edits of the settings file and environment.
    """
    settings = settings or load_settings()
    config: dict[str, str | int] = {}
    if settings.duckdb_memory_limit:
        config["memory_limit"] = settings.duckdb_memory_limit
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    return config


def connect(path: str | Path, *, read_only: bool = False, settings: Settings | None = None):
    """Open a database file of the batch (work database, warehouse candidate) under the limits."""
    path = Path(path)
    config = duckdb_config(settings)
    if not read_only:
        config["temp_directory"] = str(path.with_name(path.name + ".tmp"))  # spill beside the file
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con
