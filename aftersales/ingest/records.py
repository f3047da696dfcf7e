"""Numbered CSV copies of the inputs: every record traces to its physical line.

A numbered copy holds each record with its 1-based physical line number as an extra first field
(`__line`, header = its own line), plus the line and byte offset of every record, so that each
record can be proved staged, quarantined or skipped as a description, and the few quarantined
records read back on their own (`NumberedCsv.excerpt`). CSV text is numbered by
line_numbering.py; workbook rows (already parsed) by `write_numbered_rows`, in the workbook
reader's child process, which loads this module by path (it imports nothing of the package).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LINE_FIELD = "__line"
# Characters kept of a set-aside line's text (only for its masked quarantine `raw`).
MAX_BROKEN_TEXT = 64 << 10


@dataclass(frozen=True)
class BrokenLine:
    """A physical line set aside by the numbering pass (never given to DuckDB): it opens an
    unbalanced quote, or such a quote swallowed it and it is no record on its own."""

    line: int
    reason: str
    text: str  # the line as written (at most MAX_BROKEN_TEXT characters), only for the masked raw


@dataclass
class NumberedCsv:
    """A UTF-8 CSV whose first field is the physical line number of each record."""

    path: Path
    header: list[str]  # the file's own header cells (without `__line`)
    header_line: int
    record_lines: np.ndarray  # int64 physical line of every data record, in file order
    # int64 byte offset of every data record in the numbered copy (same order), if known
    record_offsets: np.ndarray | None = None
    broken: tuple[BrokenLine, ...] = ()  # lines set aside, quarantined by the caller

    @property
    def records(self) -> int:
        return int(self.record_lines.size)

    def excerpt(self, lines: np.ndarray, out_path: Path) -> Path | None:
        """A numbered CSV holding the header and just the records starting at `lines` (sorted,
        distinct), copied byte for byte: each record runs from its offset to the next record's.
        None when the offsets are unknown or a line is not a record start here.

        Lets the few quarantined records be read again without parsing the whole file; the
        caller must check that the excerpt parses into exactly those records (a record that
        DuckDB read across a numbered record start would come out cut, hence unparseable).
        """
        if self.record_offsets is None or not lines.size:
            return None
        at = np.searchsorted(self.record_lines, lines)
        if at[-1] >= self.record_lines.size or not np.array_equal(self.record_lines[at], lines):
            return None
        ends = np.append(self.record_offsets[1:], self.path.stat().st_size)
        with open(self.path, "rb") as src, open(out_path, "wb") as out:
            out.write(src.readline())  # the header row: one line (its first line is a record)
            for start, end in zip(self.record_offsets[at].tolist(), ends[at].tolist(), strict=True):
                src.seek(start)
                out.write(src.read(end - start))
        return out_path


def write_numbered_rows(rows: Iterable[tuple[int, list[str]]], out_path: Path) -> NumberedCsv | None:
    """Numbered copy from already-parsed rows (XLSX): `(physical row number, cells)` pairs.

    The first row with any non-empty cell is the header; fully empty rows are not records.
    """
    header: list[str] | None = None
    header_line = 0
    lines: list[int] = []
    offsets: list[int] = []
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    with open(out_path, "wb") as out:
        for number, cells in rows:
            if not any(cells):
                continue
            if header is None:
                header, header_line = cells, number
                writer.writerow([LINE_FIELD, *cells])
            else:
                lines.append(number)
                offsets.append(out.tell())
                writer.writerow([number, *cells])
            out.write(text.getvalue().encode("utf-8"))
            text.seek(0)
            text.truncate()
    if header is None:
        return None
    return NumberedCsv(
        out_path, header, header_line, np.asarray(lines, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
    )
