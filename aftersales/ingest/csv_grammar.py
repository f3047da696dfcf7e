"""DuckDB's CSV field grammar as regular expressions, for the numbering pass's exact path.

RFC 4180 as DuckDB reads it: a quote opens a quoted field only at the start of a field,
optionally after one space; `""` escapes a quote; spaces may follow a closing quote.
"""

from __future__ import annotations

import csv
import io
import re

# One field as DuckDB reads it: quoted (one optional space before the opening quote, spaces
# after the closing one), or unquoted and not starting with a quote (nor a space and a quote).
_F = r'(?: ?"(?:[^"]|"")*" *|(?! ?")[^,]*)'
_OUT_COMPLETE = re.compile(rf"{_F}(?:,{_F})*")
_OUT_OPEN = re.compile(rf'(?:{_F},)* ?"(?:[^"]|"")*')
_IN_STILL = re.compile(r'(?:[^"]|"")*')
_IN_CLOSE = re.compile(rf'(?:[^"]|"")*" *(?:,{_F})*')
_IN_REOPEN = re.compile(rf'(?:[^"]|"")*" *(?:,{_F})*, ?"(?:[^"]|"")*')
# Spaces around a quoted value: DuckDB's reading of these has quirks (a space before the closing
# line end is refused), so such records are written to the copy re-quoted from their parse.
SPACED_QUOTE = re.compile(r'(?:^|,) "|" +(?:,|$)', re.M)


_FIELD = re.compile(r' ?"((?:[^"]|"")*)" *|(?! ?")([^,\n\r]*)')


def parse_fields(text: str) -> list[str] | None:
    """The values of one whole record (its lines joined), or None when it breaks the field
    grammar (text after a closing quote, an unterminated quote)."""
    fields: list[str] = []
    pos, end = 0, len(text)
    while True:
        m = _FIELD.match(text, pos)
        quoted = m.group(1)
        fields.append(quoted.replace('""', '"') if quoted is not None else m.group(2))
        pos = m.end()
        if pos >= end:
            return fields
        if text[pos] != ",":
            return None
        pos += 1


def field_count(text: str) -> int | None:
    fields = parse_fields(text)
    return None if fields is None else len(fields)


def requoted(fields: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()[:-1].encode("utf-8")


_QUOTED_FIELD = re.compile(r'"((?:[^"]|"")*)"(?=,|$)', re.S)
_ANY_FIELD = re.compile(r"[^,]*", re.S)


def split_fields(text: str) -> list[str]:
    """The fields of a (possibly malformed) CSV record, leniently: a well-formed quoted field is
    unquoted; anything else (a stray or unterminated quote) runs to the next comma as written."""
    fields: list[str] = []
    pos, end = 0, len(text)
    while True:
        m = _QUOTED_FIELD.match(text, pos) if text.startswith('"', pos) else None
        if m:
            fields.append(m.group(1).replace('""', '"'))
        else:
            m = _ANY_FIELD.match(text, pos)
            fields.append(m.group(0))
        pos = m.end()
        if pos >= end:
            return fields
        pos += 1  # the comma


def joined_record(texts: list[str], joins: list[bytes], first: int, last: int) -> str:
    """The text of the record spanning lines `first`..`last` (with their separators)."""
    return texts[first] + "".join(joins[k].decode() + texts[k] for k in range(first + 1, last + 1))


def opens_quote(text: str) -> bool:
    """After a line that starts outside quotes: does it end inside an open quoted field?"""
    if _OUT_COMPLETE.fullmatch(text):
        return False
    return bool(_OUT_OPEN.fullmatch(text))  # else malformed: DuckDB rejects it and resumes next line


def still_open_after_quoted(text: str) -> bool:
    """After a continuation line (started inside a quoted field): still inside one?"""
    if _IN_STILL.fullmatch(text):
        return True
    if _IN_CLOSE.fullmatch(text):
        return False
    return bool(_IN_REOPEN.fullmatch(text))
