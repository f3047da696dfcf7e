"""Physical line numbers for CSV records, so every staged or quarantined row traces to its line.

DuckDB's CSV reader does not expose the line a row came from, and its rejects table counts
records rather than physical lines. So one streaming pass over the UTF-8 text writes a copy in
which every record starts with its 1-based physical line number as an extra first field
(`__line`, header = its own line). Record boundaries follow the same quoting rules as DuckDB
(RFC 4180: a quote opens a quoted field only at the start of a field, `""` escapes a quote):

- fast path (numpy, per 8 MiB block): when every quote sits where naive quote parity expects it
  (opening quotes after a delimiter or line start, closing quotes before a delimiter or line
  end), parity alone decides which newlines lie inside quoted fields;
- exact path (per line, regular expressions): blocks with stray quotes (`12" pan`) are walked
  line by line with DuckDB's field grammar, so both readers agree on where records start.

Blank lines (only spaces, tabs, CR) are not records. The pass also returns the line number of
every record, used to prove afterwards that each record was staged, quarantined or skipped as a
description row, and its byte offset in the copy, so that the few quarantined records can be read
back on their own (`NumberedCsv.excerpt`). Lines are written with one bytes join per block, not
one formatted copy per line: the pass costs about a third of what it did.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LINE_FIELD = "__line"

_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13
# Bytes a blank line may hold (LF included: an empty line's first byte is its newline).
_BLANK = np.zeros(256, dtype=bool)
_BLANK[[32, 9, _CR, _LF]] = True
_MAX_LEADING_BLANKS = 32

_F = r'(?:"(?:[^"]|"")*"|(?!")[^,]*)'  # one field: quoted, or unquoted not starting with a quote
_OUT_COMPLETE = re.compile(rf"{_F}(?:,{_F})*")
_OUT_OPEN = re.compile(rf'(?:{_F},)*"(?:[^"]|"")*')
_IN_STILL = re.compile(r'(?:[^"]|"")*')
_IN_CLOSE = re.compile(rf'(?:[^"]|"")*"(?:,{_F})*')
_IN_REOPEN = re.compile(rf'(?:[^"]|"")*"(?:,{_F})*,"(?:[^"]|"")*')


@dataclass
class NumberedCsv:
    """A UTF-8 CSV whose first field is the physical line number of each record."""

    path: Path
    header: list[str]  # the file's own header cells (without `__line`)
    header_line: int
    record_lines: np.ndarray  # int64 physical line of every data record, in file order
    # int64 byte offset of every data record in the numbered copy (same order), if known
    record_offsets: np.ndarray | None = None

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
        if at[-1] >= self.records or not np.array_equal(self.record_lines[at], lines):
            return None
        ends = np.append(self.record_offsets[1:], self.path.stat().st_size)
        with open(self.path, "rb") as src, open(out_path, "wb") as out:
            out.write(src.readline())  # the header row: one line (its first line is a record)
            for start, end in zip(self.record_offsets[at].tolist(), ends[at].tolist(), strict=True):
                src.seek(start)
                out.write(src.read(end - start))
        return out_path


class _Numberer:
    def __init__(self, out) -> None:
        self.out = out
        self.line_no = 0  # physical lines consumed so far
        self.in_quote = False
        self.header_line: int | None = None
        self.record_chunks: list[np.ndarray] = []
        self.offset_chunks: list[np.ndarray] = []
        self.written = 0  # bytes written to `out`

    def block(self, block: bytes) -> None:
        """Number one block of complete lines (ends with a newline)."""
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == _LF)
        quotes = np.flatnonzero(buf == _QUOTE)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        if quotes.size == 0:
            in_quote_at_start = np.full(ends.size, self.in_quote)
            end_state = self.in_quote
        else:
            parity = self._regular_parity(buf, quotes)
            if parity is None:
                self._exact(block)
                return
            before = np.searchsorted(quotes, ends)  # quotes before each newline
            inside_after = ((before + parity) & 1).astype(bool)
            in_quote_at_start = np.empty(ends.size, dtype=bool)
            in_quote_at_start[0] = self.in_quote
            in_quote_at_start[1:] = inside_after[:-1]
            end_state = bool(inside_after[-1])
        blank = _blank_lines(buf, starts, ends)
        is_record = ~in_quote_at_start & ~blank
        skip = ~in_quote_at_start & blank
        self._write(block.split(b"\n")[:-1], is_record, skip, b"\r" in block)
        self.in_quote = end_state

    def _regular_parity(self, buf: np.ndarray, quotes: np.ndarray) -> int | None:
        """Quote-parity offset if every quote is where parity expects it, else None."""
        parity = 1 if self.in_quote else 0
        opening = ((np.arange(quotes.size) + parity) & 1) == 0
        prev = np.where(quotes > 0, buf[np.maximum(quotes - 1, 0)], _LF)
        nxt = np.where(quotes + 1 < buf.size, buf[np.minimum(quotes + 1, buf.size - 1)], _LF)
        ok_open = (prev == _COMMA) | (prev == _LF) | (prev == _QUOTE)
        ok_close = (nxt == _COMMA) | (nxt == _LF) | (nxt == _CR) | (nxt == _QUOTE)
        if np.all(ok_open[opening]) and np.all(ok_close[~opening]):
            return parity
        return None

    def _exact(self, block: bytes) -> None:
        lines = block.split(b"\n")[:-1]
        is_record = np.zeros(len(lines), dtype=bool)
        skip = np.zeros(len(lines), dtype=bool)
        for i, raw in enumerate(lines):
            text = raw.rstrip(b"\r").decode("utf-8")
            if self.in_quote:
                if '"' in text:
                    self.in_quote = _still_open_after_quoted(text)
                continue
            if not text.strip(" \t\r"):
                skip[i] = True
                continue
            is_record[i] = True
            if '"' in text:
                self.in_quote = _opens_quote(text)
        self._write(lines, is_record, skip, b"\r" in block)

    def _write(self, lines: list[bytes], is_record: np.ndarray, skip: np.ndarray, cr: bool) -> None:
        """Write the block's lines, each record prefixed by its line number; CR line ends removed
        (`cr`: the block holds a CR at all), blank lines outside quoted fields dropped."""
        numbers = np.arange(self.line_no + 1, self.line_no + 1 + len(lines), dtype=np.int64)
        self.line_no += len(lines)
        if self.header_line is None:
            if not is_record.any():
                return  # only blank lines so far
            # Lines before the first record can only be blank: nothing to keep from them.
            at = int(np.argmax(is_record))
            self.header_line = int(numbers[at])
            header = LINE_FIELD.encode() + b"," + lines[at].rstrip(b"\r") + b"\n"
            self.out.write(header)
            self.written += len(header)
            lines, is_record, skip, numbers = (
                lines[at + 1 :],
                is_record[at + 1 :],
                skip[at + 1 :],
                numbers[at + 1 :],
            )
        self.record_chunks.append(numbers[is_record])
        if not lines:
            return
        if cr:
            lines = [line.rstrip(b"\r") for line in lines]
        if skip.any():
            lines = [line for line, s in zip(lines, skip.tolist(), strict=True) if not s]
            numbers, is_record = numbers[~skip], is_record[~skip]
            if not lines:
                return
        # One bytes join over [prefix, line, prefix, line, ...]: the newline ending a line is
        # carried by the next line's prefix ("\n<number>," for a record, "\n" for a line that
        # continues a quoted field), which costs one small format per line and no per-line copy.
        heads = [b"\n%d," % n for n in numbers.tolist()]
        for i in np.flatnonzero(~is_record).tolist():
            heads[i] = b"\n"
        heads[0] = heads[0][1:]
        parts: list[bytes] = [b""] * (2 * len(lines) + 1)
        parts[0:-1:2] = heads
        parts[1::2] = lines
        parts[-1] = b"\n"
        data = b"".join(parts)
        self.out.write(data)
        # A line's prefix starts where the previous line's newline ends (the head's "\n").
        sizes = np.fromiter(map(len, heads), np.int64, len(heads)) + np.fromiter(
            map(len, lines), np.int64, len(lines)
        )
        starts = self.written + np.concatenate(([0], np.cumsum(sizes[:-1]))) + (np.arange(len(heads)) > 0)
        self.offset_chunks.append(starts[is_record])
        self.written += len(data)


def _blank_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines holding nothing but spaces, tabs and CR before their newline.

    Vectorised over the block's lines instead of its bytes: a line can only be blank if its
    first byte is, so only such lines (a tab-guarded ID column makes that every line) are
    followed byte by byte, all of them at once, until a non-blank byte or the line end.
    """
    blank = _BLANK[buf[starts]]  # an empty line's first byte is its newline
    pending = np.flatnonzero(blank & (starts < ends))
    for step in range(1, _MAX_LEADING_BLANKS + 1):
        if not pending.size:
            return blank
        pos = starts[pending] + step
        ended = pos >= ends[pending]  # every byte of the line was blank
        printed = ~ended & ~_BLANK[buf[np.minimum(pos, buf.size - 1)]]
        blank[pending[printed]] = False
        pending = pending[~ended & ~printed]
    for i in pending.tolist():  # lines opening with a long run of blanks
        blank[i] = not buf[starts[i] : ends[i]].tobytes().strip(b" \t\r")
    return blank


def _opens_quote(text: str) -> bool:
    """After a line that starts outside quotes: does it end inside an open quoted field?"""
    if _OUT_COMPLETE.fullmatch(text):
        return False
    return bool(_OUT_OPEN.fullmatch(text))  # else malformed: DuckDB rejects it and resumes next line


def _still_open_after_quoted(text: str) -> bool:
    """After a continuation line (started inside a quoted field): still inside one?"""
    if _IN_STILL.fullmatch(text):
        return True
    if _IN_CLOSE.fullmatch(text):
        return False
    return bool(_IN_REOPEN.fullmatch(text))


def number_records(chunks: Iterable[bytes], out_path: Path) -> NumberedCsv | None:
    """Write the numbered copy of a UTF-8 CSV stream; None when it holds no header row."""
    with open(out_path, "wb") as out:
        numberer = _Numberer(out)
        carry = b""
        for chunk in chunks:
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            numberer.block(data[: cut + 1])
            carry = data[cut + 1 :]
        if carry:
            numberer.block(carry + b"\n")
    if numberer.header_line is None:
        return None
    with open(out_path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))[1:]
    lines = np.concatenate(numberer.record_chunks) if numberer.record_chunks else np.empty(0, np.int64)
    offsets = np.concatenate(numberer.offset_chunks) if numberer.offset_chunks else np.empty(0, np.int64)
    return NumberedCsv(out_path, header, numberer.header_line, lines, offsets.astype(np.int64))


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
