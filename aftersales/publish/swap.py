"""Atomic publish: a batch's results appear in the warehouse in one step, or not at all.

A lakehouse warehouse (`.ducklake`, `ducklake:postgres:...`) is published by one DuckLake
transaction instead (aftersales.lakehouse.commit), under the same publish lock; what follows is
the single-file warehouse.

The nightly run never writes the warehouse while it works: every stage writes a private work
database. Publishing then
  1. takes an exclusive publish lock (one publisher at a time),
  2. copies the current warehouse to a temporary file beside it,
  3. in that copy, in one transaction, deletes the batch date's rows from every batch table and
     inserts the work database's rows, appends the `runs` rows, refreshes the views,
  4. checkpoints, fsyncs and `os.replace`s the copy over the warehouse.

A reader that opened the warehouse before step 4 keeps reading the old file (POSIX keeps the
inode alive); one that opens it afterwards sees the new batch. Readers never wait on the
nightly writer, and a run killed at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from aftersales import database
from aftersales.failpoints import failpoint
from aftersales.lakehouse.commit import commit_batch, lake_problem
from aftersales.lakehouse.location import LocationError, WarehouseLocation
from aftersales.sql_quoting import sql_literal
from aftersales.warehouse_schema import BATCH_TABLES, create_result_tables

TMP_SUFFIX = ".publish.tmp"
# A DuckDB file starts with an 8-byte checksum, then the magic bytes "DUCK".
_MAGIC, _MAGIC_AT, _HEADER_BYTES = b"DUCK", 8, 16


class WarehouseUnusable(Exception):
    """The warehouse file exists but is not a DuckDB database this DuckDB can publish into."""


@dataclass(frozen=True)
class PublishSummary:
    warehouse: str
    batch_date: str
    rows: dict[str, int]
    seconds: float


@contextmanager
def publish_lock(warehouse: Path, timeout_s: float = 600.0):
    """Serialise publishers of one warehouse (two nightly runs, a backfill and a manual run)."""
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another run is publishing to {warehouse}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _settle_wal(warehouse: Path) -> None:
    """Fold a leftover write-ahead log into the warehouse file before it is copied."""
    if Path(str(warehouse) + ".wal").exists():
        con = duckdb.connect(str(warehouse))
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()


def warehouse_problem(warehouse: Path | str) -> str | None:
    """Why an existing warehouse cannot be published into (one line naming it); None if it can.

    A lake is checked by attaching its catalog read-only (aftersales.lakehouse.commit.lake_problem).

    A missing file is fine (the first publish creates it). Anything else must be a DuckDB
    database this DuckDB can open: checked read-only before a batch spends its night, so a
    0-byte, garbage, folder or incompatible-version warehouse is refused up front rather than
    failing at publish. A database locked by another process is in use, not broken: no problem.
    """
    try:
        location = WarehouseLocation.parse(warehouse)
    except LocationError as exc:
        return str(exc)
    if location.is_lake:
        return lake_problem(location)
    warehouse = Path(warehouse)
    try:
        st = warehouse.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"warehouse {warehouse} cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return f"warehouse {warehouse} is not a DuckDB database file (it is a folder or other non-file)"
    if st.st_size == 0:
        return f"warehouse {warehouse} is not a DuckDB database: the file is empty (0 bytes)"
    try:
        with open(warehouse, "rb") as fh:
            head = fh.read(_HEADER_BYTES)
    except OSError as exc:
        return f"warehouse {warehouse} cannot be read: {exc.strerror or exc}"
    if head[_MAGIC_AT : _MAGIC_AT + len(_MAGIC)] != _MAGIC:
        return f"warehouse {warehouse} is not a DuckDB database (no DuckDB file header)"
    try:
        duckdb.connect(str(warehouse), read_only=True).close()
    except duckdb.Error as exc:
        text = " ".join(str(exc).split())
        if "could not set lock on file" in text.lower():  # in use by another process, not broken
            return None
        return f"warehouse {warehouse} is not a DuckDB database this DuckDB {duckdb.__version__} can open: {text}"
    return None


def remove_stale_temporaries(warehouse: Path) -> None:
    """Temporaries left by a killed publish are garbage: the warehouse itself is intact."""
    for leftover in warehouse.parent.glob(warehouse.name + TMP_SUFFIX + "*"):
        leftover.unlink(missing_ok=True)


def table_columns(con: duckdb.DuckDBPyConnection, table: str, catalog: str | None = None) -> list[str]:
    where = "table_name = ?" + (" AND table_catalog = ?" if catalog else "")
    params = [table, catalog] if catalog else [table]
    rows = con.execute(
        f"SELECT column_name FROM information_schema.columns WHERE {where} ORDER BY ordinal_position",
        params,
    ).fetchall()
    return [r[0] for r in rows]


def insert_common_columns(
    con: duckdb.DuckDBPyConnection,
    target: str,
    source: str,
    where: str = "",
    params=(),
    extra: dict | None = None,
) -> None:
    """INSERT into `target` the columns it shares with `source` (plus constant `extra` columns), by name.

    `target` and `source` are `catalog.table` (a catalog is named after its file, e.g. `my-wh`, so
    both parts are quoted); a column only one side has is left out, so a warehouse with older or
    newer columns than the work database still takes the rows.
    """
    target_cat, target_table = target.split(".")
    source_cat, source_table = source.split(".")
    have = set(table_columns(con, source_table, source_cat))
    extra = extra or {}
    cols = [c for c in table_columns(con, target_table, target_cat) if c in have and c not in extra]
    names = ", ".join(f'"{c}"' for c in [*extra, *cols])
    values = ", ".join(["?"] * len(extra) + [f'"{c}"' for c in cols])
    con.execute(
        f'INSERT INTO "{target_cat}"."{target_table}" ({names}) '
        f'SELECT {values} FROM "{source_cat}"."{source_table}" {where}',
        [*extra.values(), *params],
    )


def publish_batch(
    work_db: Path | Sequence[Path],
    warehouse: Path,
    batch_date: date,
    run_rows: Iterable[dict],
    after_swap_in: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    tables: Iterable[str] = BATCH_TABLES,
    run_id: str | None = None,
    shared_tables: Iterable[str] = (),
) -> PublishSummary:
    """Replace `batch_date` in the warehouse with the work database's results, atomically.

    `work_db` may be several work databases (one per shard), published together in the same one
    step; a table of `shared_tables` (the same in every shard) is taken from the first only.

    `run_rows` are appended to `runs` (failed attempts journalled earlier plus this run);
    `after_swap_in` runs inside the copy before it is swapped in (views are created there), or
    inside the lake transaction. A lake commit is tagged with `run_id` (default: the last run
    row's, i.e. the publishing run's) so that `--as-of RUN_ID` finds its snapshot.
    """
    started = time.monotonic()
    work_dbs = [Path(work_db)] if isinstance(work_db, str | Path) else [Path(p) for p in work_db]
    location = WarehouseLocation.parse(warehouse)
    if location.is_lake:
        run_rows = list(run_rows)
        tag = run_id or (str(run_rows[-1]["run_id"]) if run_rows else f"publish-{batch_date.isoformat()}")
        with publish_lock(location.sidecar):
            rows = commit_batch(
                work_dbs,
                location,
                batch_date,
                run_rows,
                run_id=tag,
                after_write=after_swap_in,
                tables=tables,
                shared_tables=shared_tables,
            )
        return PublishSummary(
            location.display, batch_date.isoformat(), rows, round(time.monotonic() - started, 3)
        )
    warehouse = Path(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    with publish_lock(warehouse):
        remove_stale_temporaries(warehouse)
        if (problem := warehouse_problem(warehouse)) is not None:
            raise WarehouseUnusable(problem)
        tmp = warehouse.with_name(f"{warehouse.name}{TMP_SUFFIX}{os.getpid()}")
        try:
            _publish_copy(
                work_dbs,
                warehouse,
                tmp,
                batch_date,
                run_rows,
                after_swap_in,
                tables,
                rows,
                set(shared_tables),
            )
        except BaseException:
            # Whatever failed (copy, open, write, checkpoint, fsync, swap), the copy is garbage.
            for leftover in (tmp, Path(str(tmp) + ".wal")):
                leftover.unlink(missing_ok=True)
            raise
    return PublishSummary(str(warehouse), batch_date.isoformat(), rows, round(time.monotonic() - started, 3))


def _publish_copy(
    work_dbs: list[Path],
    warehouse: Path,
    tmp: Path,
    batch_date: date,
    run_rows: Iterable[dict],
    after_swap_in: Callable[[duckdb.DuckDBPyConnection], None] | None,
    tables: Iterable[str],
    rows: dict[str, int],
    shared_tables: set[str],
) -> None:
    """Steps 2-4: copy, rewrite the batch in the copy, swap it in (`rows` gets the counts)."""
    if warehouse.exists():
        _settle_wal(warehouse)
        shutil.copyfile(warehouse, tmp)
    con = database.connect(tmp)
    try:
        create_result_tables(con)
        aliases = [f"work_{n}" for n in range(len(work_dbs))]
        for alias, path in zip(aliases, work_dbs, strict=True):
            con.execute(f"ATTACH {sql_literal(str(path))} AS {alias} (READ_ONLY)")
        work_tables = {
            (r[0], r[1])
            for r in con.execute(
                "SELECT table_catalog, table_name FROM information_schema.tables WHERE list_contains(?, table_catalog)",
                [aliases],
            ).fetchall()
        }
        main_catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute("BEGIN TRANSACTION")
        for table in tables:
            con.execute(f"DELETE FROM main.{table} WHERE batch_date = ?", [batch_date])
            for alias in aliases[:1] if table in shared_tables else aliases:
                if (alias, table) in work_tables:
                    insert_common_columns(
                        con,
                        f"{main_catalog}.{table}",
                        f"{alias}.{table}",
                        "WHERE batch_date = ?",
                        [batch_date],
                    )
            rows[table] = con.execute(
                f"SELECT count(*) FROM main.{table} WHERE batch_date = ?", [batch_date]
            ).fetchone()[0]
        for run in run_rows:
            cols = list(run)
            con.execute(
                f"INSERT OR IGNORE INTO main.runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [run[c] for c in cols],
            )
        failpoint("publish-before-commit")
        con.execute("COMMIT")
        for alias in aliases:
            con.execute(f"DETACH {alias}")
        if after_swap_in is not None:
            after_swap_in(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if Path(str(tmp) + ".wal").exists():
        raise RuntimeError(f"{tmp}: write-ahead log left after checkpoint; not publishing")
    _fsync_path(tmp)
    failpoint("publish-before-swap")
    os.replace(tmp, warehouse)
    _fsync_path(warehouse.parent)
    failpoint("publish-after-swap")
