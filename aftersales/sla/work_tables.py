"""The work-database side of the model stages (SLA, health, action queue): inputs in, batch rows out.

A stage's SQL lives in `models/*.sql` and runs through `aftersales.sql_models.run_models`. Two
things stay here, shared by the three stages:

- `missing_inputs`: the tables a stage's models read that an earlier stage should have written
  (every relation they read, minus the stage's own models and the policy tables the stage loads
  from rules/ first). A missing one is an error naming it, never a silently dropped term.
- `replace_batch_rows`: a result-table model (`sla_breaches`, `seller_health`, ...) builds this
  batch's rows as a TEMP table of the result table's own name; this swaps them into the work
  database's table in place of the batch's earlier rows, so a rerun never duplicates rows and a
  work database holding other batch dates keeps them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from aftersales.sql_models import stage_models


def regular_tables(con) -> set[str]:
    """Regular tables of the connection's own database (TEMP tables excluded)."""
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT temporary"
        ).fetchall()
    }


def stage_inputs(stage: str, loaded: Iterable[str] = ()) -> tuple[str, ...]:
    """Tables the stage's models read from earlier stages, sorted (the models' lineage)."""
    models = stage_models(stage)
    built = {m.name for m in models}
    return tuple(sorted({r for m in models for r in m.reads} - built - set(loaded)))


def missing_inputs(con, stage: str, loaded: Iterable[str] = ()) -> list[str]:
    """The stage's inputs (see `stage_inputs`) absent from the work database on `con`."""
    present = regular_tables(con)
    return [t for t in stage_inputs(stage, loaded) if t not in present]


def replace_batch_rows(con, table: str, batch_date: dt.date) -> int:
    """Replace the batch's rows of the work database's `table` with the TEMP model of that name.

    The regular table must exist (its warehouse DDL); call inside the caller's transaction. The
    TEMP table is dropped afterwards, so `table` means the work database's table again.
    """
    database = con.execute("SELECT current_database()").fetchone()[0].replace('"', '""')
    target = f'"{database}".main.{table}'
    con.execute(f"DELETE FROM {target} WHERE batch_date = ?", [batch_date])
    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM temp.main.{table}")
    added = con.execute(f"SELECT count(*) FROM temp.main.{table}").fetchone()[0]
    con.execute(f"DROP TABLE temp.main.{table}")
    return added


def replace_batch_tables(con, tables: Iterable[str], batch_date: dt.date) -> dict[str, int]:
    """`replace_batch_rows` for each of a stage's result tables, all in one transaction (a failure
    part-way leaves every table as it was); rows added per table."""
    con.execute("BEGIN TRANSACTION")
    added = {table: replace_batch_rows(con, table, batch_date) for table in tables}
    con.execute("COMMIT")
    return added
