"""`aftersales sql`: the analysts' one entry point, one read-only query against the warehouse.

The warehouse (a DuckDB file or a DuckLake) is opened read-only by the one opener,
aftersales.lakehouse.connect.open_warehouse: readers never block the nightly publish and see one
whole batch or the previous one, in UTC so that instants print the same on every machine. Every
table and view is visible under its plain name. `--as-of RUN_ID` (lakes only) reads the snapshot
that run's publish committed. Output: CSV with a header line (default, exact values, for pipes and scripts),
JSON (an array of objects), or an aligned table for people. CSV text cells that a spreadsheet
would run as a formula (`=`, `+`, `-`, `@` ...) get a leading `'` (aftersales.analytics.csv_safety).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
import uuid
from pathlib import Path

import click
import duckdb

from aftersales.analytics.csv_safety import neutralise_cell
from aftersales.lakehouse.connect import open_warehouse
from aftersales.lakehouse.extensions import ExtensionMissing
from aftersales.lakehouse.location import LocationError, WarehouseLocation
from aftersales.settings import load_settings

FORMATS = ("csv", "json", "table")
_TABLE_MAX_ROWS = 10_000


def open_warehouse_read_only(db: Path | str, as_of_run: str | None = None) -> duckdb.DuckDBPyConnection:
    """Read-only connection to an existing warehouse, or one line saying why there is none."""
    try:
        return open_warehouse(db, as_of_run=as_of_run)
    except (FileNotFoundError, LocationError, ExtensionMissing) as exc:
        raise click.ClickException(str(exc)) from None
    except duckdb.Error as exc:
        kind = "a DuckLake" if WarehouseLocation.parse(db).is_lake else "a DuckDB database"
        raise click.ClickException(
            f"warehouse {db} cannot be opened as {kind}: {str(exc).splitlines()[0]}"
        ) from None


def run_query(db: Path | str, query: str, as_of_run: str | None = None) -> tuple[list[str], list[tuple]]:
    """Column names and rows of one read-only query; a SQL error becomes one line."""
    con = open_warehouse_read_only(db, as_of_run)
    try:
        try:
            result = con.execute(query)
        except duckdb.Error as exc:
            raise click.ClickException(f"query failed: {str(exc).splitlines()[0]}") from None
        if result.description is None:
            return [], []
        columns = [d[0] for d in result.description]
        return columns, result.fetchall()
    finally:
        con.close()


def _plain(value):
    """A value as JSON can hold it: exact decimals as numbers, instants and dates as ISO 8601."""
    if isinstance(value, decimal.Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and value.as_tuple().exponent >= 0
            else float(value)
        )
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | bytes):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value)


def write_result(columns: list[str], rows: list[tuple], fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_text(neutralise_cell(v)) for v in row] for row in rows)
    elif fmt == "json":
        json.dump(
            [dict(zip(columns, map(_plain, row), strict=True)) for row in rows], out, ensure_ascii=False
        )
        out.write("\n")
    else:
        cells = [columns] + [
            [_text(v) if v is not None else "NULL" for v in row] for row in rows[:_TABLE_MAX_ROWS]
        ]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        for n, row in enumerate(cells):
            out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
            if n == 0:
                out.write("  ".join("-" * w for w in widths) + "\n")
        if len(rows) > _TABLE_MAX_ROWS:
            out.write(f"({len(rows) - _TABLE_MAX_ROWS} more rows; use --format csv)\n")
        out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def register(group: click.Group) -> None:
    @group.command("sql")
    @click.argument("query", required=False)
    @click.option(
        "--db",
        default=None,
        help="Warehouse to query: a .duckdb file, a .ducklake catalog or ducklake:postgres:CONNINFO "
        "(default: the settings' warehouse).",
    )
    @click.option(
        "--as-of",
        "as_of",
        metavar="RUN_ID",
        default=None,
        help="Query the lake as it was right after that run published (time travel; lakes only).",
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="csv",
        show_default=True,
        help="csv: header line then rows; json: an array of objects; table: aligned columns.",
    )
    def sql_command(query, db, as_of, fmt):
        """Run one read-only SQL query against the warehouse and print the result.

        Every table and view is visible under its plain name (rulings, rule_hits,
        evidence_gaps, sla_breaches, seller_health, quarantine, runs, v_* views ...).
        The query may also come on standard input. Times print in UTC.

        \b
        Examples:
          aftersales sql "SELECT market, decision, count(*) FROM rulings GROUP BY ALL ORDER BY ALL"
          aftersales sql --db warehouse/aftersales.ducklake --format table \\
              "SELECT shop_id, metric, value, status FROM seller_health"
          echo "SELECT count(*) FROM sla_breaches" | aftersales sql --format json
          aftersales sql --db warehouse/aftersales.ducklake --as-of RUN_ID "SELECT count(*) FROM rulings"
        """
        if not query:
            if sys.stdin is None or sys.stdin.isatty():
                raise click.UsageError('give a query: aftersales sql "SELECT ..." (or pipe one on stdin)')
            query = sys.stdin.read()
        if not query.strip():
            raise click.UsageError("the query is empty")
        columns, rows = run_query(db or load_settings().warehouse, query, as_of)
        write_result(columns, rows, fmt)
