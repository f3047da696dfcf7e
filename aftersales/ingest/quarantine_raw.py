"""Quarantine `raw` of the records DuckDB read: masked JSON, read back from excerpts of the files.

Only the quarantined records are read again: each file's records are copied into an excerpt (its
header and those records, byte for byte) and the excerpts of a layout are read by one scan,
instead of parsing every file that has a quarantined record in full. An excerpt must parse into
exactly its records; a file whose excerpt does not (or whose record offsets are unknown) is read
again in full.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from aftersales.ingest.export_admission import DecodedExport
from aftersales.ingest.quarantine import masked_raw_sql
from aftersales.ingest.readers import read_csv_sql, read_csvs_sql
from aftersales.ingest.records import NumberedCsv
from aftersales.sql_quoting import sql_literal

log = logging.getLogger(__name__)


def attach_raw(con, tmp: Path, reads: Mapping[int, DecodedExport]) -> None:
    """Fill `q_rows.raw` of every quarantined typed record of the exports in `reads` with its
    masked JSON (records of Open API dumps: `api_dump_typing.attach_dump_raw`)."""
    needed: dict[int, list[int]] = {}
    for file, line in con.execute(
        "SELECT DISTINCT file, line FROM q_rows WHERE rid IS NOT NULL ORDER BY file, line"
    ).fetchall():
        if file in reads:
            needed.setdefault(file, []).append(line)
    layouts: dict[tuple, list[tuple[DecodedExport, NumberedCsv]]] = {}
    in_full: list[int] = []
    for i, lines in needed.items():
        read = reads[i]
        path = read.numbered.excerpt(np.asarray(lines, dtype=np.int64), tmp / f"{i}.quarantined.csv")
        if path is None:
            in_full.append(i)
            continue
        excerpt = NumberedCsv(path, read.numbered.header, read.numbered.header_line, np.empty(0, np.int64))
        layouts.setdefault((read.recognition.kind.name, tuple(read.numbered.header)), []).append(
            (read, excerpt)
        )
    for pairs in layouts.values():
        first = pairs[0][0]
        raw = masked_raw_sql(first.recognition.kind, first.recognition.positions)
        files_sql = ", ".join(f"({sql_literal(str(e.path))}, {r.entry.index})" for r, e in pairs)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE excerpt_raw AS
                SELECT f.file, src.__line AS line, {raw} AS raw
                FROM {read_csvs_sql([e for _, e in pairs], None)} AS src
                JOIN (VALUES {files_sql}) AS f(path, file) ON src.filename = f.path"""
        )
        parsed: dict[int, list[int]] = {}
        for file, line in con.execute("SELECT file, line FROM excerpt_raw ORDER BY file, line").fetchall():
            parsed.setdefault(file, []).append(line)
        unlike = [r.entry.index for r, _ in pairs if parsed.get(r.entry.index) != needed[r.entry.index]]
        in_full += unlike
        con.execute(
            """UPDATE q_rows SET raw = r.raw FROM excerpt_raw AS r
                WHERE q_rows.file = r.file AND q_rows.rid IS NOT NULL AND q_rows.line = r.line
                  AND NOT list_contains($unlike, r.file)""",
            {"unlike": unlike},
        )
    con.execute("DROP TABLE IF EXISTS excerpt_raw")
    for i in in_full:
        read = reads[i]
        log.info("%s: quarantined records read from the whole file", read.entry.source_file)
        raw = masked_raw_sql(read.recognition.kind, read.recognition.positions)
        con.execute(
            f"""UPDATE q_rows SET raw = r.raw
                FROM (SELECT src.__line AS line, {raw} AS raw FROM {read_csv_sql(read.numbered, None)} AS src
                      WHERE src.__line IN (SELECT line FROM q_rows WHERE file = {i} AND rid IS NOT NULL)) AS r
                WHERE q_rows.file = {i} AND q_rows.rid IS NOT NULL AND q_rows.line = r.line"""
        )
