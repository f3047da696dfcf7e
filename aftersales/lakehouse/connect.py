"""The one way production code opens the warehouse, whatever `--db` names.

`open_warehouse` returns a DuckDB connection on which every result table and analyst view
answers to its plain name (`SELECT * FROM rulings`), in UTC, for both kinds of warehouse:

- a DuckDB file is opened directly (read-only unless asked; readers never block the publish,
  which swaps a new file in);
- a DuckLake is ATTACHed `AS lake` and made the default catalog (`USE lake`) on an in-memory
  session. A read-only reader sees the last committed snapshot and never blocks or is blocked
  by a publish (each publish is one catalog transaction). `as_of_run` attaches the snapshot the
  run's publish committed (time travel: what the warehouse said after that night).

Views the warehouse does not carry (an older warehouse) are added as temporary views of the session.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from aftersales.database import duckdb_config
from aftersales.lakehouse.extensions import connection_config, extensions_for, load_extensions
from aftersales.lakehouse.location import LocationError, WarehouseLocation
from aftersales.settings import Settings, load_settings

LAKE_ALIAS = "lake"
# A warehouse without these (nothing published yet) has nothing for the views to read.
RESULT_TABLES_NEEDED_BY_VIEWS = frozenset({"runs", "rulings"})
COMMIT_AUTHOR = "aftersales"


class AsOfUnavailable(LocationError):
    """`--as-of` asked of a warehouse (or a run) that has no such snapshot."""


def lake_session(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session (UTC, batch resource limits) with the lake extensions loaded."""
    settings = settings or load_settings()
    return _in_utc(
        duckdb.connect(":memory:", config={**duckdb_config(settings), **connection_config(settings)})
    )


def _in_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The connection with its session in UTC (closed if that fails): instants print as UTC."""
    try:
        con.execute("SET TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def attach_lake(
    con: duckdb.DuckDBPyConnection,
    location: WarehouseLocation,
    *,
    read_only: bool = True,
    snapshot_version: int | None = None,
    alias: str = LAKE_ALIAS,
) -> None:
    """ATTACH the lake `AS alias` (loading its extensions). Writable: Parquet only, never inlined rows.

    DuckLake would otherwise keep small inserts as rows in the catalog database, where neither
    Parquet readers nor partition deletes see them the same way; `DATA_INLINING_ROW_LIMIT 0`
    sends every row to a Parquet file under the data path.
    """
    if not location.is_lake:
        raise LocationError(f"warehouse {location.display} is a DuckDB file, not a lake")
    load_extensions(con, extensions_for(location.catalog_backend))
    options = [f"DATA_PATH '{_quoted(location.data_path or '')}'"]
    if location.catalog_backend == "sqlite":
        # A `.ducklake`'s files are `PATH.files/` by definition (paths inside are relative to
        # it), so a lake copied or moved together with its folder opens where it now is.
        options.append("OVERRIDE_DATA_PATH TRUE")
    if read_only:
        options.append("READ_ONLY")
    else:
        options.append("DATA_INLINING_ROW_LIMIT 0")
    if snapshot_version is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot_version)}")
    con.execute(f"ATTACH '{_quoted(location.catalog)}' AS {alias} ({', '.join(options)})")


def snapshot_of_run(con: duckdb.DuckDBPyConnection, run_id: str, alias: str = LAKE_ALIAS) -> int | None:
    """The snapshot a run's publish committed (its commit carries the run id), or None."""
    rows = con.execute(
        f"SELECT snapshot_id, commit_extra_info FROM {alias}.snapshots() "
        "WHERE commit_extra_info IS NOT NULL ORDER BY snapshot_id DESC"
    ).fetchall()
    for snapshot_id, extra in rows:
        try:
            if json.loads(extra).get("run_id") == run_id:
                return int(snapshot_id)
        except (ValueError, AttributeError):
            continue
    return None


def commit_info(run_id: str, batch_date: str, **more: str) -> str:
    """The extra info a publish commit carries: how `snapshot_of_run` finds a run's snapshot."""
    return json.dumps({"run_id": run_id, "batch_date": batch_date, **more}, sort_keys=True)


def open_warehouse(
    db: str | Path | WarehouseLocation,
    *,
    read_only: bool = True,
    as_of_run: str | None = None,
    settings: Settings | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse named by `db` with result tables and `v_*` views under their plain names.

    FileNotFoundError when nothing was published there yet (read-only); AsOfUnavailable (one
    line) for `as_of_run` on a DuckDB file, on a writable connection, or for a run with no snapshot.
    """
    settings = settings or load_settings()
    location = WarehouseLocation.parse(db, settings)
    if as_of_run is not None and not location.is_lake:
        raise AsOfUnavailable(
            f"--as-of needs a lakehouse warehouse (.ducklake): {location.display} is a single DuckDB file, "
            "which keeps no history"
        )
    if as_of_run is not None and not read_only:
        raise AsOfUnavailable("--as-of opens a past snapshot, which is read-only")
    if read_only and not location.exists:
        raise FileNotFoundError(f"warehouse {location.display} does not exist (run `aftersales run` first)")
    if location.is_lake:
        try:
            con = _open_lake(location, read_only=read_only, as_of_run=as_of_run, settings=settings)
        except duckdb.Error as exc:
            if read_only and "creating a new DuckLake is explicitly disabled" in str(exc):
                raise FileNotFoundError(
                    f"warehouse {location.display} holds no lake yet (run `aftersales run` first)"
                ) from None
            raise
    else:
        con = _open_file(location, read_only=read_only, settings=settings)
    try:
        _add_missing_views(con)
    except BaseException:
        con.close()
        raise
    return con


def _open_file(
    location: WarehouseLocation, *, read_only: bool, settings: Settings
) -> duckdb.DuckDBPyConnection:
    path = Path(location.catalog)
    if read_only and not path.is_file():
        raise FileNotFoundError(f"warehouse {location.display} is not a file")
    return _in_utc(duckdb.connect(str(path), read_only=read_only, config=duckdb_config(settings)))


def _open_lake(
    location: WarehouseLocation, *, read_only: bool, as_of_run: str | None, settings: Settings
) -> duckdb.DuckDBPyConnection:
    con = lake_session(settings)
    try:
        snapshot = None
        if as_of_run is not None:
            attach_lake(con, location, read_only=True)
            snapshot = snapshot_of_run(con, as_of_run)
            con.execute(f"DETACH {LAKE_ALIAS}")
            if snapshot is None:
                raise AsOfUnavailable(
                    f"run {as_of_run} published no snapshot in {location.display} "
                    "(a failed run, a run of another warehouse, or one whose snapshot has expired)"
                )
        attach_lake(con, location, read_only=read_only, snapshot_version=snapshot)
        con.execute(f"USE {LAKE_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def _add_missing_views(con: duckdb.DuckDBPyConnection) -> None:
    """Views the warehouse lacks become session views (a reader never writes the warehouse).

    Imported here: `aftersales.analytics` re-exports `open_warehouse`, so a module-level import
    would make the two packages import each other.
    """
    from aftersales.analytics.views import VIEW_NAMES, create_views

    stored = {
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = current_database()"
        ).fetchall()
    }
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    if RESULT_TABLES_NEEDED_BY_VIEWS <= tables and not set(VIEW_NAMES) <= stored:
        create_views(con, temporary=True)


def _quoted(text: str) -> str:
    return text.replace("'", "''")
