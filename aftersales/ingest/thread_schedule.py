"""The ingest's threads: what runs on which thread, in which order, and who waits for whom.

Three threads, so that DuckDB (which releases the GIL while it executes) is never idle:
- the caller's thread types files (DuckDB) and finishes each kind in SQL;
- the numbering thread decodes and numbers files (Python), in the order they will be typed, so
  DuckDB types one group of files while the next group is numbered;
- the validating thread runs each kind's Great Expectations gates (single-threaded Python) as
  soon as the kind is typed, while DuckDB types the next kinds; at the end it renders the HTML
  report while the caller's thread writes the outputs.

Kinds are typed in `SHOP_EXPORT_KINDS` order (orders first: their amounts cap refunds). The order
of files is only a guess from each file's first line: a kind is validated only once every file
has been numbered and every file of that kind typed, so a wrong guess costs time, never a record.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from aftersales.export_kinds import KINDS, SHOP_EXPORT_KINDS
from aftersales.ingest.decoding import Sniff
from aftersales.ingest.export_admission import DecodedExport, admit_export, number_export
from aftersales.ingest.layout_typing import layout_key, type_layout
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.recognition import recognise
from aftersales.ingest.row_gates import finish_kind, gate_outcomes
from aftersales.ingest.scratch_db import Scratch
from aftersales.ingest.shop_registry import Shop
from aftersales.quality.validate import GateOutcome

# Bytes read to guess a file's kind from its first line (a header row is well under 64 KiB).
_FIRST_LINE_BYTES = 64 << 10


class IngestThreads:
    """The validating thread for a run (a context manager: no validation outlives the run)."""

    def __init__(self) -> None:
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-gx")
        self._validations: dict[str, Future[list[GateOutcome]]] = {}

    def __enter__(self) -> IngestThreads:
        return self

    def __exit__(self, *exc) -> None:
        self._validator.shutdown(wait=True, cancel_futures=True)

    def type_exports(
        self,
        scratch: Scratch,
        shops: Mapping[str, Shop],
        exports: tuple[LedgerEntry, ...],
        sniffs: Mapping[int, Sniff],
    ) -> dict[int, DecodedExport]:
        """Decode and type every export and start each kind's validation (`gate_outcomes_of` waits
        for one); the exports typed, and those refused on their header, by ledger index."""
        reads: dict[int, DecodedExport] = {}
        ranks: dict[bytes, int] = {}  # first line -> typing rank: thousands of files, few header rows
        groups = {e.index: _typing_group(e, sniffs[e.index], shops, ranks) for e in exports}
        ordered = sorted(exports, key=lambda e: groups[e.index])  # stable: path order within a group
        numbering = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-number")
        try:
            queue = deque(
                (e, numbering.submit(number_export, e, sniffs[e.index], scratch.tmp)) for e in ordered
            )
            layouts: dict[tuple, list[DecodedExport]] = {}

            def collect() -> None:
                entry, numbered = queue.popleft()
                decoded = admit_export(scratch.quality, entry, numbered.result)
                if decoded is None:
                    return
                if entry.status == "ingested":
                    layouts.setdefault(layout_key(decoded, shops), []).append(decoded)
                else:  # refused on its header: kept for the header's validation rows
                    reads[entry.index] = decoded

            def type_kind(name: str) -> None:
                for key in [k for k in layouts if k[0] == name]:
                    for typed in type_layout(scratch, shops, layouts.pop(key)):
                        reads[typed.entry.index] = typed

            for rank, name in enumerate(SHOP_EXPORT_KINDS):
                while queue and groups[queue[0][0].index][0] <= rank:
                    group = groups[queue[0][0].index]
                    while queue and groups[queue[0][0].index] == group:
                        collect()
                    type_kind(name)
                while queue:  # files whose first line did not tell their kind (or told it wrong)
                    collect()
                type_kind(name)
                self._start_validation(scratch, KINDS[name], reads)
        finally:
            numbering.shutdown(wait=True, cancel_futures=True)  # no numbering outlives the run
        return reads

    def _start_validation(self, scratch: Scratch, kind, reads: Mapping[int, DecodedExport]) -> None:
        """Finish a typed kind in SQL, then validate it on the validating thread."""
        finish_kind(scratch.con, kind, reads.values())
        cursor = scratch.con.cursor()  # a connection of its own: DuckDB connections are not thread-safe
        cursor.execute("SET TimeZone = 'UTC'")

        def validate() -> list[GateOutcome]:
            try:
                return gate_outcomes(cursor, scratch.quality, kind)
            finally:
                cursor.close()

        self._validations[kind.name] = self._validator.submit(validate)

    def gate_outcomes_of(self, kind_name: str) -> list[GateOutcome]:
        """Wait for a kind's validation (started by `type_exports`)."""
        return self._validations.pop(kind_name).result()

    def in_background(self, fn: Callable, *args) -> Future:
        """Run `fn` on the (by then idle) validating thread: Python work beside DuckDB work."""
        return self._validator.submit(fn, *args)


def _typing_group(
    entry: LedgerEntry, found: Sniff, shops: Mapping[str, Shop], ranks: dict[bytes, int]
) -> tuple[int, str, str]:
    """(rank of the kind its first line names in SHOP_EXPORT_KINDS, market, zone): the order
    in which files are numbered and typed. Rank -1 (numbered first) when the first line is
    not plain UTF-8 text naming a shop export kind; only the order depends on it."""
    shop = shops[entry.shop_id]
    return (_first_line_rank(entry, found, ranks), shop.market, shop.timezone)


def _first_line_rank(entry: LedgerEntry, found: Sniff, ranks: dict[bytes, int]) -> int:
    if found.problem or found.container != "text" or found.encoding not in ("utf-8", "utf-8-sig"):
        return -1
    try:
        with open(entry.path, "rb") as fh:
            fh.seek(found.bom_length)
            head = fh.read(_FIRST_LINE_BYTES)
    except OSError:
        return -1  # reported when the file is numbered
    first = next((line for line in head.split(b"\n")[:-1] if line.strip(b" \t\r")), None)
    if first is None:
        return -1
    if first not in ranks:
        try:
            cells = next(csv.reader([first.rstrip(b"\r").decode("utf-8", errors="replace")]), [])
        except csv.Error:
            cells = []
        recognition = recognise(cells)
        name = recognition.kind.name if recognition else ""
        ranks[first] = SHOP_EXPORT_KINDS.index(name) if name in SHOP_EXPORT_KINDS else -1
    return ranks[first]
