"""`aftersales export`: the warehouse's result tables as Hive-partitioned Parquet or CSV files.

Layout: OUT/<table>/batch_date=YYYY-MM-DD/data_0.<ext>, which DuckDB, Spark, pandas/pyarrow and
BigQuery external tables read back with the batch date as a column. Each table is written into
a temporary folder beside its final place and then renamed, so a failed export never leaves a
half-written table, and a table that already exists is replaced only with --overwrite.

CSV is for people and spreadsheets: text cells a spreadsheet would run as a formula (leading
=, +, -, @, tab or carriage return) get a leading single quote (aftersales.analytics.csv_safety).
Parquet is typed and written exactly.

A lake (.ducklake) is exported the same way, from its current snapshot: the lake's own data
files are not copied as they are, because they also carry `batch_date` inside (Spark and
pyarrow refuse a column that is both in the file and in the folder name), and its data folder
still holds the files of replaced dates until `aftersales maintain` expires them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb

from aftersales.analytics.csv_safety import csv_safe_select
from aftersales.lakehouse.connect import open_warehouse
from aftersales.lakehouse.location import LocationError
from aftersales.settings import load_settings
from aftersales.warehouse_schema import RESULT_DDL

FORMATS = {"parquet": "(FORMAT parquet, COMPRESSION zstd", "csv": "(FORMAT csv, HEADER true"}


@dataclass(frozen=True)
class TableExport:
    table: str
    rows: int
    batch_dates: int
    path: Path


def _requested_tables(values: tuple[str, ...]) -> list[str]:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        return list(RESULT_DDL)
    unknown = sorted(set(names) - set(RESULT_DDL))
    if unknown:
        raise click.ClickException(
            f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(RESULT_DDL)}"
        )
    return list(dict.fromkeys(names))


def _open_read_only(warehouse_db: Path | str) -> duckdb.DuckDBPyConnection:
    try:
        return open_warehouse(warehouse_db)
    except FileNotFoundError:
        raise click.ClickException(f"warehouse {warehouse_db} does not exist") from None
    except (LocationError, duckdb.Error) as exc:
        raise click.ClickException(f"cannot open {warehouse_db}: {str(exc).splitlines()[0]}") from exc


def _export_table(con: duckdb.DuckDBPyConnection, table: str, out_dir: Path, fmt: str) -> TableExport:
    """COPY into a hidden sibling folder, then swap it in: the old export stays until the new one is whole."""
    rows, dates = con.execute(f"SELECT count(*), count(DISTINCT batch_date) FROM {table}").fetchone()
    final = out_dir / table
    staging = out_dir / f".{table}.export-{os.getpid()}"
    retired = out_dir / f".{table}.retired-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        target = str(staging).replace("'", "''")
        source = csv_safe_select(con, table) if fmt == "csv" else f"SELECT * FROM {table}"
        con.execute(
            f"COPY ({source} ORDER BY batch_date) TO '{target}' {FORMATS[fmt]}, PARTITION_BY (batch_date))"
        )
        if final.exists():
            os.replace(final, retired)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return TableExport(table, rows, dates, final)


def export_tables(
    warehouse_db: Path, out_dir: Path, fmt: str, tables: list[str], overwrite: bool = False
) -> list[TableExport]:
    """Write each table partitioned by batch date; returns what was written, per table."""
    out_dir = Path(out_dir)
    con = _open_read_only(warehouse_db)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        missing = [t for t in tables if t not in present]
        if missing:
            raise click.ClickException(
                f"{warehouse_db} has no table {missing[0]}: is it an aftersales warehouse?"
            )
        existing = [t for t in tables if (out_dir / t).exists()]
        if len(existing) == 1 and not overwrite:
            raise click.ClickException(
                f"{out_dir / existing[0]} already exists; pass --overwrite to replace it"
            )
        if existing and not overwrite:
            raise click.ClickException(
                f"{out_dir} already holds {', '.join(existing)}; pass --overwrite to replace them"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        return [_export_table(con, table, out_dir, fmt) for table in tables]
    except duckdb.Error as exc:
        raise click.ClickException(f"export failed: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()


def register(group: click.Group) -> None:
    @group.command("export")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(sorted(FORMATS)),
        default="parquet",
        show_default=True,
        help="File format of the exported tables (csv: formula-like text cells get a leading quote).",
    )
    @click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="Folder to write into; one sub-folder per table.",
    )
    @click.option(
        "--db",
        default=None,
        help="Warehouse: a .duckdb file, a .ducklake catalog or ducklake:postgres:CONNINFO "
        "(default: the `warehouse` setting).",
    )
    @click.option(
        "--tables",
        multiple=True,
        metavar="NAMES",
        help="Tables to export, comma-separated or repeated (default: all result tables and runs).",
    )
    @click.option("--overwrite", is_flag=True, help="Replace tables already exported into --out.")
    def export_command(fmt: str, out_dir: Path, db: str | None, tables: tuple[str, ...], overwrite: bool):
        """Export warehouse tables partitioned by batch date (Hive style).

        Writes OUT/<table>/batch_date=YYYY-MM-DD/data_0.parquet (or .csv), reading the
        warehouse read-only, so it can run while the nightly batch publishes. Times are UTC.

        CSV is made safe to open in a spreadsheet: a text cell starting with =, +, -, @, a tab
        or a carriage return (also after leading blanks) is written with a leading single quote
        (OWASP CSV-injection advice), so buyer-written text such as an appeal reason can never
        run as a formula. Numeric columns are untouched (negative amounts stay numbers).
        Parquet is typed and exact: no quoting there.

        \b
        Examples:
          aftersales export --out exports/
          aftersales export --format csv --out /tmp/aftersales-csv --tables rulings,rule_hits
          aftersales export --db warehouse/aftersales.ducklake --out exports/ --overwrite
        \b
        Read back:
          duckdb -c "SELECT batch_date, count(*) FROM read_parquet('exports/rulings/*/*.parquet',
                     hive_partitioning = true) GROUP BY ALL"
        """
        warehouse = db or load_settings().warehouse
        results = export_tables(warehouse, out_dir, fmt, _requested_tables(tables), overwrite)
        for r in results:
            click.echo(f"{r.table:<20} {r.rows:>10} rows  {r.batch_dates:>4} batch dates  {r.path}")
        click.echo(f"exported {len(results)} tables from {warehouse} to {out_dir}")
