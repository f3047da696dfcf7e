"""From an inbox file to a numbered UTF-8 CSV, and DuckDB's `read_csv` over it.

CSV files are decoded (decoding.py) and numbered (line_numbering.py) in one streaming pass. XLSX/XLS
workbooks are inspected within limits and read one sheet at a time with python-calamine in a
child process (workbook.py), written as the same numbered CSV, the sheet row number standing in
for the physical line. DuckDB then reads every numbered file
with fixed options (no sniffing): all columns VARCHAR except `__line`, delimiter ',', quote and
escape '"', header row skipped, and `store_rejects` so malformed records (wrong number of
fields, stray quotes, lines over `MAX_LINE_BYTES`) land in a rejects table instead of failing
the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aftersales.ingest.decoding import Sniff, utf8_chunks
from aftersales.ingest.errors import FileRejected
from aftersales.ingest.line_numbering import number_records
from aftersales.ingest.records import LINE_FIELD, NumberedCsv
from aftersales.ingest.typing_sql import source_column
from aftersales.ingest.workbook import numbered_sheet
from aftersales.sql_quoting import sql_literal

# A real export row is a few KiB; a line above this is corrupt (or an attempt to exhaust memory).
MAX_LINE_BYTES = 1 << 20


def prepare(path: Path, found: Sniff, out_path: Path) -> NumberedCsv:
    """Numbered UTF-8 CSV of any accepted input file; FileRejected when there is none."""
    if found.problem:
        raise FileRejected(found.problem)
    if found.container in ("xlsx", "xls"):
        numbered = numbered_sheet(path, found.container, found.sheet, out_path)
        if numbered is None and found.sheet is not None:
            raise FileRejected(f"empty sheet {found.sheet!r}: no header row")
    else:
        numbered = number_records(utf8_chunks(path, found), out_path)
    if numbered is None:
        raise FileRejected("empty file: no header row")
    if all(not cell.strip() for cell in numbered.header):
        raise FileRejected("empty file: no header row")
    if found.container == "text" and numbered.records == 0 and not numbered.broken:
        check_no_lost_lines(path, found, numbered)
    return numbered


def check_no_lost_lines(path: Path, found: Sniff, numbered: NumberedCsv) -> None:
    """A header and no records, while the text holds more lines (by any line-end convention)
    than the header spans, means the line ends were not seen: refuse rather than ingest 0 rows.
    Streams the text (memory: one chunk), stopping as soon as the answer is known."""
    spans = 1 + sum(len(_LINE_BREAK.findall(cell)) for cell in numbered.header)
    lines = 0
    pending = False  # the unfinished line so far holds a non-blank character
    for chunk in utf8_chunks(path, found):
        parts = _LINE_BREAK_BYTES.split(chunk)  # a CRLF cut by the chunking adds a blank line only
        for part in parts[:-1]:
            lines += pending or bool(part.strip(b" \t"))
            pending = False
        pending = pending or bool(parts[-1].strip(b" \t"))
        if lines > spans:
            break
    if lines + pending > spans:
        raise FileRejected(
            f"line ends not recognised: the text holds more than {spans} line(s) but no record "
            "after the header (mixed or unknown newline characters?)"
        )


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


def read_csv_sql(numbered: NumberedCsv, rejects: str | None) -> str:
    """`read_csv(...)` over a numbered file; `rejects` names the rejects tables (None: skip bad lines)."""
    return _read_csv_sql(sql_literal(str(numbered.path)), len(numbered.header), rejects)


def read_csvs_sql(numbered: list[NumberedCsv], rejects: str | None) -> str:
    """One `read_csv(...)` over several numbered files with the same header, in parallel inside
    DuckDB; adds a `filename` column (the numbered file's path, as in `rejected_records_by_path`)."""
    widths = {len(n.header) for n in numbered}
    if len(widths) != 1:
        raise ValueError("files read together must have the same header width")
    paths = "[" + ", ".join(sql_literal(str(n.path)) for n in numbered) + "]"
    return _read_csv_sql(paths, widths.pop(), rejects, filename=True)


def _read_csv_sql(paths: str, width: int, rejects: str | None, filename: bool = False) -> str:
    columns = {LINE_FIELD: "BIGINT"} | {source_column(i): "VARCHAR" for i in range(width)}
    cols = "{" + ", ".join(f"{sql_literal(k)}: {sql_literal(v)}" for k, v in columns.items()) + "}"
    opts = [
        "header = true",
        "delim = ','",
        "quote = '\"'",
        "escape = '\"'",
        "new_line = '\\n'",
        "auto_detect = false",
        f"columns = {cols}",
        f"max_line_size = {MAX_LINE_BYTES}",
        "strict_mode = true",
    ]
    if filename:
        opts.append("filename = true")
    if rejects:
        opts += [
            "store_rejects = true",
            f"rejects_table = {sql_literal(rejects + '_errors')}",
            f"rejects_scan = {sql_literal(rejects + '_scans')}",
        ]
    else:
        opts.append("ignore_errors = true")
    return f"read_csv({paths}, {', '.join(opts)})"


@dataclass(frozen=True)
class RejectedRecord:
    line: int | None  # physical line (from the record's `__line` field), None if unknown
    error_type: str
    message: str
    csv_line: str  # the record as DuckDB saw it, numbered prefix removed


_LEADING_NUMBER = re.compile(r"\s*(\d+),")
_FIELD_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def rejected_records(con, rejects: str) -> list[RejectedRecord]:
    """One entry per record DuckDB rejected (several errors on one record are one record)."""
    return [record for records in rejected_records_by_path(con, rejects).values() for record in records]


def rejected_records_by_path(con, rejects: str) -> dict[str, list[RejectedRecord]]:
    """`rejected_records` per scanned file path (file order kept), for single- and multi-file
    scans; the rejects tables are dropped after reading."""
    try:
        rows = con.execute(
            f"""SELECT s.file_path, min(e.error_type::VARCHAR), min(e.error_message), any_value(e.csv_line)
                FROM {rejects}_errors AS e JOIN {rejects}_scans AS s USING (scan_id, file_id)
                GROUP BY e.scan_id, e.file_id, s.file_path, e.line
                ORDER BY s.file_path, min(e.byte_position)"""
        ).fetchall()
    except duckdb.CatalogException:  # DuckDB creates the rejects tables only when a scan stored rejects
        return {}
    out: dict[str, list[RejectedRecord]] = {}
    for path, error_type, message, csv_line in rows:
        out.setdefault(path, []).append(_rejected(error_type, message, csv_line))
    drop_rejects(con, rejects)
    return out


def drop_rejects(con, rejects: str) -> None:
    """Drop the rejects tables a `read_csv(..., rejects)` scan stored (so the name can be reused)."""
    con.execute(f"DROP TABLE IF EXISTS {rejects}_errors")
    con.execute(f"DROP TABLE IF EXISTS {rejects}_scans")


def _rejected(error_type: str, message: str | None, csv_line: str | None) -> RejectedRecord:
    text = (csv_line or "").lstrip("\r\n")
    m = _LEADING_NUMBER.match(text)
    line = int(m.group(1)) if m else None
    return RejectedRecord(line, error_type, message or "", text[m.end() :] if m else text)


def reject_reason(rec: RejectedRecord) -> str:
    """One-line, specific reason for a rejected record."""
    m = _FIELD_COUNTS.search(rec.message)
    if rec.error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS") and m:
        expected, found = int(m.group(1)) - 1, int(m.group(2)) - 1  # without the `__line` field
        hint = "truncated line?" if found < expected else "unquoted delimiter in a value?"
        delims = [d for d in (";", "\t", "|") if d in rec.csv_line]
        if found <= 1 and delims:
            hint = f"wrong delimiter {delims[0]!r}?"
        return f"malformed line: {found} fields, the header has {expected} ({hint})"
    if rec.error_type == "LINE SIZE OVER MAXIMUM":
        size = re.search(r"Actual Size:\s*(\d+)", rec.message)
        if size and int(size.group(1)) >= 2 * MAX_LINE_BYTES:  # numbering keeps 2x the limit of a huge line
            actual = f"over {2 * MAX_LINE_BYTES} bytes"
        else:
            actual = f"{size.group(1)} bytes" if size else "too long"
        return f"oversized line: {actual}, the limit is {MAX_LINE_BYTES} bytes"
    if rec.error_type == "UNQUOTED VALUE":
        if "unterminated" in rec.message.lower():
            spanned = rec.csv_line.rstrip("\r\n").count("\n")
            tail = f", swallowing the next {spanned} line(s)" if spanned else ""
            return f"malformed line: unterminated quoted value (truncated file?){tail}"
        return "malformed line: text after a closing quote"
    if rec.error_type == "CAST" and rec.line is None:
        return "malformed record: its start could not be located (stray quotes on earlier lines)"
    if rec.error_type == "INVALID UNICODE":
        return "malformed line: invalid UTF-8 text"
    # DuckDB's message is never quoted: it may hold the record's contents (personal data).
    return f"malformed line: the CSV reader rejected it ({rec.error_type.lower()})"


def scan_failure_reason(exc: Exception) -> str:
    """Ledger reason for a numbered CSV DuckDB could not scan at all (even storing rejects).

    Names the cause without DuckDB's message, which is about its parser's internals and may quote
    the file's contents (personal data)."""
    message = str(exc).lower()
    if "state machine" in message:
        cause = "its quoting or line ends defeat the CSV reader"
    elif "max_line_size" in message or "maximum line size" in message:
        cause = f"a record runs over {MAX_LINE_BYTES} bytes"
    elif "unicode" in message or "utf-8" in message or "utf8" in message:
        cause = "invalid UTF-8 text"
    else:
        cause = f"the CSV reader failed ({type(exc).__name__})"
    return f"unreadable CSV: {cause}"
