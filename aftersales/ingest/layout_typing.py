"""Type phase: numbered exports -> rows of the kind's typed table, malformed records quarantined.

Files sharing a layout (kind, header row, market, zone) are typed by one SELECT over one
multi-file DuckDB `read_csv` (DuckDB parallelises it; planning happens once per layout, not once
per file); rows, rejects and line numbers stay per file. A file whose records are not all
accounted for by that scan is read again on its own; a file DuckDB cannot scan at all is
skipped and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from aftersales.ingest.export_admission import DecodedExport
from aftersales.ingest.greetings import greeting_sql
from aftersales.ingest.pseudonyms import pseudonym_sql
from aftersales.ingest.quarantine import masked_raw_from_line
from aftersales.ingest.readers import (
    RejectedRecord,
    drop_rejects,
    read_csv_sql,
    read_csvs_sql,
    reject_reason,
    rejected_records,
    rejected_records_by_path,
    scan_failure_reason,
)
from aftersales.ingest.records import NumberedCsv
from aftersales.ingest.scratch_db import Scratch, typed_table
from aftersales.ingest.typing_sql import FileContext, typed_select
from aftersales.sql_quoting import sql_literal

if TYPE_CHECKING:
    from aftersales.ingest.shop_registry import Shop

log = logging.getLogger(__name__)


def layout_key(decoded: DecodedExport, shops: Mapping[str, Shop]) -> tuple:
    """(kind, header row, market, zone): files with the same key are typed by one SELECT."""
    shop = shops[decoded.entry.shop_id]
    return (decoded.recognition.kind.name, tuple(decoded.numbered.header), shop.market, shop.timezone)


def type_layout(
    scratch: Scratch, shops: Mapping[str, Shop], reads: list[DecodedExport]
) -> list[DecodedExport]:
    """Type the records of files sharing one layout into the kind's table; the files typed
    (the others are skipped: DuckDB could not scan them)."""
    if len(reads) == 1:
        return _type_alone(scratch, shops, reads[0])
    con = scratch.con
    first = reads[0]
    kind, shop = first.recognition.kind, shops[first.entry.shop_id]
    table = typed_table(kind)
    files = ", ".join(
        f"({sql_literal(str(r.numbered.path))}, {r.entry.index}, {sql_literal(r.entry.source_file)}, "
        f"{sql_literal(r.entry.shop_id or '')})"
        for r in reads
    )
    source = (
        f"(SELECT f.file_index AS __file, f.source_file AS __source_file, f.shop_id AS __shop_id, r.* "
        f"FROM {read_csvs_sql([r.numbered for r in reads], 'rejects_layout')} AS r "
        f"JOIN (VALUES {files}) AS f(path, file_index, source_file, shop_id) ON r.filename = f.path)"
    )
    ctx = FileContext(None, None, None, shop.market, shop.timezone)
    select = typed_select(kind, first.recognition.positions, ctx, source, greeting_sql, pseudonym_sql)
    try:
        con.execute(f"INSERT INTO {table} {select}")
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        # One file DuckDB cannot scan fails the statement (nothing inserted): read the files
        # one by one, so only that file is skipped.
        log.info("%s: layout read failed, reading its %d files one by one", kind.name, len(reads))
        drop_rejects(con, "rejects_layout")
        return [typed for read in reads for typed in _type_alone(scratch, shops, read)]
    rejected = rejected_records_by_path(con, "rejects_layout")
    indexes = ", ".join(str(r.entry.index) for r in reads)
    read_back = {
        file: (n, line_sum)
        for file, n, line_sum in con.execute(
            f"SELECT __file, count(*), sum(__line) FROM {table} WHERE __file IN ({indexes}) GROUP BY ALL"
        ).fetchall()
    }
    typed: list[DecodedExport] = []
    for read in reads:
        file_rejects = rejected.get(str(read.numbered.path), [])
        n, line_sum = read_back.get(read.entry.index, (0, 0))
        if not accounted(read.numbered, file_rejects, n, line_sum):
            # DuckDB does not always keep every reject of a multi-file scan (an unterminated
            # quote at the end of a file can be lost): such a file is read again on its own,
            # exactly as a single file.
            con.execute(f"DELETE FROM {table} WHERE __file = {read.entry.index}")
            typed += _type_alone(scratch, shops, read)
            continue
        typed.append(read)
        _quarantine_rejects(scratch, read, file_rejects, (n, line_sum))
    return typed


def _type_alone(scratch: Scratch, shops: Mapping[str, Shop], read: DecodedExport) -> list[DecodedExport]:
    entry = read.entry
    try:
        type_file(scratch, shops, read)
    except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
        # A CSV DuckDB cannot scan at all even with rejects stored: skip the file, keep the run.
        # Only the error's kind is logged: DuckDB's message may quote the file's contents.
        log.warning("%s: DuckDB could not read the file (%s)", entry.source_file, type(exc).__name__)
        scratch.con.execute(f"DELETE FROM {typed_table(read.recognition.kind)} WHERE __file = {entry.index}")
        scratch.quarantine.forget_file(entry.index)
        entry.skip(scan_failure_reason(exc))
        return []
    return [read]


def type_file(scratch: Scratch, shops: Mapping[str, Shop], read: DecodedExport) -> None:
    """Type the records of one file into the kind's table and quarantine its malformed ones."""
    entry, kind = read.entry, read.recognition.kind
    shop = shops.get(entry.shop_id or "")
    ctx = FileContext(
        entry.index,
        entry.source_file,
        entry.shop_id,
        shop.market if shop else None,
        shop.timezone if shop else None,
    )
    rejects_name = f"rejects_{entry.index}"
    select = typed_select(
        kind,
        read.recognition.positions,
        ctx,
        read_csv_sql(read.numbered, rejects_name),
        greeting_sql,
        pseudonym_sql,
    )
    scratch.con.execute(f"INSERT INTO {typed_table(kind)} {select}")
    rejected = rejected_records(scratch.con, rejects_name)
    _quarantine_rejects(scratch, read, rejected)


def _quarantine_rejects(
    scratch: Scratch,
    read: DecodedExport,
    rejected: list[RejectedRecord],
    read_back: tuple[int, int | None] | None = None,
) -> None:
    """Malformed records, records swallowed by one, and rows whose line is not a record start.

    `read_back` is (rows, sum of their lines) typed from the file, when already counted.
    """
    con = scratch.con
    numbered, recognition, i = read.numbered, read.recognition, read.entry.index
    kind, table = recognition.kind, typed_table(recognition.kind)
    width = len(numbered.header)
    rows = [
        (
            i,
            r.line,
            None,
            "record",
            None,
            reject_reason(r),
            masked_raw_from_line(kind, recognition.positions, width, r.csv_line),
        )
        for r in rejected
    ]
    # Lines the numbering pass set aside (an unbalanced quote and the lines it would have
    # swallowed): never given to DuckDB, quarantined here one by one with their own line.
    rows += [
        (
            i,
            b.line,
            None,
            "record",
            None,
            b.reason,
            masked_raw_from_line(kind, recognition.positions, width, b.text),
        )
        for b in numbered.broken
    ]
    reject_lines = sorted(r.line for r in rejected if r.line is not None)
    n, line_sum = (
        read_back
        or con.execute(f"SELECT count(*), sum(__line) FROM {table} WHERE __file = {i}").fetchall()[0]
    )
    if accounted(numbered, rejected, n, line_sum):
        scratch.quarantine.add(rows)
        return
    con.register("expected_lines", pd.DataFrame({"line": numbered.record_lines}))
    con.register("reject_lines", pd.DataFrame({"line": np.asarray(reject_lines, dtype=np.int64)}))
    swallowed = [
        r[0]
        for r in con.execute(
            f"""SELECT line FROM expected_lines
                WHERE line NOT IN (SELECT __line FROM {table} WHERE __file = {i})
                  AND line NOT IN (SELECT line FROM reject_lines) ORDER BY line"""
        ).fetchall()
    ]
    for line in swallowed:
        before = [x for x in reject_lines if x < line]
        where = f"the malformed record at line {before[-1]}" if before else "a malformed record"
        rows.append((i, line, None, "record", None, f"line not read: inside {where}", None))
    con.execute(
        f"""INSERT INTO q_rows SELECT {i}, __line, __rid, 'record', NULL,
                   'record boundary unclear: line ' || __line || ' does not start a record (stray quotes?)', NULL
            FROM {table} WHERE __file = {i} AND __line NOT IN (SELECT line FROM expected_lines)"""
    )
    con.unregister("expected_lines")
    con.unregister("reject_lines")
    scratch.quarantine.add(rows)


def accounted(numbered: NumberedCsv, rejected: list, rows: int, line_sum: int | None) -> bool:
    """Same count and same line-number sum as the numbering pass: every record start was read
    once (as a typed row or a reject); nothing swallowed, nothing misaligned."""
    reject_lines = [r.line for r in rejected if r.line is not None]
    return (
        len(reject_lines) == len(rejected)
        and rows + len(rejected) == numbered.records
        and (line_sum or 0) + sum(reject_lines) == int(numbered.record_lines.sum())
    )
