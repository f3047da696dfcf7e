"""Publishing one batch date into a DuckLake: one catalog transaction, O(batch) whatever the history.

In one DuckLake transaction (one snapshot) the publish
  1. creates missing result tables from `aftersales.warehouse_schema` (partitioned by
     `batch_date`) and appends columns added since (tables only ever gain columns);
  2. for every published table, deletes the batch date's rows and inserts the work database's
     rows of that date (attached read-only), by column name;
  3. appends the `runs` rows (this run plus settled attempts; a run id already there is skipped);
  4. refreshes the analyst views (`after_write`), tags the commit with the run id, commits.

Deleting a whole date removes whole Parquet files of its partition (no delete files), and new
rows go to new files: the cost follows the batch, not the history. Until the commit, readers
(other processes included) see the previous snapshot; a kill before it leaves only orphan
Parquet files, which `aftersales maintain` removes. The caller holds the publish lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path

import duckdb

from aftersales.failpoints import failpoint
from aftersales.lakehouse.connect import (
    COMMIT_AUTHOR,
    LAKE_ALIAS,
    attach_lake,
    commit_info,
    lake_session,
)
from aftersales.lakehouse.extensions import ExtensionMissing
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.settings import Settings, load_settings
from aftersales.warehouse_schema import BATCH_TABLES, RESULT_DDL, expected_columns

WORK_ALIAS = "work"
RUNS_TABLE = "runs"
PARTITION_COLUMN = "batch_date"
# DuckLake has no PRIMARY KEY / UNIQUE constraints: `runs` stays unique by run id because
# rows go in only when their run id is absent (step 3).
_KEY_CONSTRAINT = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE)\b", re.IGNORECASE)


class LakeUnusable(RuntimeError):
    """The lake's catalog cannot be attached for writing (one line naming it)."""


def lake_ddl(ddl: str) -> str:
    """A result table's DDL as DuckLake takes it (key constraints dropped)."""
    return _KEY_CONSTRAINT.sub("", ddl)


def _columns(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    """table -> its columns in order, for every table of a catalog (one catalog query, not one per table)."""
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = ? "
        "ORDER BY table_name, ordinal_position",
        [catalog],
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_type = 'BASE TABLE'",
        [catalog],
    ).fetchall()
    return {r[0] for r in rows}


def ensure_lake_schema(con: duckdb.DuckDBPyConnection, alias: str = LAKE_ALIAS) -> list[str]:
    """Create missing result tables (batch tables partitioned by date) and append new columns.

    Returns what changed (`table` or `table.column`). Runs inside the caller's transaction.
    """
    changed: list[str] = []
    present = _tables(con, alias)
    columns_now = _columns(con, alias)
    for table, ddl in RESULT_DDL.items():
        if table in present:
            continue
        con.execute(lake_ddl(ddl).replace("CREATE TABLE IF NOT EXISTS ", f"CREATE TABLE {alias}.", 1))
        if table != RUNS_TABLE:
            con.execute(f"ALTER TABLE {alias}.{table} SET PARTITIONED BY ({PARTITION_COLUMN})")
        changed.append(table)
    for table, columns in expected_columns().items():
        if table in changed:
            continue  # just created from the DDL: nothing to append
        have = set(columns_now.get(table, ()))
        for column, data_type in columns:
            if column not in have:
                con.execute(f'ALTER TABLE {alias}.{table} ADD COLUMN "{column}" {data_type}')
                changed.append(f"{table}.{column}")
    return changed


def _replace_date(
    con: duckdb.DuckDBPyConnection,
    table: str,
    batch_date: date,
    lake_columns: list[str],
    sources: list[tuple[str, list[str]]],
) -> int:
    """Delete the date's rows of `table` in the lake and insert the work databases' rows, by column name.

    `sources` are (work catalog, its columns of the table), one per shard that has the table: one
    INSERT of their UNION ALL, so a table gets its files in one write. Returns the rows now there
    for the date (all of them inserted by this statement). A column missing from a source is left
    out: the lake keeps older columns NULL, the work database's newer ones wait for the schema step.
    """
    con.execute(f"DELETE FROM {LAKE_ALIAS}.{table} WHERE {PARTITION_COLUMN} = ?", [batch_date])
    sources = [(alias, columns) for alias, columns in sources if columns]
    if not sources:
        return 0
    shared = set.intersection(*(set(columns) for _, columns in sources))
    cols = ", ".join(f'"{c}"' for c in lake_columns if c in shared)
    union = " UNION ALL ".join(
        f"SELECT {cols} FROM {alias}.{table} WHERE {PARTITION_COLUMN} = $day" for alias, _ in sources
    )
    return con.execute(f"INSERT INTO {LAKE_ALIAS}.{table} ({cols}) {union}", {"day": batch_date}).fetchone()[
        0
    ]


def _append_runs(con: duckdb.DuckDBPyConnection, run_rows: Iterable[dict]) -> int:
    """Append `runs` rows whose run id is not there yet (settling twice never duplicates)."""
    appended = 0
    for run in run_rows:
        cols = list(run)
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        appended += con.execute(
            f"INSERT INTO {LAKE_ALIAS}.{RUNS_TABLE} ({names}) SELECT {marks} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {LAKE_ALIAS}.{RUNS_TABLE} WHERE run_id = ?)",
            [*(run[c] for c in cols), run["run_id"]],
        ).fetchone()[0]
    return appended


def commit_batch(
    work_db: Path | Sequence[Path],
    location: WarehouseLocation,
    batch_date: date,
    run_rows: Iterable[dict],
    *,
    run_id: str,
    after_write: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    tables: Iterable[str] = BATCH_TABLES,
    settings: Settings | None = None,
    shared_tables: Iterable[str] = (),
) -> dict[str, int]:
    """Replace `batch_date` in the lake with the work database's rows in one snapshot tagged `run_id`.

    `work_db` may be several work databases (one per shard): their rows go in together, in the
    same snapshot; a table of `shared_tables` (the same in every shard, e.g. rule_catalog) is
    taken from the first only.

    `after_write(con)` runs inside the transaction with the lake as the default catalog (the
    pipeline refreshes the views there). Returns the rows now in each table for the date.
    Failpoints: `publish-between-tables` (after the first table is rewritten),
    `publish-before-commit`, `publish-after-commit`.
    """
    settings = settings or load_settings()
    run_rows = list(run_rows)
    tables = list(tables)
    work_dbs = [Path(work_db)] if isinstance(work_db, str | Path) else [Path(p) for p in work_db]
    shared_tables = set(shared_tables)
    con = lake_session(settings)
    con.execute(f"SET temp_directory = '{_quoted(str(work_dbs[0].parent / 'lake-publish.tmp'))}'")
    rows: dict[str, int] = {}
    try:
        try:
            attach_lake(con, location, read_only=False)
        except duckdb.Error as exc:
            raise LakeUnusable(
                f"warehouse {location.display} cannot be opened as a DuckLake: {' '.join(str(exc).split())}"
            ) from exc
        con.execute(f"CALL {LAKE_ALIAS}.set_option('data_inlining_row_limit', 0)")
        aliases = [WORK_ALIAS if n == 0 else f"{WORK_ALIAS}_{n}" for n in range(len(work_dbs))]
        for alias, path in zip(aliases, work_dbs, strict=True):
            con.execute(f"ATTACH '{_quoted(str(path))}' AS {alias} (READ_ONLY)")
        work_columns = {alias: _columns(con, alias) for alias in aliases}
        con.execute(f"USE {LAKE_ALIAS}")
        con.execute("BEGIN TRANSACTION")
        ensure_lake_schema(con)
        lake_columns = _columns(con, LAKE_ALIAS)
        for n, table in enumerate(tables):
            readers = aliases[:1] if table in shared_tables else aliases
            sources = [(alias, work_columns[alias].get(table, [])) for alias in readers]
            rows[table] = _replace_date(con, table, batch_date, lake_columns[table], sources)
            if n == 0:
                failpoint("publish-between-tables")
        _append_runs(con, run_rows)
        if after_write is not None:
            after_write(con)
        con.execute(
            f"CALL {LAKE_ALIAS}.set_commit_message(?, ?, extra_info => ?)",
            [
                COMMIT_AUTHOR,
                f"publish batch {batch_date.isoformat()} (run {run_id})",
                commit_info(run_id, batch_date.isoformat()),
            ],
        )
        failpoint("publish-before-commit")
        con.execute("COMMIT")
        failpoint("publish-after-commit")
    finally:
        con.close()
    return rows


# What DuckLake says when a read-only attach finds a catalog database with no lake in it yet.
_NO_LAKE_YET = "creating a new DuckLake is explicitly disabled"


def lake_problem(location: WarehouseLocation, settings: Settings | None = None) -> str | None:
    """Why an existing lake cannot be published into (one line), or None (absent is fine)."""
    path = location.catalog_file
    if path is not None:
        if not path.exists():
            return None
        if not path.is_file():
            return (
                f"warehouse {location.display} is not a DuckLake catalog (it is a folder or other non-file)"
            )
    con = lake_session(settings)
    try:
        attach_lake(con, location, read_only=True)
    except ExtensionMissing as exc:
        return str(exc)
    except duckdb.Error as exc:
        text = " ".join(str(exc).split())
        if location.catalog_backend == "postgres" and _NO_LAKE_YET in text:
            return None  # an empty catalog database: the first publish creates the lake in it
        return f"warehouse {location.display} is not a DuckLake this DuckDB {duckdb.__version__} can open: {text}"
    finally:
        con.close()
    return None


def _quoted(text: str) -> str:
    return text.replace("'", "''")
