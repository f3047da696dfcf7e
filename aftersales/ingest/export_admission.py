"""Decode phase: one export's bytes -> a numbered UTF-8 copy, its kind and its header's verdict.

Numbering (Python, `readers.prepare`) runs on the numbering thread (`thread_schedule.py`);
admitting the numbered file (kind recognised, required columns present) runs on the typing
thread. A file refused here is skipped with a reason and never typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aftersales.export_kinds import KINDS, header_key
from aftersales.ingest.decoding import Sniff
from aftersales.ingest.errors import FileRejected
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.readers import prepare
from aftersales.ingest.recognition import Recognition, recognise
from aftersales.ingest.records import NumberedCsv
from aftersales.quality.validate import GateOutcome, QualityGate

REGISTRY_FILE = "shops.csv"


@dataclass(frozen=True)
class DecodedExport:
    """A numbered export, its recognised kind and the outcome of its header's column gates."""

    entry: LedgerEntry
    numbered: NumberedCsv
    recognition: Recognition
    column_outcomes: tuple[GateOutcome, ...]

    def missing_column(self) -> FileRejected | None:
        """The refusal naming the first required column the header lacks, if any."""
        missing = [o.gate for o in self.column_outcomes if not o.success]
        if not missing:
            return None
        gate = missing[0]
        return FileRejected(
            f"{gate.type}: required column {gate.columns[0]!r} is missing", expectation=gate.type
        )


def number_export(entry: LedgerEntry, found: Sniff, tmp: Path) -> tuple[NumberedCsv, Recognition | None]:
    """Decode, number and recognise one export (thread-safe: touches nothing shared; FileRejected
    and OSError are raised to the caller)."""
    numbered = prepare(entry.path, found, tmp / f"{entry.index}.csv")
    return numbered, recognise(numbered.header)


def judge_header(
    quality: QualityGate, entry: LedgerEntry, numbered: NumberedCsv, recognition: Recognition
) -> DecodedExport:
    """The decoded export with its required-column gates judged on its header."""
    outcomes = quality.check_columns(recognition.kind, list(recognition.positions))
    return DecodedExport(entry, numbered, recognition, tuple(outcomes))


def admit_export(
    quality: QualityGate,
    entry: LedgerEntry,
    numbering: Callable[[], tuple[NumberedCsv, Recognition | None]],
) -> DecodedExport | None:
    """The decoded export of a numbered file, or None when it is not a shop export.

    `numbering()` returns what `number_export` made (or raises what it raised). A returned export
    whose header lacks a required column has its entry skipped: it is kept only for the header's
    validation rows.
    """
    try:
        numbered, recognition = numbering()
        if recognition is None:
            raise FileRejected(unknown_kind_reason(numbered.header))
        if recognition.kind.name == "shops":
            raise FileRejected(
                f"a shop registry inside a shop folder: only the inbox's {REGISTRY_FILE} is read"
            )
        entry.file_kind = recognition.kind.name
        decoded = judge_header(quality, entry, numbered, recognition)
        if (refusal := decoded.missing_column()) is not None:
            entry.skip(refusal.reason, refusal.expectation)
            entry.rows_read = 0
        return decoded
    except FileRejected as exc:
        entry.skip(exc.reason, exc.expectation)
    except OSError as exc:  # vanished or replaced between fingerprint and numbering
        entry.skip(f"unreadable file: {exc.strerror or exc}")
    entry.rows_read = 0
    return None


def unknown_kind_reason(header: list[str]) -> str:
    if len(header) < 3:
        for delim in (";", "\t", "|"):
            if any(delim in cell for cell in header):
                return f"wrong delimiter: the header row is separated by {delim!r}, expected ','"
    known = sum(1 for h in header if any(k.header_index.get(header_key(h)) for k in KINDS.values()))
    return (
        f"unknown export kind: the header row ({len(header)} columns, {known} known) "
        "matches no export of contract §2"
    )
