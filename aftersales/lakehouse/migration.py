"""`aftersales migrate`: move a single-file DuckDB warehouse into a lake, every batch date and run.

Batch dates move in lake commits of up to a month of dates each (`DATES_PER_COMMIT`): delete the
dates' rows in every result table and in `runs`, insert the old file's, check every table's row
count per date inside the transaction, commit. Then one commit for the tables not keyed by batch
date (`calibration_*`, `replay_*`, ...) and the analyst views. Not one commit per date (4.5x
slower, measured) and not one for everything (a kill would lose it all, and memory would grow
with the history): a migration killed half-way keeps the months already moved and the next run
goes on from there.

Idempotent: a date whose every table already holds the old file's row counts (and the same run
ids) is skipped, so re-running never duplicates. A count that differs inside a transaction rolls
its dates back and refuses, naming table and date. A date the lake already holds from a run the
old file never saw (published into the lake after the switch) is refused rather than
overwritten. The old file is only read, and must be readable by this DuckDB (a file written by
DuckDB 2.x is refused in one line: see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from aftersales.analytics.views import create_views
from aftersales.lakehouse.commit import ensure_lake_schema
from aftersales.lakehouse.connect import COMMIT_AUTHOR, attach_lake, lake_session
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.publish.swap import publish_lock, warehouse_problem
from aftersales.settings import Settings, load_settings
from aftersales.warehouse_schema import BATCH_TABLES

LAKE, OLD = "lake", "old"
RUNS = "runs"
# Batch dates per lake commit: a month of nights. Measured on 30 sample-scale dates (2 shared cores
# under load): one commit per date 4.5 s/date, one commit for all 1.0 s/date (every statement is a
# catalog round trip, so few large commits win); a month per commit keeps nearly all of that speed
# while an interrupted migration loses at most one month's commit and resumes from there.
DATES_PER_COMMIT = 31


class MigrationRefused(RuntimeError):
    """The migration cannot start or a check failed (one line naming the table and date)."""


@dataclass
class MigrationSummary:
    source: str
    target: str
    dates_moved: list[str] = field(default_factory=list)
    dates_already_there: list[str] = field(default_factory=list)
    side_tables_moved: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # rows of each table now in the lake from the old file
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"migrated {self.source} -> {self.target}",
            f"batch dates: {len(self.dates_moved)} moved, {len(self.dates_already_there)} already there",
        ]
        if self.side_tables_moved:
            out.append(f"other tables moved: {', '.join(self.side_tables_moved)}")
        out += [f"  {table}: {n} rows (checked)" for table, n in sorted(self.rows.items())]
        out.append(f"took {self.seconds:.1f} s")
        return out


def migrate_warehouse(
    source: str | Path, db: str | Path | WarehouseLocation, *, settings: Settings | None = None
) -> MigrationSummary:
    """Move every batch date, run and side table of the DuckDB file `source` into the lake `db`."""
    settings = settings or load_settings()
    started = time.monotonic()
    source = Path(source).expanduser().resolve()
    location = WarehouseLocation.parse(db, settings)
    _check_ends(source, location)
    summary = MigrationSummary(str(source), location.display)
    with publish_lock(location.sidecar):
        con = lake_session(settings)
        try:
            con.execute(f"ATTACH '{_quoted(str(source))}' AS {OLD} (READ_ONLY)")
            attach_lake(con, location, read_only=False, alias=LAKE)
            con.execute(f"CALL {LAKE}.set_option('data_inlining_row_limit', 0)")
            con.execute(f"USE {LAKE}")
            _move_everything(con, source, summary)
        finally:
            con.close()
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _check_ends(source: Path, location: WarehouseLocation) -> None:
    if WarehouseLocation.parse(source).is_lake:
        raise MigrationRefused(f"--from {source} is already a lake; migrate moves a single DuckDB file")
    if not source.is_file():
        raise MigrationRefused(f"--from {source} does not exist or is not a file")
    if (problem := warehouse_problem(source)) is not None:
        raise MigrationRefused(problem)
    if not location.is_lake:
        raise MigrationRefused(
            f"--db {location.display} is not a lake: give PATH.ducklake or ducklake:postgres:CONNINFO"
        )


def _move_everything(con: duckdb.DuckDBPyConnection, source: Path, summary: MigrationSummary) -> None:
    old_tables = _tables(con, OLD)
    con.execute("BEGIN TRANSACTION")
    ensure_lake_schema(con, LAKE)
    side = sorted(old_tables - set(BATCH_TABLES) - {RUNS})
    for table in side:
        _ensure_side_table(con, table)
    keyed = [t for t in (*BATCH_TABLES, RUNS) if t in old_tables]
    _refuse_unknown_columns(con, keyed)
    con.execute("COMMIT")
    columns = {t: _common_columns(con, t) for t in keyed}
    old_counts, lake_counts = _counts_by_date(con, OLD, keyed), _counts_by_date(con, LAKE, keyed)
    old_runs, lake_runs = _runs_by_date(con, OLD), _runs_by_date(con, LAKE)
    to_move: list[date] = []
    for day in sorted({d for _t, d in old_counts}):
        want = {t: old_counts.get((t, day), 0) for t in keyed}
        there = {t: lake_counts.get((t, day), 0) for t in keyed}
        if want == there and old_runs.get(day) == lake_runs.get(day):
            summary.dates_already_there.append(day.isoformat())
            continue
        if newer := sorted(lake_runs.get(day, set()) - old_runs.get(day, set())):
            raise MigrationRefused(
                f"batch date {day} is already in the lake from run {newer[0]}, which {source.name} never saw: "
                "not overwriting it"
            )
        to_move.append(day)
    for start in range(0, len(to_move), DATES_PER_COMMIT):
        chunk = to_move[start : start + DATES_PER_COMMIT]
        _move_dates(con, source, columns, chunk, old_counts)
        summary.dates_moved += [d.isoformat() for d in chunk]
    summary.side_tables_moved = _move_side_tables(con, source, side)
    for table in keyed:
        summary.rows[table] = _total_check(con, table, keyed_by_date=True)
    for table in side:
        summary.rows[table] = _total_check(con, table, keyed_by_date=False)


def _move_dates(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    columns: dict[str, str],
    days: list[date],
    want: dict[tuple[str, date], int],
) -> None:
    """One commit replacing `days` in every table with the old file's rows, counts checked before it."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, cols in columns.items():
            con.execute(
                f"DELETE FROM {LAKE}.{table} WHERE batch_date IN (SELECT unnest($days))", {"days": days}
            )
            con.execute(
                f"INSERT INTO {LAKE}.{table} ({cols}) SELECT {cols} FROM {OLD}.{table} "
                "WHERE batch_date IN (SELECT unnest($days))",
                {"days": days},
            )
        got = _counts_by_date(con, LAKE, list(columns), days)
        for table in columns:
            for day in days:
                if (n := got.get((table, day), 0)) != (w := want.get((table, day), 0)):
                    raise MigrationRefused(
                        f"row count mismatch in {table} for {day}: {w} in {source.name}, {n} in the lake"
                    )
        span = days[0].isoformat() if len(days) == 1 else f"{days[0]} .. {days[-1]}"
        _commit_message(con, source, f"migrate batch dates {span}", batch_dates=[d.isoformat() for d in days])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _move_side_tables(con: duckdb.DuckDBPyConnection, source: Path, tables: list[str]) -> list[str]:
    """Tables not keyed by batch date, whole, in one commit with the views (only what is not there yet)."""
    moved = []
    con.execute("BEGIN TRANSACTION")
    try:
        for table in tables:
            want, have = _count(con, OLD, table), _count(con, LAKE, table)
            if want == have:
                continue
            if have:
                raise MigrationRefused(
                    f"{table} already holds {have} rows in the lake ({want} in {source.name}): migrate into a new lake"
                )
            cols = _common_columns(con, table)
            con.execute(f"INSERT INTO {LAKE}.{table} ({cols}) SELECT {cols} FROM {OLD}.{table}")
            if (got := _count(con, LAKE, table)) != want:
                raise MigrationRefused(
                    f"row count mismatch in {table}: {want} in {source.name}, {got} in the lake"
                )
            moved.append(table)
        views = {
            r[0]
            for r in con.execute(
                f"SELECT view_name FROM duckdb_views() WHERE database_name = '{LAKE}'"
            ).fetchall()
        }
        if moved or not views:
            create_views(con)
            _commit_message(con, source, "migrate tables not keyed by batch date, and views")
            con.execute("COMMIT")
        else:
            con.execute("ROLLBACK")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return moved


def _total_check(con: duckdb.DuckDBPyConnection, table: str, *, keyed_by_date: bool) -> int:
    """The old file's rows of `table` are all in the lake (same count per table); refuse otherwise."""
    want = _count(con, OLD, table)
    if keyed_by_date:
        got = con.execute(
            f"SELECT count(*) FROM {LAKE}.{table} WHERE batch_date IN (SELECT DISTINCT batch_date FROM {OLD}.{table})"
        ).fetchone()[0]
    else:
        got = _count(con, LAKE, table)
    if got != want:
        raise MigrationRefused(f"row count mismatch in {table}: {want} in the old file, {got} in the lake")
    return int(got)


def _ensure_side_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """A table the result schema does not declare: created in the lake with the old file's column types."""
    if table not in _tables(con, LAKE):
        con.execute(f"CREATE TABLE {LAKE}.{table} AS SELECT * FROM {OLD}.{table} LIMIT 0")
        return
    have = set(_columns(con, LAKE, table))
    for column, data_type in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [OLD, table],
    ).fetchall():
        if column not in have:
            con.execute(f'ALTER TABLE {LAKE}.{table} ADD COLUMN "{column}" {data_type}')


def _refuse_unknown_columns(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    """An old column the current schema lacks would be lost: refuse (a newer warehouse than this code)."""
    for table in tables:
        extra = sorted(set(_columns(con, OLD, table)) - set(_columns(con, LAKE, table)))
        if extra:
            raise MigrationRefused(
                f"{table} has columns this version does not know ({', '.join(extra)}): upgrade aftersales first"
            )


def _counts_by_date(
    con: duckdb.DuckDBPyConnection, catalog: str, tables: list[str], days: list[date] | None = None
) -> dict[tuple[str, date], int]:
    """Rows per (table, batch date), all tables in one query (each lake query is a catalog round trip)."""
    if not tables:
        return {}
    where = "WHERE batch_date IN (SELECT unnest($days))" if days is not None else ""
    union = " UNION ALL ".join(
        f"SELECT '{t}' AS t, batch_date, count(*) AS n FROM {catalog}.{t} {where} GROUP BY batch_date"
        for t in tables
    )
    rows = con.execute(union, {"days": days} if days is not None else {}).fetchall()
    return {(t, d): int(n) for t, d, n in rows}


def _runs_by_date(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[date, set[str]]:
    out: dict[date, set[str]] = {}
    if RUNS in _tables(con, catalog):
        for run_id, day in con.execute(f"SELECT run_id, batch_date FROM {catalog}.{RUNS}").fetchall():
            out.setdefault(day, set()).add(run_id)
    return out


def _count(con: duckdb.DuckDBPyConnection, catalog: str, table: str, day: date | None = None) -> int:
    if day is None:
        return int(con.execute(f"SELECT count(*) FROM {catalog}.{table}").fetchone()[0])
    return int(
        con.execute(f"SELECT count(*) FROM {catalog}.{table} WHERE batch_date = ?", [day]).fetchone()[0]
    )


def _common_columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    have = set(_columns(con, OLD, table))
    return ", ".join(f'"{c}"' for c in _columns(con, LAKE, table) if c in have)


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [catalog, table],
        ).fetchall()
    ]


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_type = 'BASE TABLE'",
            [catalog],
        ).fetchall()
    }


def _commit_message(con: duckdb.DuckDBPyConnection, source: Path, message: str, **extra) -> None:
    info = json.dumps({"migrated_from": str(source), **extra}, sort_keys=True)
    con.execute(f"CALL {LAKE}.set_commit_message(?, ?, extra_info => ?)", [COMMIT_AUTHOR, message, info])


def _quoted(text: str) -> str:
    return text.replace("'", "''")
