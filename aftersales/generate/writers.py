"""Turning generated rows into export files: text formatting in DuckDB, CSV lines built in SQL,
bytes written straight from Arrow buffers, then the encodings real exports come in.

Each file's dressing (time zone, time style, currency, ID prefix, newline) travels as per-row
columns, so one vectorised query formats a whole batch of files; Python only slices the
result into files and adds each file's header lines.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from aftersales.generate.exports import ColumnSpec, render_headers
from aftersales.generate.layout import FileSpec

TIME_STYLES = {"us": 0, "dmy": 1, "iso": 2, "iso_offset": 3}
MONEY_STYLES = {"symbol": 0, "thousands": 1, "plain": 2}
CHUNK_ROWS = 150_000

_MACROS = """
CREATE OR REPLACE MACRO csvq(s) AS CASE
    WHEN s IS NULL THEN ''
    WHEN contains(s, ',') OR contains(s, '"') OR contains(s, chr(10)) OR contains(s, chr(13))
        THEN '"' || replace(s, '"', '""') || '"'
    ELSE s END;
CREATE OR REPLACE MACRO csvq_money(s) AS CASE
    WHEN s IS NULL THEN '' WHEN contains(s, ',') THEN '"' || s || '"' ELSE s END;
CREATE OR REPLACE MACRO utc_offset(t, tz) AS
    (CASE WHEN epoch(timezone(tz, t)) < epoch(t) THEN '-' ELSE '+' END)
    || lpad(CAST(CAST(abs(epoch(timezone(tz, t)) - epoch(t)) AS INTEGER) // 3600 AS VARCHAR), 2, '0') || ':'
    || lpad(CAST((CAST(abs(epoch(timezone(tz, t)) - epoch(t)) AS INTEGER) % 3600) // 60 AS VARCHAR), 2, '0');
CREATE OR REPLACE MACRO ts_text(t, tz, style) AS CASE
    WHEN t IS NULL THEN NULL
    WHEN style = 0 THEN strftime(timezone(tz, t), '%m/%d/%Y %-I:%M:%S %p')
    WHEN style = 1 THEN strftime(timezone(tz, t), '%d/%m/%Y %H:%M:%S')
    WHEN style = 2 THEN strftime(timezone(tz, t), '%Y-%m-%dT%H:%M:%S')
    ELSE strftime(timezone(tz, t), '%Y-%m-%dT%H:%M:%S') || utc_offset(t, tz) END;
CREATE OR REPLACE MACRO money_text(x, style, sym, decimals) AS CASE
    WHEN x IS NULL THEN NULL
    WHEN x = 0 THEN (CASE WHEN style = 0 THEN sym ELSE '' END) || (CASE WHEN decimals = 0 THEN '0' ELSE '0.00' END)
    ELSE (CASE WHEN x < 0 THEN '-' ELSE '' END)
        || (CASE WHEN style = 0 THEN sym ELSE '' END)
        || (CASE WHEN style = 2 THEN (CASE WHEN decimals = 0 THEN printf('%.0f', abs(x) / 100.0) ELSE printf('%.2f', abs(x) / 100.0) END)
                 ELSE (CASE WHEN decimals = 0 THEN format('{:,.0f}', abs(x) / 100.0) ELSE format('{:,.2f}', abs(x) / 100.0) END) END)
    END;
CREATE OR REPLACE MACRO fill(tpl, first_, name_, phone_, address_, order_, product_) AS CASE
    WHEN tpl IS NULL THEN NULL
    WHEN NOT contains(tpl, '{') THEN tpl
    ELSE replace(replace(replace(replace(replace(replace(tpl,
        '{first}', coalesce(first_, '')), '{name}', coalesce(name_, '')), '{phone}', coalesce(phone_, '')),
        '{address}', coalesce(address_, '')), '{order}', coalesce(order_, '')), '{product}', coalesce(product_, ''))
    END;
"""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the formatting macros; UTC session as everywhere in the project."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    con.execute(_MACROS)
    return con


def _field_sql(col: ColumnSpec, bad_targets: dict[str, str]) -> str:
    src = col.source
    if col.role == "id":
        expr = f"CASE WHEN ({src}) IS NULL THEN NULL ELSE _idp || '{col.literal_prefix}' || CAST(({src}) AS VARCHAR) END"
    elif col.role == "time":
        expr = f"ts_text({src}, _tz, _ts)"
    elif col.role == "money":
        expr = f"money_text({src}, _ms, _sym, _dec)"
    elif col.role == "num":
        expr = f"CAST(round({src}, 2) AS VARCHAR)"
    else:
        expr = f"CAST(({src}) AS VARCHAR)"
    for bad_class, header in bad_targets.items():
        if header != col.header:
            continue
        if bad_class == "empty_key":
            expr = f"CASE WHEN _bad = 'empty_key' THEN NULL ELSE {expr} END"
        elif bad_class in ("unparseable_timestamp", "unknown_enum"):
            expr = f"CASE WHEN _bad = '{bad_class}' THEN _bad_text ELSE {expr} END"
    return expr


def fields_query(columns: Sequence[ColumnSpec], bad_targets: dict[str, str]) -> str:
    cols = ",\n  ".join(f"{_field_sql(c, bad_targets)} AS c{i}" for i, c in enumerate(columns))
    return f"SELECT _row, _bad, _nl,\n  {cols}\nFROM t"


def lines_query(
    columns: Sequence[ColumnSpec], bad_targets: dict[str, str], plain: frozenset[str] = frozenset()
) -> str:
    """One CSV line per row (minimal quoting); a `wrong_field_count` row gets one field too many
    or two too few. Columns in `plain` are known to never need quotes."""

    def quote(i: int, c: ColumnSpec) -> str:
        if c.role == "money":
            return f"csvq_money(c{i})"
        if c.role == "text" and c.header not in plain:
            return f"csvq(c{i})"
        return f"coalesce(c{i}, '')"

    quoted = [quote(i, c) for i, c in enumerate(columns)]
    full = f"concat_ws(',', {', '.join(quoted)})"
    short = f"concat_ws(',', {', '.join(quoted[:-2])})"
    return (
        f"SELECT _row, CASE WHEN _bad = 'wrong_field_count' THEN "
        f"(CASE WHEN _row % 2 = 0 THEN {full} || ',unexpected' ELSE {short} END) "
        f"ELSE {full} END || _nl AS line\nFROM ({fields_query(columns, bad_targets)})"
    )


def write_kind(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    columns: Sequence[ColumnSpec],
    files: Sequence[tuple[FileSpec, int, int]],
    bad_targets: dict[str, str],
    out: Path,
    created: datetime,
    descriptions: bool,
) -> None:
    """Write every file of one kind; `files` lists (spec, first row, end row) over `table`,
    which is sorted by file."""
    sql_lines = lines_query(columns, bad_targets, plain_text_columns(table, columns, bad_targets))
    sql_fields = fields_query(columns, bad_targets)
    for batch in _chunks(files):
        lo, hi = batch[0][1], batch[-1][2]
        con.register("t", table.slice(lo, hi - lo))
        result = con.sql(sql_lines).to_arrow_table()
        rows = result.column("_row").to_numpy()
        if len(rows) != hi - lo or (len(rows) > 1 and not (np.diff(rows) > 0).all()):
            raise RuntimeError("row order was not preserved while formatting")
        lines = result.column("line").combine_chunks()
        for spec, start, end in batch:
            headers = render_headers(tuple(columns), spec.header_style, spec.sea_headers)
            desc = [c.description for c in columns] if (descriptions and spec.description_row) else None
            path = out / spec.path
            path.parent.mkdir(parents=True, exist_ok=True)
            if spec.encoding == "xlsx":
                cells = f"SELECT * EXCLUDE (_row, _bad, _nl) FROM ({sql_fields}) WHERE _row >= ? AND _row < ? ORDER BY _row"
                write_xlsx(path, headers, desc, con.execute(cells, [start, end]).fetchall(), created)
            else:
                write_csv(path, spec, headers, desc, _body(lines, start - lo, end - lo))
            if spec.duplicate_path:
                dup = out / spec.duplicate_path
                dup.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dup)
        con.unregister("t")


def plain_text_columns(
    table: pa.Table, columns: Sequence[ColumnSpec], bad_targets: dict[str, str]
) -> frozenset[str]:
    """Headers of text columns whose every possible value is free of CSV specials: a plain
    dictionary column whose vocabulary has no comma, quote or newline (and no bad-row override)."""
    out = set()
    for c in columns:
        if c.role != "text" or c.source not in table.column_names or c.header in bad_targets.values():
            continue
        col = table.column(c.source)
        if not pa.types.is_dictionary(col.type) or col.num_chunks != 1:
            continue
        vocab = col.chunk(0).dictionary
        if not pc.any(pc.match_substring_regex(vocab, r'[,"\r\n]')).as_py():
            out.add(c.header)
    return frozenset(out)


def _chunks(files: Sequence[tuple[FileSpec, int, int]]) -> list[list[tuple[FileSpec, int, int]]]:
    batches, current, size = [], [], 0
    for f in files:
        if current and size + (f[2] - f[1]) > CHUNK_ROWS:
            batches.append(current)
            current, size = [], 0
        current.append(f)
        size += f[2] - f[1]
    if current:
        batches.append(current)
    return batches


def _body(lines: pa.Array, start: int, end: int) -> memoryview:
    """The concatenated bytes of lines[start:end], straight from the Arrow value buffer."""
    if end <= start:
        return memoryview(b"")
    offsets_dtype = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    _, offsets_buf, data_buf = lines.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offsets_dtype)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(data_buf)[int(offsets[start]) : int(offsets[end])]


def header_block(headers: list[str], desc: list[str] | None, newline: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(headers)
    if desc:
        writer.writerow(desc)
    return buf.getvalue()


def write_csv(
    path: Path, spec: FileSpec, headers: list[str], desc: list[str] | None, body: memoryview
) -> None:
    head = header_block(headers, desc, spec.newline)
    with open(path, "wb") as fh:
        if spec.encoding in ("utf-8", "utf-8-sig"):
            if spec.encoding == "utf-8-sig":
                fh.write(b"\xef\xbb\xbf")
            fh.write(head.encode("utf-8"))
            fh.write(body)
        elif spec.encoding == "utf-16":
            fh.write(b"\xff\xfe")
            fh.write((head + bytes(body).decode("utf-8")).encode("utf-16-le"))
        elif spec.encoding == "gb18030":
            fh.write((head + bytes(body).decode("utf-8")).encode("gb18030"))
        else:
            raise ValueError(f"unknown encoding {spec.encoding}")


def write_xlsx(
    path: Path, headers: list[str], desc: list[str] | None, rows: list[tuple], created: datetime
) -> None:
    """Seller Center style workbook: one sheet, every cell text, fixed metadata for reproducibility."""
    wb = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_numbers": False, "strings_to_urls": False}
    )
    wb.set_properties({"created": created, "author": "TikTok Shop Seller Center"})
    ws = wb.add_worksheet("OrderSKUList")
    ws.write_row(0, 0, headers)
    r = 1
    if desc:
        ws.write_row(r, 0, desc)
        r += 1
    for row in rows:
        ws.write_row(r, 0, ["" if v is None else v for v in row])
        r += 1
    wb.close()


def dressing_columns(
    file_index: np.ndarray, files: Sequence[FileSpec], shops: Sequence
) -> dict[str, pa.Array]:
    """Per-row copies of each file's dressing (zone, time style, money style, ID prefix, newline)."""
    idx = pa.array(file_index.astype(np.int32), type=pa.int32())

    def per_file(values: list, type_: pa.DataType) -> pa.Array:
        return pa.DictionaryArray.from_arrays(idx, pa.array(values, type=type_))

    def numeric(values: list[int]) -> pa.Array:
        return pa.array(np.asarray(values, dtype=np.int32)[file_index], type=pa.int32())

    markets = [shops[f.shop].market for f in files]
    return {
        "_tz": per_file([shops[f.shop].timezone for f in files], pa.string()),
        "_ts": numeric([TIME_STYLES[f.time_style] for f in files]),
        "_ms": numeric([MONEY_STYLES[f.money_style] for f in files]),
        "_sym": per_file([m.symbol for m in markets], pa.string()),
        "_dec": numeric([m.decimals for m in markets]),
        "_idp": per_file([f.id_prefix for f in files], pa.string()),
        "_nl": per_file([f.newline for f in files], pa.string()),
    }
