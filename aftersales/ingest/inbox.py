"""`ingest_inbox`: one inbox folder -> typed, validated `stg_*` tables in the run's work database.

Phases, each a module taking the previous phase's values (all typing and counting in DuckDB SQL;
Python only streams bytes and orchestrates):
1. the shop registry (`shop_registry.py`): shops.csv read and validated first; any problem with
   it stops the batch (InboxError);
2. discover (`export_listing.py`): every other file ledgered and fingerprinted, or skipped with a
   reason (outside a shop folder, same bytes as an earlier file, workbook limits, ...);
3. decode (`export_admission.py`): each export decoded, numbered by physical line and recognised; its
   header judged by the kind's GX header gates;
4. type (`layout_typing.py`): files sharing a layout typed by one multi-file `read_csv` SELECT
   into the kind's table; malformed records quarantined with their line;
5. validate (`row_gates.py`): description rows flagged, each kind's GX row gates run once;
6. quarantine (`gate_quarantine.py`, `quarantine_raw.py`): every failing record quarantined once
   per failed expectation (duplicates: all but the latest clean version), masked `raw`
   attached, validation rows and ledger counts settled;
7. write (`staging_write.py`): stg_*, quarantine, file_ledger, validation_results in one
   transaction, then a self-contained HTML validation report.
Which thread runs what (decode, type and validate overlap) is `thread_schedule.py`'s business.

Personal data is read only inside DuckDB's scan: usernames become keyed pseudonyms and message
content becomes `is_greeting`/`content_length` in the reading SELECT; quarantine `raw` masks
them. The numbered copies of the inputs live in a temporary folder next to the work database,
removed when ingestion ends.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil

from aftersales.export_kinds import KINDS, SHOP_EXPORT_KINDS
from aftersales.ingest.api_dump_typing import attach_dump_raw, dump_reader, settle_dump_ledger, type_api_dumps
from aftersales.ingest.errors import InboxError
from aftersales.ingest.export_admission import DecodedExport
from aftersales.ingest.export_listing import discover_exports
from aftersales.ingest.gate_quarantine import (
    count_typed_rows,
    quarantine_digest,
    quarantine_failures,
    settle_ledger,
    validation_rows,
)
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.quarantine_raw import attach_raw
from aftersales.ingest.scratch_db import Scratch, open_scratch, typed_table
from aftersales.ingest.shop_registry import inbox_problem, load_shop_registry
from aftersales.ingest.staging_write import write_work_db
from aftersales.ingest.thread_schedule import IngestThreads
from aftersales.quality.validation_page import render_validation_report, save_validation_report
from aftersales.settings import Settings, pseudonym_key
from aftersales.sharding import Shard, whole_inbox

log = logging.getLogger(__name__)


@dataclass
class KindCounts:
    files: int = 0
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    rows_skipped_description: int = 0
    rows_superseded: int = 0


@dataclass
class IngestSummary:
    batch_date: str
    run_id: str
    files_read: int  # every file found in the inbox, shops.csv included
    files_ingested: int
    files_skipped: int
    files_duplicate: int
    rows_read: int
    rows_staged: int
    rows_quarantined: int
    rows_skipped_description: int
    shops: int
    per_kind: dict[str, KindCounts] = field(default_factory=dict)
    validation_report_path: str = ""
    seconds: float = 0.0
    rows_superseded: int = 0  # Open API record versions a newer dump replaced


def ingest_inbox(
    inbox: Path, work_db: Path, batch_date: date, run_id: str, settings: Settings, report_dir: Path
) -> IngestSummary:
    """Ingest one inbox into `work_db`; raise InboxError when the batch cannot run at all.

    For a direct caller: the inbox is checked first (`inbox_problem`). The nightly batch calls
    `ingest_preflighted_inbox`, since its preflight stage has made exactly that check."""
    if (problem := inbox_problem(Path(inbox))) is not None:
        raise InboxError(problem)
    return ingest_preflighted_inbox(inbox, work_db, batch_date, run_id, settings, report_dir)


def ingest_preflighted_inbox(
    inbox: Path,
    work_db: Path,
    batch_date: date,
    run_id: str,
    settings: Settings,
    report_dir: Path,
    shard: Shard | None = None,
) -> IngestSummary:
    """`ingest_inbox` for an inbox `pipeline.preflight` has checked (exists, is a folder, holds
    shops.csv). The registry is still opened without following links: a check is not a lock.

    With `shard`, only that shard's part of the inbox is ingested (`DiscoveredInbox.for_shard`):
    its shops' files and registry rows, plus shops.csv's own ledger row and the files of no shop
    for the shard that holds them. Every shard reads the whole registry (a shop's market and time
    zone type its files) and discovers the whole inbox (duplicates are judged inbox-wide)."""
    started = time.perf_counter()
    inbox, work_db, report_dir = Path(inbox), Path(work_db), Path(report_dir)
    key = pseudonym_key(settings)
    work_db.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=work_db.parent) as tmp:
        scratch = open_scratch(settings, Path(tmp), key)
        try:
            with IngestThreads() as threads:
                summary, html = _ingest(scratch, threads, inbox, work_db, batch_date, run_id, settings, shard)
        finally:
            scratch.con.close()  # after the threads: no validation outlives the connection
    report_path = save_validation_report(report_dir, summary, html)
    summary.validation_report_path = str(report_path)
    summary.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "ingested %s: %d files (%d skipped, %d duplicate), %d rows read, %d staged, %d quarantined",
        inbox,
        summary.files_read,
        summary.files_skipped,
        summary.files_duplicate,
        summary.rows_read,
        summary.rows_staged,
        summary.rows_quarantined,
    )
    return summary


def _ingest(
    scratch: Scratch,
    threads: IngestThreads,
    inbox: Path,
    work_db: Path,
    batch_date: date,
    run_id: str,
    settings: Settings,
    shard: Shard | None,
) -> tuple[IngestSummary, str]:
    """The phases in order; returns the summary and the rendered validation report."""
    con = scratch.con
    registry = _timed("shop registry", load_shop_registry, scratch, inbox)
    shard = shard or whole_inbox(registry.shops)
    found = _timed(
        "discover", discover_exports, inbox, registry.read.entry, set(registry.shops), dump_reader
    ).for_shard(shard)
    # Dumps first: their rows are in the typed tables before any kind is finished and validated.
    dumps = _timed(
        "API dumps", type_api_dumps, scratch, registry.shops, found.api_dumps, batch_date, settings
    )
    exports = _timed(
        "decode and type", threads.type_exports, scratch, registry.shops, found.exports, found.sniffs
    )
    reads: dict[int, DecodedExport] = {0: registry.read, **exports} if shard.holds_inbox_files else exports
    entries = list(found.entries)
    scratch.quarantine.add(
        [
            (e.index, None, None, "file", e.expectation, e.reason, None)
            for e in entries
            if e.status == "skipped" and e.index not in dumps.quarantined_files
        ]
    )
    scratch.quarantine.flush()

    def quarantine() -> tuple[list[tuple], dict[int, tuple[int, int]]]:
        outcomes = {"shops": list(registry.outcomes)}
        for name in SHOP_EXPORT_KINDS:
            outcomes[name] = threads.gate_outcomes_of(name)
            quarantine_failures(con, KINDS[name], outcomes[name])
        typed_rows = count_typed_rows(con)
        validation = validation_rows(con, reads, outcomes, typed_rows, batch_date, run_id, dumps.entries)
        return validation, typed_rows

    validation, typed_rows = _timed("validate and quarantine", quarantine)
    _timed("quarantine raw", attach_raw, con, scratch.tmp, reads)
    attach_dump_raw(con, dumps)
    _timed("settle ledger", settle_ledger, con, entries, reads, typed_rows)
    settle_dump_ledger(con, dumps)
    # Everything the report shows is final once counted: the (idle) validating thread renders
    # it (Python) while this one writes the outputs (DuckDB, GIL released).
    keep_registered_shops(con, shard)
    summary = _summary(entries, sum(shard.owns(shop) for shop in registry.shops), batch_date, run_id)
    html = threads.in_background(
        render_validation_report, summary, entries, validation, *quarantine_digest(con, entries)
    )
    _timed("write", write_work_db, con, work_db, entries, validation, batch_date, run_id)
    return summary, html.result()


def keep_registered_shops(con, shard: Shard) -> None:
    """stg_shops of a shard lists its own shops only (health and SLA run over every registered
    shop); shops.csv's ledger counts, settled before, stay those of the whole file."""
    con.execute(
        f"DELETE FROM {typed_table(KINDS['shops'])} WHERE NOT __description AND NOT list_contains(?, shop_id)",
        [list(shard.shop_ids)],
    )


def _timed(name: str, step, *args):
    t0 = time.perf_counter()
    result = step(*args)
    rss = psutil.Process().memory_info().rss / 2**20
    log.info("ingest step %s: %.2f s, RSS %.0f MiB", name, time.perf_counter() - t0, rss)
    return result


def _summary(entries: list[LedgerEntry], shops: int, batch_date: date, run_id: str) -> IngestSummary:
    per_kind: dict[str, KindCounts] = {}
    for e in entries:
        if e.status != "ingested" or not e.file_kind:
            continue
        k = per_kind.setdefault(e.file_kind, KindCounts())
        k.files += 1
        k.rows_read += e.rows_read
        k.rows_staged += e.rows_staged
        k.rows_quarantined += e.rows_quarantined
        k.rows_skipped_description += e.rows_skipped_description
        k.rows_superseded += e.rows_superseded
    return IngestSummary(
        batch_date=batch_date.isoformat(),
        run_id=run_id,
        files_read=len(entries),
        files_ingested=sum(e.status == "ingested" for e in entries),
        files_skipped=sum(e.status == "skipped" for e in entries),
        files_duplicate=sum(e.status == "duplicate" for e in entries),
        rows_read=sum(e.rows_read for e in entries),
        rows_staged=sum(e.rows_staged for e in entries),
        rows_quarantined=sum(e.rows_quarantined for e in entries),
        rows_skipped_description=sum(e.rows_skipped_description for e in entries),
        shops=shops,
        rows_superseded=sum(e.rows_superseded for e in entries),
        per_kind=per_kind,
    )
