"""The file ledger: one row per inbox file, so nothing is lost and nothing is read twice.

Status: `ingested` (read; its rows staged or quarantined), `skipped` (not readable as an
export: the reason says why and a quarantine row with a NULL line number repeats it), or
`duplicate` (same bytes as a file earlier in path order; ingested once, under that file).
For every file rows_read = rows_staged + rows_quarantined + rows_skipped_description +
rows_superseded, where rows_read counts data records after the header (a description row is a
record), a record failing several expectations counts once, and rows_superseded counts the Open
API record versions another dump holds a newer or equal version of (0 for exports).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass
class LedgerEntry:
    index: int
    source_file: str  # path relative to the inbox, POSIX separators
    path: Path
    sha256: str = ""
    size_bytes: int = 0
    file_kind: str | None = None
    shop_id: str | None = None
    encoding: str | None = None
    status: str = "ingested"
    reason: str | None = None
    expectation: str | None = None  # the GX expectation behind a skip, if any
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    rows_skipped_description: int = 0
    rows_superseded: int = 0

    def __post_init__(self) -> None:
        self.source_file = printable_path(self.source_file)

    def skip(self, reason: str, expectation: str | None = None) -> None:
        self.status, self.reason, self.expectation = "skipped", reason, expectation

    @property
    def balanced(self) -> bool:
        return self.rows_read == (
            self.rows_staged + self.rows_quarantined + self.rows_skipped_description + self.rows_superseded
        )


def mark_duplicates(entries: list[LedgerEntry]) -> None:
    """Second and later files with the same SHA-256 become duplicates of the first (path order)."""
    first: dict[str, LedgerEntry] = {}
    for entry in entries:
        if not entry.sha256 or entry.status != "ingested":
            continue
        original = first.setdefault(entry.sha256, entry)
        if original is not entry:
            entry.status = "duplicate"
            entry.reason = f"same bytes as {original.source_file}"


LEDGER_COLUMNS = (
    "batch_date",
    "run_id",
    "source_file",
    "sha256",
    "size_bytes",
    "file_kind",
    "shop_id",
    "encoding",
    "status",
    "reason",
    "rows_read",
    "rows_staged",
    "rows_quarantined",
    "rows_skipped_description",
    "rows_superseded",
)


def ledger_rows(entries: list[LedgerEntry], batch_date: date, run_id: str) -> list[tuple]:
    return [
        (
            batch_date,
            run_id,
            e.source_file,
            e.sha256,
            e.size_bytes,
            e.file_kind,
            e.shop_id,
            e.encoding,
            e.status,
            e.reason,
            e.rows_read,
            e.rows_staged,
            e.rows_quarantined,
            e.rows_skipped_description,
            e.rows_superseded,
        )
        for e in entries
    ]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def printable_path(rel: str) -> str:
    """A file's inbox path as text every table, report and terminal can hold.

    File names are bytes: a name that is not UTF-8 arrives with surrogate escapes (which no
    UTF-8 table accepts) and is shown as `\\xNN`; control and bidi characters are shown escaped
    (they could rewrite a terminal line or a report); an e-mail address in a name is masked,
    since names are stored in clear and people name files after buyers.
    """
    text = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return _EMAIL.sub("[e-mail]", text)
