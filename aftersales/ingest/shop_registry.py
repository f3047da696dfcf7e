"""The shop registry (`shops.csv`): read, typed and validated before any export; any problem
with it stops the batch (InboxError), since it decides which shop folders are read at all."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aftersales.export_kinds import KINDS
from aftersales.ingest.discovery import regular_file_problem
from aftersales.ingest.errors import FileRejected, InboxError
from aftersales.ingest.export_admission import REGISTRY_FILE, DecodedExport, judge_header
from aftersales.ingest.export_listing import fingerprint
from aftersales.ingest.gate_quarantine import quarantine_failures
from aftersales.ingest.layout_typing import type_file
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.readers import prepare
from aftersales.ingest.recognition import recognise
from aftersales.ingest.row_gates import gate_outcomes, mark_description_rows
from aftersales.ingest.scratch_db import Scratch, typed_table
from aftersales.quality.validate import GateOutcome

_MAX_REASONS_IN_ERROR = 3


@dataclass(frozen=True)
class Shop:
    shop_id: str
    market: str
    timezone: str


@dataclass(frozen=True)
class ShopRegistry:
    """The registry as read: its ledger entry (the ledger's first row), its decoded file, the
    outcomes of its row gates and the shops it lists."""

    read: DecodedExport
    outcomes: tuple[GateOutcome, ...]
    shops: dict[str, Shop]


def inbox_problem(inbox: Path) -> str | None:
    """Why `inbox` cannot be a batch's inbox at all (one line), or None. The same check serves
    the pipeline's preflight and a direct `ingest_inbox` call."""
    if not inbox.exists():
        return f"inbox {inbox} does not exist"
    if not inbox.is_dir():
        return f"inbox {inbox} is not a folder"
    registry = inbox / REGISTRY_FILE
    if not (registry.exists() or registry.is_symlink()):
        return f"inbox {inbox} has no {REGISTRY_FILE} (the shop registry is required)"
    return None


def load_shop_registry(scratch: Scratch, inbox: Path) -> ShopRegistry:
    """Number, type and validate `shops.csv` into the scratch database; InboxError on any problem."""
    con = scratch.con
    entry = LedgerEntry(0, REGISTRY_FILE, inbox / REGISTRY_FILE)
    # The registry decides which shops run: a link (possibly to a file outside the inbox), a
    # FIFO or any other non-regular shops.csv refuses the batch instead of being followed.
    if (problem := regular_file_problem(inbox, REGISTRY_FILE)) is not None:
        raise InboxError(f"{REGISTRY_FILE}: {problem}")
    try:
        numbered = prepare(entry.path, fingerprint(entry), scratch.tmp / "0.csv")
    except FileRejected as exc:
        raise InboxError(f"{REGISTRY_FILE}: {exc.reason}") from None
    except OSError as exc:
        raise InboxError(f"{REGISTRY_FILE} is unreadable: {exc.strerror or exc}") from None
    recognition = recognise(numbered.header, kinds=("shops",))
    if recognition is None:
        needed = ", ".join(c.header for c in KINDS["shops"].required)
        raise InboxError(f"{REGISTRY_FILE}: the header row is not a shop registry (needs {needed})")
    entry.file_kind = "shops"
    read = judge_header(scratch.quality, entry, numbered, recognition)
    if (refusal := read.missing_column()) is not None:
        raise InboxError(f"{REGISTRY_FILE}: {refusal.reason}")
    type_file(scratch, {}, read)
    scratch.quarantine.flush()
    problems = con.execute(
        "SELECT line, reason FROM q_rows WHERE file = 0 ORDER BY line NULLS FIRST, reason"
    ).fetchall()
    outcomes: list[GateOutcome] = []
    if not problems:
        kind = KINDS["shops"]
        mark_description_rows(con, kind, [read])
        outcomes = gate_outcomes(con, scratch.quality, kind)
        quarantine_failures(con, kind, outcomes)
        problems = con.execute(
            "SELECT line, reason FROM q_rows WHERE file = 0 ORDER BY line, reason"
        ).fetchall()
    if problems:
        shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:_MAX_REASONS_IN_ERROR])
        more = len(problems) - _MAX_REASONS_IN_ERROR
        raise InboxError(f"{REGISTRY_FILE} is invalid: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    rows = con.execute(
        f"SELECT shop_id, market, timezone FROM {typed_table(KINDS['shops'])} WHERE NOT __description ORDER BY 1"
    ).fetchall()
    if not rows:
        raise InboxError(f"{REGISTRY_FILE} lists no shops")
    return ShopRegistry(read, tuple(outcomes), {r[0]: Shop(*r) for r in rows})
