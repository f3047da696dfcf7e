"""Discover phase: the inbox's files -> the ledger's entries, fingerprinted, each with its shop.

Only regular files are read, in relative-path order; links (never followed), FIFOs, sockets and
devices are ledgered as skipped and never opened (discovery.py). Hidden and temporary files,
files outside a shop folder of the registry and files with the same bytes as an earlier one are
ledgered with a reason. A workbook is one entry per sheet (`<path>#<sheet name>`), its limits
checked before any reader. Open API dumps (told by the caller's `is_dump`) are set apart per shop
for their own reader; the others are the CSV and workbook exports the decode phase numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aftersales.ingest.decoding import Sniff, sniff
from aftersales.ingest.discovery import list_inbox
from aftersales.ingest.errors import FileRejected
from aftersales.ingest.export_admission import REGISTRY_FILE
from aftersales.ingest.ledger import LedgerEntry, mark_duplicates
from aftersales.ingest.workbook import sheet_entries
from aftersales.sharding import Shard


@dataclass(frozen=True)
class DiscoveredInbox:
    """The ledger's entries (the registry's first, then path order), their fingerprints, the
    exports to decode (ingestable CSV and workbook sheets, path order) and each shop's API dumps."""

    entries: tuple[LedgerEntry, ...]
    sniffs: Mapping[int, Sniff]
    exports: tuple[LedgerEntry, ...]
    api_dumps: Mapping[str, tuple[LedgerEntry, ...]]

    def for_shard(self, shard: Shard) -> DiscoveredInbox:
        """The part of the inbox one shard ingests: its shops' files, and (for the shard that holds
        them) shops.csv and the files of no shop. Duplicates were judged on the whole inbox first,
        so a file with the same bytes as an earlier one in another shard's folder stays a duplicate."""
        entries = tuple(e for e in self.entries if shard.owns(e.shop_id))
        kept = {e.index for e in entries}
        return DiscoveredInbox(
            entries,
            {i: s for i, s in self.sniffs.items() if i in kept},
            tuple(e for e in self.exports if e.index in kept),
            {shop: files for shop, files in self.api_dumps.items() if shard.owns(shop)},
        )


def fingerprint(entry: LedgerEntry) -> Sniff:
    """SHA-256, size and encoding of an entry's file, recorded on the entry."""
    found = sniff(entry.path)
    entry.sha256, entry.size_bytes, entry.encoding = found.sha256, found.size, found.encoding
    return found


def discover_exports(
    inbox: Path,
    registry_entry: LedgerEntry,
    shop_ids: frozenset[str] | set[str],
    is_dump: Callable[[LedgerEntry], object],
) -> DiscoveredInbox:
    """Ledger every file of `inbox` but the registry; ingestable files for which `is_dump` is true
    are set apart per shop for the Open API dump reader."""
    entries = [registry_entry]
    sniffs: dict[int, Sniff] = {}
    listing = list_inbox(inbox, exclude=(REGISTRY_FILE,))
    for item in listing.refused:
        refused = LedgerEntry(len(entries), item.rel, item.path)
        refused.skip(item.problem)
        entries.append(refused)
    for path in (item.path for item in listing.files):
        rel = path.relative_to(inbox)
        entry = LedgerEntry(len(entries), rel.as_posix(), path)
        entries.append(entry)
        try:
            found = fingerprint(entry)
        except OSError as exc:
            entry.skip(f"unreadable file: {exc.strerror or exc}")
            continue
        sniffs[entry.index] = found
        if any(part.startswith((".", "~$")) for part in rel.parts):
            entry.skip("hidden or temporary file (name starts with '.' or '~$')")
        elif len(rel.parts) < 2:
            entry.skip("not in a shop folder: exports belong in <Shop ID>/ folders next to shops.csv")
        elif rel.parts[0] not in shop_ids:
            entry.skip(f"shop folder {rel.parts[0]!r} is not a Shop ID in {REGISTRY_FILE}")
        else:
            entry.shop_id = rel.parts[0]
        if entry.status == "ingested" and found.container in ("xlsx", "xls"):
            _split_sheets(entries, sniffs, entry, found)
    mark_duplicates(entries)
    ingestable = [e for e in entries[1:] if e.status == "ingested"]
    dumps: dict[str, list[LedgerEntry]] = {}
    exports: list[LedgerEntry] = []
    for entry in ingestable:
        if is_dump(entry):
            dumps.setdefault(entry.shop_id, []).append(entry)
        else:
            exports.append(entry)
    return DiscoveredInbox(
        tuple(entries), sniffs, tuple(exports), {shop: tuple(files) for shop, files in dumps.items()}
    )


def _split_sheets(
    entries: list[LedgerEntry], sniffs: dict[int, Sniff], entry: LedgerEntry, found: Sniff
) -> None:
    """Replace a workbook's entry by one entry per sheet (or skip it when its limits are exceeded)."""
    try:
        sheets = sheet_entries(entry.path, found)
    except FileRejected as exc:
        entry.skip(exc.reason)
        sheets = []
    if sheets:
        entries.pop()
        del sniffs[entry.index]
    for suffix, sheet in sheets:
        sheet_entry = LedgerEntry(
            len(entries),
            entry.source_file + suffix,
            entry.path,
            sha256=sheet.sha256,
            size_bytes=sheet.size,
            shop_id=entry.shop_id,
            encoding=sheet.encoding,
        )
        entries.append(sheet_entry)
        sniffs[sheet_entry.index] = sheet
