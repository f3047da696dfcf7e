"""Private databases beside the warehouse (what-if replay, calibration) on either kind of warehouse.

A replay or a calibration reads published rows into its own DuckDB file, works there, and then
publishes its own tables (`replay_*`, `calibration_*`) back through the nightly publish with no
batch table. Two things differ between a single DuckDB file and a lake, and are settled here:

- reading: `attach_published` attaches the warehouse read-only into the private connection
  (a DuckDB file by path; a lake through its catalog, with the bundled extensions);
- writing: inside the publish callback, `side_write` creates the tables (a lake takes no PRIMARY
  KEY), attaches the private database under the caller's alias and wraps the writes in one
  transaction: the callback's own on a DuckDB file (the copy's batch transaction has committed
  by then), the publish's on a lake (where the lake commit is the one atomic step).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from aftersales.lakehouse.commit import lake_ddl
from aftersales.lakehouse.connect import attach_lake
from aftersales.lakehouse.extensions import connection_config
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.settings import Settings, load_settings


def private_folder(warehouse: str | Path | WarehouseLocation, settings: Settings | None = None) -> Path:
    """Where replays and calibrations keep their private databases: `.work/` beside the warehouse file
    (the lake's catalog file; for a PostgreSQL catalog, beside the shared `_aftersales` lock files)."""
    location = WarehouseLocation.parse(warehouse, settings)
    return location.sidecar.resolve().parent / ".work"


def attach_published(
    con: duckdb.DuckDBPyConnection, warehouse: str | Path, alias: str, settings: Settings | None = None
) -> None:
    """ATTACH the warehouse read-only as `alias` into a private database's connection."""
    settings = settings or load_settings()
    location = WarehouseLocation.parse(warehouse, settings)
    if not location.is_lake:
        con.execute(f"ATTACH '{_quoted(location.catalog)}' AS {alias} (READ_ONLY)")
        return
    con.execute(f"SET extension_directory = '{_quoted(connection_config(settings)['extension_directory'])}'")
    attach_lake(con, location, read_only=True, alias=alias)


def on_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Is the connection's default catalog a lake (a publish callback inside the lake transaction)?"""
    kind = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return kind is not None and kind[0] == "ducklake"


@contextmanager
def side_write(
    con: duckdb.DuckDBPyConnection, private_db: Path, alias: str, ddl: Iterable[str]
) -> Iterator[str]:
    """In a publish callback: create the side tables, attach `private_db` as `alias`, one transaction.

    Yields the warehouse catalog's name (for `insert_common_columns`).
    """
    lake = on_lake(con)
    for statement in ddl:
        con.execute(lake_ddl(statement) if lake else statement)
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"ATTACH '{_quoted(str(private_db))}' AS {alias} (READ_ONLY)")
    if not lake:
        con.execute("BEGIN TRANSACTION")
    try:
        yield catalog
    except BaseException:
        if not lake:
            con.execute("ROLLBACK")
            con.execute(f"DETACH {alias}")
        raise
    # On a lake the publish commits (or rolls back) and closes the session, which detaches `alias`;
    # DuckDB refuses to detach a database the open transaction has read.
    if not lake:
        con.execute("COMMIT")
        con.execute(f"DETACH {alias}")


def _quoted(text: str) -> str:
    return text.replace("'", "''")
