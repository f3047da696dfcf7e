"""Write phase: the scratch database's final state -> the work database, in one transaction.

stg_*, quarantine, file_ledger and validation_results are each dropped and recreated (a rerun
replaces them). A record is staged unless it is a description row or quarantined.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from aftersales.export_kinds import KINDS
from aftersales.ingest.gate_quarantine import VALIDATION_COLUMNS
from aftersales.ingest.ledger import LEDGER_COLUMNS, LedgerEntry, ledger_rows
from aftersales.ingest.scratch_db import typed_table
from aftersales.sql_quoting import sql_ident, sql_literal
from aftersales.staging import STAGING_TABLES, create_staging_tables
from aftersales.warehouse_schema import RESULT_DDL

OUTPUT_TABLES = ("quarantine", "file_ledger", "validation_results")


def write_work_db(
    con,
    work_db: Path,
    entries: list[LedgerEntry],
    validation_rows: list[tuple],
    batch_date: date,
    run_id: str,
) -> None:
    """Replace the ingest tables of `work_db` with the run's staged rows, quarantine, ledger and
    validation rows (all or nothing)."""
    con.execute(f"ATTACH {sql_literal(str(work_db))} AS work")
    try:
        con.execute("USE work")
        con.execute("BEGIN TRANSACTION")
        for name in (*STAGING_TABLES, *OUTPUT_TABLES):
            con.execute(f"DROP TABLE IF EXISTS work.main.{name}")
        create_staging_tables(con)
        for name in OUTPUT_TABLES:
            con.execute(RESULT_DDL[name])
        for kind in KINDS.values():
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = 'work' "
                    "AND table_name = ? ORDER BY column_index",
                    [kind.table],
                ).fetchall()
            ]
            select = ", ".join(sql_ident(c) for c in cols)
            con.execute(
                f"""INSERT INTO work.main.{kind.table} ({select})
                    SELECT {select} FROM {typed_table(kind)}
                    WHERE NOT __description
                      AND __rid NOT IN (SELECT rid FROM q_rows WHERE rid IS NOT NULL)"""
            )
        files = pd.DataFrame(
            [(e.index, e.source_file, e.file_kind, e.shop_id) for e in entries],
            columns=["file", "source_file", "file_kind", "shop_id"],
        ).astype({"file": "int32"})
        con.register("ledger_files", files)
        con.execute(
            """INSERT INTO work.main.quarantine
                   (batch_date, run_id, source_file, line_number, file_kind, reason, raw, shop_id, expectation)
               SELECT $batch_date, $run_id, f.source_file, q.line, f.file_kind, q.reason, q.raw, f.shop_id,
                      q.expectation
               FROM q_rows AS q JOIN ledger_files AS f ON f.file = q.file
               ORDER BY f.source_file, q.line NULLS FIRST, q.expectation""",
            {"batch_date": batch_date, "run_id": run_id},
        )
        con.unregister("ledger_files")
        _insert_rows(con, "work.main.file_ledger", LEDGER_COLUMNS, ledger_rows(entries, batch_date, run_id))
        _insert_rows(con, "work.main.validation_results", VALIDATION_COLUMNS, validation_rows)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("USE memory")
        con.execute("DETACH work")


def _insert_rows(con, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Bulk insert through a registered frame (executemany is one statement per row in DuckDB)."""
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=list(columns))
    con.register("rows_to_insert", frame)
    names = ", ".join(columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM rows_to_insert")
    con.unregister("rows_to_insert")
