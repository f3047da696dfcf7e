"""The numbering pass over CSV text: physical line numbers for records (see records.py).

DuckDB's CSV reader does not expose the line a row came from, and its rejects table counts
records rather than physical lines. So one streaming pass over the UTF-8 text writes a copy in
which every record starts with its 1-based physical line number as an extra first field
(`__line`, header = its own line). Record boundaries follow DuckDB's quoting rules (RFC 4180: a
quote opens a quoted field only at the start of a field, optionally after one space; `""`
escapes a quote):

- fast path (numpy, per 8 MiB block): when every quote sits where naive quote parity expects it
  (opening quotes after a delimiter or line start, closing quotes before a delimiter or line
  end), parity alone decides which newlines lie inside quoted fields; a record spanning lines
  must also have the header's field count (commas outside quotes, counted in numpy);
- exact path (per line, regular expressions): blocks with stray quotes (`12" pan`), a spanning
  record of the wrong width, or a bare CR are walked line by line with the field grammar.

Records are never cut by a block boundary: the lines of a record whose quoted value is still
open at the end of a block are carried into the next one (up to MAX_RECORD_BYTES).

Unbalanced quotes. A quoted value that spans lines but does not close into a record of the
header's field count (or never closes, or runs past MAX_RECORD_BYTES) was opened by a stray
quote: left to DuckDB it would swallow the following lines into one rejected record, losing
them and spilling their contents into the wrong columns. So the opening line is set aside as a
`BrokenLine` (never given to DuckDB; the caller quarantines it with a reason naming the lines it
would have swallowed), and the lines after it are read on their own: each complete record of
the header's width is recovered exactly as if the stray quote were not there (a real export
after one mistyped quote), any other line in that span is set aside too, its reason naming the
line where the quote opened. A line with text after a closing quote is set aside alone as well
(DuckDB would reject it but may read on from a later quote of it). Records with spaces around a
quoted value are written re-quoted from their parse, where DuckDB's reading has quirks. So
DuckDB only ever sees records whose quoting the numbering pass and DuckDB read alike.

Bare CR (a CR not followed by LF). DuckDB reading with `new_line = '\n'` refuses a whole file over
one bare CR outside quotes. A bare CR inside a quoted value is part of the value (kept as is); outside
one it is a line break, as Python's universal newlines, spreadsheets and editors read it (and
so a CR-only file still numbers its lines): the line number count follows what a person sees,
and the copy holds an LF there. CRs ending a line (CRLF) are removed as before.

Blank lines (only spaces, tabs, CR) are not records. The pass also returns the line number of
every record, used to prove afterwards that each record was staged, quarantined or skipped as a
description row, and its byte offset in the copy, so that the few quarantined records can be read
back on their own (`NumberedCsv.excerpt`). Lines are written with one bytes join per block, not
one formatted copy per line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from aftersales.ingest.csv_grammar import (
    SPACED_QUOTE,
    field_count,
    joined_record,
    opens_quote,
    parse_fields,
    requoted,
    split_fields,
    still_open_after_quoted,
)
from aftersales.ingest.records import LINE_FIELD, MAX_BROKEN_TEXT, BrokenLine, NumberedCsv

_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13
# Bytes a blank line may hold (LF included: an empty line's first byte is its newline).
_BLANK = np.zeros(256, dtype=bool)
_BLANK[[32, 9, _CR, _LF]] = True
_MAX_LEADING_BLANKS = 32
# A quoted value still open after this many bytes was opened by a stray quote (a real export row
# is a few KiB; DuckDB rejects lines over 1 MiB anyway). Bounds what a block carries forward.
MAX_RECORD_BYTES = 1 << 20
# Bytes kept of a line with no newline in sight once it outgrows every limit (2x the record limit).
_OVERSIZED_KEEP = 2 * MAX_RECORD_BYTES + 1


class _Numberer:
    def __init__(self, out) -> None:
        self.out = out
        self.line_no = 0  # physical lines consumed so far
        self.header_line: int | None = None
        self.width: int | None = None  # fields of the header record, once read
        self.header_fields: list[str] | None = None  # a header row read leniently (unbalanced quote)
        self.record_chunks: list[np.ndarray] = []
        self.offset_chunks: list[np.ndarray] = []
        self.broken: list[BrokenLine] = []
        self.written = 0  # bytes written to `out`

    def block(self, block: bytes, final: bool) -> bytes:
        """Number the records of one block of complete lines (ends with a newline), which starts
        outside any quoted value. Returns the tail not numbered yet: the lines of a record whose
        quoted value is still open at the end of the block (carried into the next block, so a
        record is always judged whole); nothing when `final`."""
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            return self._exact(block, final)  # a bare CR: a line break unless inside quotes
        buf = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(buf == _LF)
        quotes = np.flatnonzero(buf == _QUOTE)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        in_quote_at_start = np.zeros(ends.size, dtype=bool)
        if quotes.size:
            if not _regular_quotes(buf, quotes):
                return self._exact(block, final)
            inside_after = (np.searchsorted(quotes, ends) & 1).astype(bool)  # quotes before each newline
            in_quote_at_start[1:] = inside_after[:-1]
            if inside_after[-1]:  # the last record's quoted value is still open
                first = int(np.flatnonzero(~in_quote_at_start)[-1])
                if final or buf.size - starts[first] > MAX_RECORD_BYTES:
                    return self._exact(block, final)
                if first == 0:
                    return block
                return self.block(block[: starts[first]], final) + block[starts[first] :]
        blank = _blank_lines(buf, starts, ends)
        is_record = ~in_quote_at_start & ~blank
        skip = ~in_quote_at_start & blank
        if in_quote_at_start.any() and not self._multiline_records_fit(
            buf, quotes, starts, ends, is_record, in_quote_at_start
        ):
            return self._exact(block, final)
        self._write(block.split(b"\n")[:-1], is_record, skip, b"\r" in block)
        return b""

    def _multiline_records_fit(
        self,
        buf: np.ndarray,
        quotes: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        is_record: np.ndarray,
        continued: np.ndarray,
    ) -> bool:
        """Whether every record spanning lines has the header's field count (vectorised: commas
        outside quotes per line, summed per record). One that does not was opened by a stray
        quote; the block is then walked line by line (`_exact`)."""
        record_of_line = np.cumsum(is_record) - 1  # continuation lines belong to the record above
        part = (is_record | continued) & (record_of_line >= 0)
        if self.width is None:
            if self.header_line is not None:
                return True  # a header whose fields could not be counted: nothing to compare with
            head = np.flatnonzero(part & (record_of_line == 0))
            text = bytes(buf[starts[head[0]] : ends[head[-1]]]).decode("utf-8", errors="replace")
            self.width = field_count(text.replace("\r\n", "\n").rstrip("\r"))
            if self.width is None:
                return True
        commas = np.flatnonzero(buf == _COMMA)
        outside = commas[(np.searchsorted(quotes, commas) & 1) == 0]
        per_line = np.bincount(np.searchsorted(ends, outside), minlength=ends.size)
        records = int(is_record.sum())
        fields = np.bincount(record_of_line[part], weights=per_line[part], minlength=records) + 1
        spanning = np.zeros(records, dtype=bool)
        spanning[record_of_line[continued & part]] = True
        if self.header_line is None:
            spanning[0] = False  # the header record sets the width
        return bool(np.all(fields[spanning] == self.width))

    def _exact(self, block: bytes, final: bool) -> bytes:
        """Walk a block line by line with DuckDB's field grammar (blocks with stray quotes or bare
        CRs only). A quoted value spanning lines must close into a record of the header's field
        count; otherwise its opening quote is unbalanced: that line is set aside as broken and
        the lines it would swallow are read on their own (records if complete, else broken)."""
        lines: list[bytes] = []
        joins: list[bytes] = []  # separator before each line: LF, or a bare CR
        lf_line: list[int] = []  # index of the LF-terminated line each line comes from
        lf_starts: list[int] = []
        at = 0
        for k, raw in enumerate(block.split(b"\n")[:-1]):
            lf_starts.append(at)
            at += len(raw) + 1
            raw = raw.rstrip(b"\r")
            parts = raw.split(b"\r") if b"\r" in raw else [raw]
            lines += parts
            joins += [b"\n"] + [b"\r"] * (len(parts) - 1)
            lf_line += [k] * len(parts)
        n = len(lines)
        texts = [line.decode("utf-8", errors="replace") for line in lines]
        numbers = np.arange(self.line_no + 1, self.line_no + 1 + n, dtype=np.int64)
        is_record = np.zeros(n, dtype=bool)
        skip = np.zeros(n, dtype=bool)
        broken: list[BrokenLine] = []  # kept only once the block is written (a carry walks it again)
        opener: int | None = None  # line (index) whose unbalanced quote started the current region
        region_end = -1  # last line (index) that quote would have swallowed
        i = 0
        while i < n:
            text = texts[i]
            if not text.strip(" \t"):
                skip[i] = True
                i += 1
                continue
            swallowed = i <= region_end
            if not ('"' in text and opens_quote(text)):
                count = field_count(text)
                if swallowed and count != self.width:
                    skip[i] = True
                    broken.append(_swallowed(numbers, i, opener, text))
                elif count is None and self.width is not None:
                    # Text after a closing quote: DuckDB would reject the line but may read on
                    # from a later quote of it, across lines. Set aside here, exactly one line.
                    skip[i] = True
                    broken.append(BrokenLine(int(numbers[i]), _TEXT_AFTER_QUOTE, text[:MAX_BROKEN_TEXT]))
                else:
                    is_record[i] = True
                    if self.width is None:
                        self._take_header(text, text)
                    elif count is not None and SPACED_QUOTE.search(text):
                        lines[i] = requoted(parse_fields(text))
                i += 1
                continue
            j, size, open_ = i + 1, len(lines[i]), True
            while j < n and size <= MAX_RECORD_BYTES:
                size += len(lines[j]) + 1
                if '"' in texts[j] and not still_open_after_quoted(texts[j]):
                    open_ = False
                    break
                j += 1
            if open_ and j >= n and not final and size <= MAX_RECORD_BYTES:
                # The record may close in the next block: carry it from its own LF line on.
                cut = lf_starts[lf_line[i]]
                if cut == 0:
                    return block
                return self._exact(block[:cut], final) + block[cut:]
            last = min(j, n - 1)
            whole = None if open_ else joined_record(texts, joins, i, j)
            if self.width is None:  # the header record itself
                is_record[i] = True
                if self._take_header(whole, text):
                    i = last + 1
                else:  # unbalanced: the header is its first line alone
                    i += 1
                continue
            fields = None if whole is None else parse_fields(whole)
            if fields is not None and len(fields) == self.width:
                is_record[i] = True
                if SPACED_QUOTE.search(whole):  # one line in the copy: the value's breaks quoted
                    lines[i] = requoted(fields)
                    skip[i + 1 : j + 1] = True
                i = j + 1
                continue
            skip[i] = True
            if swallowed:
                region_end = max(region_end, last)
                broken.append(_swallowed(numbers, i, opener, text))
            else:
                opener, region_end = i, last
                while region_end > i and not texts[region_end].strip(" \t"):
                    region_end -= 1
                closes = None if open_ else int(numbers[j])
                reason = _unbalanced_reason(numbers, closes, i + 1, region_end)
                broken.append(BrokenLine(int(numbers[i]), reason, text[:MAX_BROKEN_TEXT]))
            i += 1
        self.broken += broken
        self._write(lines, is_record, skip, False, joins)
        return b""

    def _take_header(self, text: str | None, first_line: str) -> bool:
        """Learn the header's width from its record `text` (None: its quote never closes); False
        when the record breaks the field grammar. Such a header row (a stray or unbalanced quote)
        is its first line alone, the quote a literal; it is written re-quoted (as is a header
        with spaces around a quoted name), so that DuckDB and the csv module read the same cells."""
        fields = None if text is None else parse_fields(text)
        if fields is None:
            self.header_fields = split_fields(first_line)
        elif SPACED_QUOTE.search(text):
            self.header_fields = fields
        self.width = len(self.header_fields if self.header_fields is not None else fields)
        return fields is not None

    def _write(
        self,
        lines: list[bytes],
        is_record: np.ndarray,
        skip: np.ndarray,
        cr: bool,
        joins: list[bytes] | None = None,
    ) -> None:
        """Write the block's lines, each record prefixed by its line number; CR line ends removed
        (`cr`: the block holds a CR at all), skipped lines (blank, or set aside as broken) dropped.
        `joins`: the separator before each line (a bare CR inside a quoted value stays a CR)."""
        numbers = np.arange(self.line_no + 1, self.line_no + 1 + len(lines), dtype=np.int64)
        self.line_no += len(lines)
        if self.header_line is None:
            if not is_record.any():
                return  # only blank lines so far
            # Lines before the first record can only be blank: nothing to keep from them.
            at = int(np.argmax(is_record))
            self.header_line = int(numbers[at])
            end = at + 1
            while end < len(lines) and not is_record[end] and not skip[end]:
                end += 1  # the header's quoted values may span lines
            if self.width is None:
                text = b"\n".join(line.rstrip(b"\r") for line in lines[at:end]).decode(
                    "utf-8", errors="replace"
                )
                self._take_header(text, text.split("\n", 1)[0])
            if self.header_fields is None:
                header, rest = LINE_FIELD.encode() + b"," + lines[at].rstrip(b"\r") + b"\n", at + 1
            else:  # written re-quoted as one line (the header's own continuation lines dropped)
                header, rest = requoted([LINE_FIELD, *self.header_fields]) + b"\n", end
            self.out.write(header)
            self.written += len(header)
            lines, is_record, skip, numbers = lines[rest:], is_record[rest:], skip[rest:], numbers[rest:]
            if joins is not None:
                joins = joins[rest:]
        self.record_chunks.append(numbers[is_record])
        if not lines:
            return
        if cr:
            lines = [line.rstrip(b"\r") for line in lines]
        if skip.any():
            keep = (~skip).tolist()
            lines = [line for line, k in zip(lines, keep, strict=True) if k]
            if joins is not None:
                joins = [j for j, k in zip(joins, keep, strict=True) if k]
            numbers, is_record = numbers[~skip], is_record[~skip]
            if not lines:
                return
        # One bytes join over [prefix, line, prefix, line, ...]: the newline ending a line is
        # carried by the next line's prefix ("\n<number>," for a record, "\n" for a line that
        # continues a quoted field), which costs one small format per line and no per-line copy.
        heads = [b"\n%d," % n for n in numbers.tolist()]
        for i in np.flatnonzero(~is_record).tolist():
            heads[i] = b"\n" if joins is None else joins[i]
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


_TEXT_AFTER_QUOTE = "malformed line: text after a closing quote"


def _swallowed(numbers: np.ndarray, i: int, opener: int, text: str) -> BrokenLine:
    """Line `i`, inside the span an unbalanced quote (line `opener`) would swallow, and no
    complete record on its own."""
    reason = (
        f"malformed line: swallowed by the unbalanced quote opened at line {int(numbers[opener])}, "
        "and not a complete record on its own"
    )
    return BrokenLine(int(numbers[i]), reason, text[:MAX_BROKEN_TEXT])


def _unbalanced_reason(numbers: np.ndarray, closes: int | None, first: int, last: int) -> str:
    """Reason for a line whose quote never closes (`closes` None) or closes on line `closes`
    into no record of the header's width; lines `first`..`last` are then read on their own."""
    if last < first:
        tail = ""
    elif first == last:
        tail = f"; line {int(numbers[first])} read on its own"
    else:
        tail = f"; lines {int(numbers[first])}-{int(numbers[last])} read on their own"
    if closes is None and not tail:
        return "malformed line: unterminated quoted value (truncated file?)"
    if closes is None:
        return "malformed line: unterminated quoted value (an unbalanced quote)" + tail
    return f"malformed line: unbalanced quote (the quoted value would run to line {closes})" + tail


def _regular_quotes(buf: np.ndarray, quotes: np.ndarray) -> bool:
    """Whether every quote of a block (which starts outside quotes) sits where naive quote parity
    expects it: opening quotes after a delimiter or line start, closing ones before a delimiter
    or line end. Then parity alone decides which newlines lie inside quoted values."""
    opening = (np.arange(quotes.size) & 1) == 0
    prev = np.where(quotes > 0, buf[np.maximum(quotes - 1, 0)], _LF)
    nxt = np.where(quotes + 1 < buf.size, buf[np.minimum(quotes + 1, buf.size - 1)], _LF)
    ok_open = (prev == _COMMA) | (prev == _LF) | (prev == _QUOTE)
    ok_close = (nxt == _COMMA) | (nxt == _LF) | (nxt == _CR) | (nxt == _QUOTE)
    return bool(np.all(ok_open[opening]) and np.all(ok_close[~opening]))


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


def number_records(chunks: Iterable[bytes], out_path: Path) -> NumberedCsv | None:
    """Write the numbered copy of a UTF-8 CSV stream; None when it holds no header row."""
    with open(out_path, "wb") as out:
        numberer = _Numberer(out)
        carry = b""
        skipping = False  # inside a line already longer than any record may be: drop its bytes
        for chunk in chunks:
            if skipping:
                end = chunk.find(b"\n")
                if end < 0:
                    continue
                chunk, skipping = chunk[end:], False
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > _OVERSIZED_KEEP:
                    # A line past the record limit is rejected whatever follows in it: keep enough to
                    # be seen as oversized, never the rest (one line must not cost memory per byte).
                    carry, skipping = data[:_OVERSIZED_KEEP], True
                else:
                    carry = data
                continue
            carry = numberer.block(data[: cut + 1], final=False) + data[cut + 1 :]
        if carry:
            numberer.block(carry if carry.endswith(b"\n") else carry + b"\n", final=True)
    if numberer.header_line is None:
        return None
    with open(out_path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))[1:]
    lines = np.concatenate(numberer.record_chunks) if numberer.record_chunks else np.empty(0, np.int64)
    offsets = np.concatenate(numberer.offset_chunks) if numberer.offset_chunks else np.empty(0, np.int64)
    broken = tuple(b for b in numberer.broken if b.line > numberer.header_line)
    return NumberedCsv(out_path, header, numberer.header_line, lines, offsets.astype(np.int64), broken)
