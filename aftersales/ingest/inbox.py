"""`ingest_inbox`: one inbox folder -> typed, validated `stg_*` tables in the run's work database.

Flow (all typing and counting in DuckDB SQL; Python only streams bytes and orchestrates):
1. shops.csv is read and validated first; any problem with it stops the batch (InboxError).
2. Every other file is fingerprinted; files with the same bytes as an earlier one (path order)
   are ledgered as duplicates. Files outside a known shop folder, undecodable, binary, empty,
   of unknown kind or missing a required column are skipped with a reason (ledger + one
   quarantine row with a NULL line number); the run goes on.
3. Each readable file is decoded and numbered (physical line per record); its header is checked
   with the kind's GX header suite (once per distinct header set). Files sharing kind, header row,
   market and zone are read by one multi-file DuckDB `read_csv` and typed in one SELECT into a
   table per kind; a file whose records are not all accounted for by that scan is read again on
   its own. Malformed records (DuckDB rejects) are quarantined with their line; a description
   row under the header is detected, skipped and counted.
4. Each kind is validated once with its Great Expectations suite; every failing record is
   quarantined once per failed expectation, with a reason naming expectation and column, and is
   staged zero times. A duplicated record key keeps its latest clean version (later file in path
   order, then later line) and quarantines the others. Kinds are typed in `SHOP_EXPORT_KINDS`
   order and each kind is validated (GX is single-threaded Python) on a second thread as soon
   as it is typed, while DuckDB types the next kinds; each part of a suite reads a frame of
   just its columns, so no kind is ever in memory as one wide frame. Files are numbered on a
   third thread, in typing order, while DuckDB types the files numbered before them.
5. Results are written in one transaction into the work database: stg_*, quarantine,
   file_ledger, validation_results (each dropped and recreated: a rerun replaces them), then a
   self-contained HTML validation report (rendered on the second thread during that write).

Personal data is read only inside DuckDB's scan: usernames become keyed pseudonyms and message
content becomes `is_greeting`/`content_length` in the reading SELECT; quarantine `raw` masks
them (read back from an excerpt of just the quarantined records, not the whole file). The
numbered copies of the inputs live in a temporary folder next to the work database, removed
when ingestion ends.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil
import pyarrow as pa

from aftersales.database import duckdb_config
from aftersales.ingest.decoding import Sniff, sniff
from aftersales.ingest.discovery import list_inbox, regular_file_problem
from aftersales.ingest.errors import FileRejected, InboxError
from aftersales.ingest.greetings import greeting_sql
from aftersales.ingest.kinds import KINDS, SHOP_EXPORT_KINDS, Kind, Recognition, header_key, recognise
from aftersales.ingest.ledger import LEDGER_COLUMNS, LedgerEntry, ledger_rows, mark_duplicates
from aftersales.ingest.pseudonyms import install_pseudonym_key, pseudonym_sql
from aftersales.ingest.quarantine import masked_raw_from_line, masked_raw_sql
from aftersales.ingest.readers import (
    RejectedRecord,
    drop_rejects,
    prepare,
    read_csv_sql,
    read_csvs_sql,
    reject_reason,
    rejected_records,
    rejected_records_by_path,
    scan_failure_reason,
)
from aftersales.ingest.records import NumberedCsv
from aftersales.ingest.typing_sql import (
    FileContext,
    description_row_condition,
    install_macros,
    sql_ident,
    sql_literal,
    typed_select,
    typed_table_ddl,
)
from aftersales.ingest.workbook import sheet_entries
from aftersales.quality.suites import KindSuite
from aftersales.quality.validate import GateOutcome, QualityGate
from aftersales.quality.validation_page import render_validation_report, save_validation_report
from aftersales.settings import Settings, pseudonym_key
from aftersales.staging import STAGING_TABLES, create_staging_tables
from aftersales.warehouse_schema import RESULT_DDL

log = logging.getLogger(__name__)

SHOPS_FILE = "shops.csv"
OUTPUT_TABLES = ("quarantine", "file_ledger", "validation_results")
# DuckDB working memory for ingestion; beyond it, intermediate tables spill to the temp folder.
MEMORY_LIMIT = "768MB"
_MAX_REASONS_IN_ERROR = 3
# Bytes read to guess a file's kind from its first line (a header row is well under 64 KiB).
_FIRST_LINE_BYTES = 64 << 10


@dataclass
class KindCounts:
    files: int = 0
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    rows_skipped_description: int = 0


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


@dataclass
class _FileRead:
    entry: LedgerEntry
    numbered: NumberedCsv
    recognition: Recognition
    column_outcomes: list[GateOutcome]


@dataclass(frozen=True)
class Shop:
    shop_id: str
    market: str
    timezone: str


def ingest_inbox(
    inbox: Path, work_db: Path, batch_date: date, run_id: str, settings: Settings, report_dir: Path
) -> IngestSummary:
    """Ingest one inbox into `work_db`; raise InboxError when the batch cannot run at all."""
    started = time.perf_counter()
    inbox, work_db, report_dir = Path(inbox), Path(work_db), Path(report_dir)
    if not inbox.exists():
        raise InboxError(f"inbox {inbox} does not exist")
    if not inbox.is_dir():
        raise InboxError(f"inbox {inbox} is not a folder")
    if not ((inbox / SHOPS_FILE).exists() or (inbox / SHOPS_FILE).is_symlink()):
        raise InboxError(f"inbox {inbox} has no {SHOPS_FILE} (the shop registry is required)")
    key = pseudonym_key(settings)
    work_db.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=work_db.parent) as tmp:
        # The batch's DuckDB options (threads), with ingestion's own tighter memory bound.
        con = duckdb.connect(":memory:", config={**duckdb_config(settings), "memory_limit": MEMORY_LIMIT})
        validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-gx")
        try:
            run = _Run(con, inbox, Path(tmp), batch_date, run_id, key, validator)
            for step in (
                run.load_registry,
                run.read_exports,
                run.validate_exports,
                run.attach_raw,
                run.count,
            ):
                _timed(step)
            # Everything the report shows is final once counted: the (idle) validating thread
            # renders it (Python) while this one writes the outputs (DuckDB, GIL released).
            summary = run.summary()
            html = validator.submit(render_validation_report, summary, *run.report_data())
            _timed(run.write, work_db)
            html = html.result()
        finally:
            validator.shutdown(wait=True, cancel_futures=True)  # no validation outlives the connection
            con.close()
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


def _timed(step, *args):
    t0 = time.perf_counter()
    result = step(*args)
    rss = psutil.Process().memory_info().rss / 2**20
    log.info("ingest step %s: %.2f s, RSS %.0f MiB", step.__name__, time.perf_counter() - t0, rss)
    return result


def _table(kind: Kind) -> str:
    """The run's typed table of a kind, in the scratch database."""
    return f"scratch.typed_{kind.name}"


class _Run:
    def __init__(
        self,
        con,
        inbox: Path,
        tmp: Path,
        batch_date: date,
        run_id: str,
        key: bytes,
        validator: ThreadPoolExecutor,
    ):
        self.con, self.inbox, self.tmp, self.validator = con, inbox, tmp, validator
        self.batch_date, self.run_id = batch_date, run_id
        self.entries: list[LedgerEntry] = []
        self.reads: dict[int, _FileRead] = {}
        self.shops: dict[str, Shop] = {}
        self.validation_rows: list[tuple] = []
        self.sniffs: dict[int, Sniff] = {}
        self.outcomes: dict[str, list[GateOutcome]] = {}
        self.typed_rows: dict[int, tuple[int, int]] = {}  # file -> (typed rows, description rows)
        self.validations: dict[str, Future[list[GateOutcome]]] = {}  # kind -> its GX row gates
        self.pending_q_rows: list[tuple] = []  # quarantine rows of the reading pass, inserted in bulk
        self.first_line_ranks: dict[bytes, int] = {}  # first line -> typing rank (`_first_line_rank`)
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = {sql_literal(str(tmp / 'spill'))}")
        con.execute("SET preserve_insertion_order = false")
        # Typed tables live in a compressed in-memory scratch database: compressed like a database
        # file (a few hundred MiB for a default batch) and, like any buffer-managed block, spilled
        # to the temp folder beyond the memory limit, but without a file's write-ahead log and
        # checkpoints (typing ~10% cheaper than into a scratch file). They hold no personal data
        # (pseudonyms and derived message facts only).
        con.execute("ATTACH ':memory:' AS scratch (COMPRESS)")
        install_macros(con)
        install_pseudonym_key(con, key)
        for kind in KINDS.values():
            con.execute(typed_table_ddl(kind, _table(kind)))
        con.execute(
            """CREATE TEMP TABLE q_rows (file INTEGER, line BIGINT, rid BIGINT, scope VARCHAR,
                   expectation VARCHAR, reason VARCHAR, raw VARCHAR)"""
        )
        names = [r[0] for r in con.execute("SELECT name FROM pg_timezone_names() ORDER BY name").fetchall()]
        self.quality = QualityGate(names)
        for kind in KINDS.values():
            # Registered up front: from the first background validation on, only the validating
            # thread touches the GX context.
            self.quality.suite(kind)

    # -- 1. the shop registry -------------------------------------------------------------
    def load_registry(self) -> None:
        entry = LedgerEntry(0, SHOPS_FILE, self.inbox / SHOPS_FILE)
        self.entries.append(entry)
        # The registry decides which shops run: a link (possibly to a file outside the inbox), a
        # FIFO or any other non-regular shops.csv refuses the batch instead of being followed.
        if (problem := regular_file_problem(self.inbox, SHOPS_FILE)) is not None:
            raise InboxError(f"{SHOPS_FILE}: {problem}")
        try:
            found = self._fingerprint(entry)
            numbered = prepare(entry.path, found, self.tmp / "0.csv")
        except FileRejected as exc:
            raise InboxError(f"{SHOPS_FILE}: {exc.reason}") from None
        except OSError as exc:
            raise InboxError(f"{SHOPS_FILE} is unreadable: {exc.strerror or exc}") from None
        recognition = recognise(numbered.header, kinds=("shops",))
        if recognition is None:
            needed = ", ".join(c.header for c in KINDS["shops"].required)
            raise InboxError(f"{SHOPS_FILE}: the header row is not a shop registry (needs {needed})")
        entry.file_kind = "shops"
        try:
            outcomes = self._check_header(entry, numbered, recognition)
            self._read(_FileRead(entry, numbered, recognition, outcomes))
        except FileRejected as exc:
            raise InboxError(f"{SHOPS_FILE}: {exc.reason}") from None
        self._flush_q_rows()
        problems = self.con.execute(
            "SELECT line, reason FROM q_rows WHERE file = 0 ORDER BY line NULLS FIRST, reason"
        ).fetchall()
        if not problems:
            self._mark_description_rows(KINDS["shops"])
            self._validate(KINDS["shops"])
            problems = self.con.execute(
                "SELECT line, reason FROM q_rows WHERE file = 0 ORDER BY line, reason"
            ).fetchall()
        if problems:
            shown = "; ".join(f"line {line}: {reason}" for line, reason in problems[:_MAX_REASONS_IN_ERROR])
            more = len(problems) - _MAX_REASONS_IN_ERROR
            raise InboxError(
                f"{SHOPS_FILE} is invalid: {shown}" + (f" (and {more} more)" if more > 0 else "")
            )
        rows = self.con.execute(
            f"SELECT shop_id, market, timezone FROM {_table(KINDS['shops'])} WHERE NOT __description ORDER BY 1"
        ).fetchall()
        if not rows:
            raise InboxError(f"{SHOPS_FILE} lists no shops")
        self.shops = {r[0]: Shop(*r) for r in rows}

    # -- 2-3. the shops' exports ----------------------------------------------------------
    def read_exports(self) -> None:
        # Only regular files reach the loop below, in relative-path order. Links (never followed),
        # FIFOs, sockets and devices are ledgered as skipped here and never opened (discovery.py).
        listing = list_inbox(self.inbox, exclude=(SHOPS_FILE,))
        for item in listing.refused:
            refused = LedgerEntry(len(self.entries), item.rel, item.path)
            refused.skip(item.problem)
            self.entries.append(refused)
        paths = [item.path for item in listing.files]
        for path in paths:
            rel = path.relative_to(self.inbox)
            entry = LedgerEntry(len(self.entries), rel.as_posix(), path)
            self.entries.append(entry)
            try:
                self._fingerprint(entry)
            except OSError as exc:
                entry.skip(f"unreadable file: {exc.strerror or exc}")
                continue
            if any(part.startswith((".", "~$")) for part in rel.parts):
                entry.skip("hidden or temporary file (name starts with '.' or '~$')")
            elif len(rel.parts) < 2:
                entry.skip("not in a shop folder: exports belong in <Shop ID>/ folders next to shops.csv")
            elif rel.parts[0] not in self.shops:
                entry.skip(f"shop folder {rel.parts[0]!r} is not a Shop ID in {SHOPS_FILE}")
            else:
                entry.shop_id = rel.parts[0]
            found = self.sniffs[entry.index]
            if entry.status == "ingested" and found.container in ("xlsx", "xls"):
                # Every sheet is read or reported: a workbook of several sheets is one ledger entry
                # per sheet (`<path>#<sheet name>`); workbook limits are checked before any reader.
                try:
                    sheets = sheet_entries(path, found)
                except FileRejected as exc:
                    entry.skip(exc.reason)
                    sheets = []
                if sheets:
                    self.entries.pop()
                for suffix, sheet in sheets:
                    sheet_entry = LedgerEntry(
                        len(self.entries),
                        entry.source_file + suffix,
                        path,
                        sha256=sheet.sha256,
                        size_bytes=sheet.size,
                        shop_id=entry.shop_id,
                        encoding=sheet.encoding,
                    )
                    self.entries.append(sheet_entry)
                    self.sniffs[sheet_entry.index] = sheet
        mark_duplicates(self.entries)
        # Files with the same kind, header row, market and zone are typed by one SELECT over one
        # multi-file `read_csv` (DuckDB parallelises it; planning happens once per layout, not
        # once per file). Rows, rejects and line numbers stay per file.
        #
        # Numbering (Python) runs on a thread of its own, in the order the files will be typed
        # (`_typing_group`), so DuckDB types one group of files while the next group is numbered
        # (DuckDB releases the GIL while it executes). The order is only a guess from each
        # file's first line: a kind is validated only once every file has been numbered and every
        # file of that kind typed, so a wrong guess costs time, never a record.
        exports = [e for e in self.entries[1:] if e.status == "ingested"]
        groups = {e.index: self._typing_group(e) for e in exports}
        exports.sort(key=lambda e: groups[e.index])  # stable: path order within a group
        numbering = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-number")
        try:
            queue = deque((e, numbering.submit(self._number_export, e)) for e in exports)
            layouts: dict[tuple, list[_FileRead]] = {}
            for rank, name in enumerate(SHOP_EXPORT_KINDS):
                while queue and groups[queue[0][0].index][0] <= rank:
                    group = groups[queue[0][0].index]
                    while queue and groups[queue[0][0].index] == group:
                        self._collect_export(*queue.popleft(), layouts)
                    self._read_layouts(name, layouts)
                while queue:  # files whose first line did not tell their kind (or told it wrong)
                    self._collect_export(*queue.popleft(), layouts)
                self._read_layouts(name, layouts)
                self._start_validation(KINDS[name])
        finally:
            numbering.shutdown(wait=True, cancel_futures=True)  # no numbering outlives the run
        for entry in self.entries:
            if entry.status == "skipped":
                self._quarantine_file(entry)
        self._flush_q_rows()

    def _fingerprint(self, entry: LedgerEntry) -> Sniff:
        found = sniff(entry.path)
        entry.sha256, entry.size_bytes, entry.encoding = found.sha256, found.size, found.encoding
        self.sniffs[entry.index] = found
        return found

    def _typing_group(self, entry: LedgerEntry) -> tuple[int, str, str]:
        """(rank of the kind its first line names in SHOP_EXPORT_KINDS, market, zone): the order
        in which files are numbered and typed. Rank -1 (numbered first) when the first line is
        not plain UTF-8 text naming a shop export kind; only the order depends on it."""
        shop = self.shops[entry.shop_id]
        return (self._first_line_rank(entry), shop.market, shop.timezone)

    def _first_line_rank(self, entry: LedgerEntry) -> int:
        found = self.sniffs[entry.index]
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
        if first not in self.first_line_ranks:  # thousands of files, a handful of header rows
            try:
                cells = next(csv.reader([first.rstrip(b"\r").decode("utf-8", errors="replace")]), [])
            except csv.Error:
                cells = []
            recognition = recognise(cells)
            name = recognition.kind.name if recognition else ""
            self.first_line_ranks[first] = SHOP_EXPORT_KINDS.index(name) if name in SHOP_EXPORT_KINDS else -1
        return self.first_line_ranks[first]

    def _number_export(self, entry: LedgerEntry) -> tuple[NumberedCsv, Recognition | None]:
        """Decode, number and recognise one export (on the numbering thread: touches no shared
        state but the read-only sniffs; FileRejected is raised to the collecting thread)."""
        numbered = prepare(entry.path, self.sniffs[entry.index], self.tmp / f"{entry.index}.csv")
        return numbered, recognise(numbered.header)

    def _collect_export(
        self, entry: LedgerEntry, numbering: Future, layouts: dict[tuple, list[_FileRead]]
    ) -> None:
        """Add a numbered export to its layout (kind, header row, market, zone), unless skipped."""
        if (read := self._plan_export(entry, numbering)) is not None:
            shop = self.shops[entry.shop_id]
            key = (read.recognition.kind.name, tuple(read.numbered.header), shop.market, shop.timezone)
            layouts.setdefault(key, []).append(read)

    def _read_layouts(self, kind_name: str, layouts: dict[tuple, list[_FileRead]]) -> None:
        """Type (and forget) the collected layouts of one kind."""
        for key in [k for k in layouts if k[0] == kind_name]:
            self._read_layout(layouts.pop(key))

    def _plan_export(self, entry: LedgerEntry, numbering: Future) -> _FileRead | None:
        """Check the recognised kind and header of a numbered export; None when it is skipped."""
        try:
            numbered, recognition = numbering.result()
            if recognition is None:
                raise FileRejected(_unknown_kind_reason(numbered.header))
            if recognition.kind.name == "shops":
                raise FileRejected(
                    f"a shop registry inside a shop folder: only the inbox's {SHOPS_FILE} is read"
                )
            entry.file_kind = recognition.kind.name
            outcomes = self._check_header(entry, numbered, recognition)
        except FileRejected as exc:
            entry.skip(exc.reason, exc.expectation)
            entry.rows_read = 0
            return None
        except OSError as exc:  # vanished or replaced between fingerprint and numbering
            entry.skip(f"unreadable file: {exc.strerror or exc}")
            entry.rows_read = 0
            return None
        return _FileRead(entry, numbered, recognition, outcomes)

    def _read_layout(self, reads: list[_FileRead]) -> None:
        """Type the records of files sharing one layout into the kind's table in one statement."""
        if len(reads) == 1:
            self._read_export(reads[0])
            return
        first = reads[0]
        kind, shop = first.recognition.kind, self.shops[first.entry.shop_id]
        files = ", ".join(
            f"({sql_literal(str(r.numbered.path))}, {r.entry.index}, {sql_literal(r.entry.source_file)}, "
            f"{sql_literal(r.entry.shop_id or '')})"
            for r in reads
        )
        source = (
            f"(SELECT f.file_index AS __file, f.source_file AS __source_file, f.shop_id AS __shop_id, r.* "
            f"FROM {read_csvs_sql([r.numbered for r in reads], 'rejects_layout')} AS r "
            f"JOIN (VALUES {files}) AS f(path, file_index, source_file, shop_id) ON r.filename = f.path)"
        )
        ctx = FileContext(None, None, None, shop.market, shop.timezone)
        select = typed_select(kind, first.recognition.positions, ctx, source, greeting_sql, pseudonym_sql)
        try:
            self.con.execute(f"INSERT INTO {_table(kind)} {select}")
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            # One file DuckDB cannot scan fails the statement (nothing inserted): read the files
            # one by one, so only that file is skipped.
            log.info("%s: layout read failed, reading its %d files one by one", kind.name, len(reads))
            drop_rejects(self.con, "rejects_layout")
            for read in reads:
                self._read_export(read)
            return
        rejected = rejected_records_by_path(self.con, "rejects_layout")
        indexes = ", ".join(str(r.entry.index) for r in reads)
        read_back = {
            file: (n, line_sum)
            for file, n, line_sum in self.con.execute(
                f"SELECT __file, count(*), sum(__line) FROM {_table(kind)} WHERE __file IN ({indexes}) GROUP BY ALL"
            ).fetchall()
        }
        for read in reads:
            file_rejects = rejected.get(str(read.numbered.path), [])
            n, line_sum = read_back.get(read.entry.index, (0, 0))
            if not _accounted(read.numbered, file_rejects, n, line_sum):
                # DuckDB does not always keep every reject of a multi-file scan (an unterminated
                # quote at the end of a file can be lost): such a file is read again on its own,
                # exactly as a single file.
                self.con.execute(f"DELETE FROM {_table(kind)} WHERE __file = {read.entry.index}")
                self._read_export(read)
                continue
            self.reads[read.entry.index] = read
            self._quarantine_rejects(read, file_rejects, (n, line_sum))

    def _read_export(self, read: _FileRead) -> None:
        entry = read.entry
        try:
            self._read(read)
        except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
            # A CSV DuckDB cannot scan at all even with rejects stored: skip the file, keep the run.
            # Only the error's kind is logged: DuckDB's message may quote the file's contents.
            log.warning("%s: DuckDB could not read the file (%s)", entry.source_file, type(exc).__name__)
            self.con.execute(f"DELETE FROM {_table(KINDS[entry.file_kind])} WHERE __file = {entry.index}")
            self.con.execute(f"DELETE FROM q_rows WHERE file = {entry.index}")
            self.pending_q_rows = [r for r in self.pending_q_rows if r[0] != entry.index]
            entry.skip(scan_failure_reason(exc))

    def _check_header(
        self, entry: LedgerEntry, numbered: NumberedCsv, recognition: Recognition
    ) -> list[GateOutcome]:
        """Required-column gates on the file's header; FileRejected naming the first missing one."""
        outcomes = self.quality.check_columns(recognition.kind, list(recognition.positions))
        missing = [o.gate for o in outcomes if not o.success]
        if missing:
            self.reads[entry.index] = _FileRead(entry, numbered, recognition, outcomes)
            gate = missing[0]
            raise FileRejected(
                f"{gate.type}: required column {gate.columns[0]!r} is missing", expectation=gate.type
            )
        return outcomes

    def _read(self, read: _FileRead) -> None:
        """Type the records of one file into the kind's table and quarantine its malformed ones."""
        entry, kind = read.entry, read.recognition.kind
        shop = self.shops.get(entry.shop_id or "")
        ctx = FileContext(
            entry.index,
            entry.source_file,
            entry.shop_id,
            shop.market if shop else None,
            shop.timezone if shop else None,
        )
        rejects_name = f"rejects_{entry.index}"
        select = typed_select(
            kind,
            read.recognition.positions,
            ctx,
            read_csv_sql(read.numbered, rejects_name),
            greeting_sql,
            pseudonym_sql,
        )
        self.con.execute(f"INSERT INTO {_table(kind)} {select}")
        rejected = rejected_records(self.con, rejects_name)
        self.reads[entry.index] = read
        self._quarantine_rejects(read, rejected)

    def _quarantine_rejects(
        self, read: _FileRead, rejected: list[RejectedRecord], read_back: tuple[int, int | None] | None = None
    ) -> None:
        """Malformed records, records swallowed by one, and rows whose line is not a record start.

        `read_back` is (rows, sum of their lines) typed from the file, when already counted.
        """
        numbered, recognition, i = read.numbered, read.recognition, read.entry.index
        kind, table = recognition.kind, _table(recognition.kind)
        rows = [
            (
                i,
                r.line,
                None,
                "record",
                None,
                reject_reason(r),
                masked_raw_from_line(kind, recognition.positions, len(numbered.header), r.csv_line),
            )
            for r in rejected
        ]
        # Lines the numbering pass set aside (an unbalanced quote and the lines it would have
        # swallowed): never given to DuckDB, quarantined here one by one with their own line.
        rows += [
            (
                i,
                b.line,
                None,
                "record",
                None,
                b.reason,
                masked_raw_from_line(kind, recognition.positions, len(numbered.header), b.text),
            )
            for b in numbered.broken
        ]
        reject_lines = sorted(r.line for r in rejected if r.line is not None)
        n, line_sum = (
            read_back
            or self.con.execute(f"SELECT count(*), sum(__line) FROM {table} WHERE __file = {i}").fetchall()[0]
        )
        if _accounted(numbered, rejected, n, line_sum):
            self._insert_q_rows(rows)
            return
        self.con.register("expected_lines", pd.DataFrame({"line": numbered.record_lines}))
        self.con.register("reject_lines", pd.DataFrame({"line": np.asarray(reject_lines, dtype=np.int64)}))
        swallowed = [
            r[0]
            for r in self.con.execute(
                f"""SELECT line FROM expected_lines
                    WHERE line NOT IN (SELECT __line FROM {table} WHERE __file = {i})
                      AND line NOT IN (SELECT line FROM reject_lines) ORDER BY line"""
            ).fetchall()
        ]
        for line in swallowed:
            before = [x for x in reject_lines if x < line]
            where = f"the malformed record at line {before[-1]}" if before else "a malformed record"
            rows.append((i, line, None, "record", None, f"line not read: inside {where}", None))
        self.con.execute(
            f"""INSERT INTO q_rows SELECT {i}, __line, __rid, 'record', NULL,
                       'record boundary unclear: line ' || __line || ' does not start a record (stray quotes?)', NULL
                FROM {table} WHERE __file = {i} AND __line NOT IN (SELECT line FROM expected_lines)"""
        )
        self.con.unregister("expected_lines")
        self.con.unregister("reject_lines")
        self._insert_q_rows(rows)

    def _insert_q_rows(self, rows: list[tuple]) -> None:
        """Queue quarantine rows (one bulk insert per pass: a registered frame per file is slow)."""
        self.pending_q_rows.extend(rows)

    def _flush_q_rows(self) -> None:
        rows, self.pending_q_rows = self.pending_q_rows, []
        if not rows:
            return
        frame = pd.DataFrame(
            rows, columns=["file", "line", "rid", "scope", "expectation", "reason", "raw"]
        ).astype({"file": "int32", "line": "Int64", "rid": "Int64"})
        self.con.register("new_q_rows", frame)
        self.con.execute("INSERT INTO q_rows SELECT * FROM new_q_rows")
        self.con.unregister("new_q_rows")

    def _quarantine_file(self, entry: LedgerEntry) -> None:
        self._insert_q_rows([(entry.index, None, None, "file", entry.expectation, entry.reason, None)])

    # -- 4. quality gates -------------------------------------------------------------------
    def _mark_description_rows(self, kind: Kind) -> None:
        """Flag each file's first record when it reads as a row of field explanations."""
        firsts = pd.DataFrame(
            [
                (i, int(r.numbered.record_lines[0]))
                for i, r in self.reads.items()
                if r.recognition.kind is kind and r.entry.status == "ingested" and r.numbered.records
            ],
            columns=["file", "line"],
        ).astype("int64")
        if firsts.empty:
            return
        self.con.register("first_records", firsts)
        self.con.execute(
            f"""UPDATE {_table(kind)} SET __description = TRUE FROM first_records AS f
                WHERE __file = f.file AND __line = f.line AND ({description_row_condition(kind)})"""
        )
        self.con.unregister("first_records")

    def _start_validation(self, kind: Kind) -> None:
        """Finish a typed kind (description rows, order amounts for caps) and validate it with
        Great Expectations on the validating thread, while this thread types the next kinds."""
        self._mark_description_rows(kind)
        if any(cap.cap_from_orders for cap in kind.caps):
            self.con.execute(
                f"""UPDATE {_table(kind)} AS t SET __order_amount = o.amount
                    FROM (SELECT shop_id, order_id, max(order_amount) AS amount
                          FROM {_table(KINDS["orders"])} WHERE NOT __description
                          GROUP BY shop_id, order_id) AS o
                    WHERE t.shop_id = o.shop_id AND t.order_id = o.order_id"""
            )
        cursor = self.con.cursor()  # a connection of its own: DuckDB connections are not thread-safe
        cursor.execute("SET TimeZone = 'UTC'")
        self.validations[kind.name] = self.validator.submit(self._gate_outcomes, cursor, kind)

    def _gate_outcomes(self, con, kind: Kind) -> list[GateOutcome]:
        """The kind's row gates run by GX on narrow frames read through `con` (closed after)."""
        suite = self.quality.suite(kind)
        try:
            return self.quality.validate(kind, lambda columns: _gate_frame(con, kind, suite, columns))
        finally:
            con.close()
            pa.default_memory_pool().release_unused()  # hand the frames' Arrow buffers back to the OS

    def validate_exports(self) -> None:
        for name in SHOP_EXPORT_KINDS:
            self._quarantine_failures(KINDS[name], self.validations.pop(name).result())
        self.typed_rows = self._count_typed_rows()
        self._record_validation()

    def _count_typed_rows(self) -> dict[int, tuple[int, int]]:
        """(typed rows, description rows) per file: final once every kind is typed and marked."""
        counts: dict[int, tuple[int, int]] = {}
        for kind in KINDS.values():
            for file, n, desc in self.con.execute(
                f"SELECT __file, count(*), count(*) FILTER (WHERE __description) FROM {_table(kind)} GROUP BY ALL"
            ).fetchall():
                counts[file] = (n, desc)
        return counts

    def _validate(self, kind: Kind) -> None:
        """Validate a kind on this thread (the shop registry, before anything else is read)."""
        suite = self.quality.suite(kind)
        outcomes = self.quality.validate(kind, lambda columns: _gate_frame(self.con, kind, suite, columns))
        self._quarantine_failures(kind, outcomes)

    def _quarantine_failures(self, kind: Kind, outcomes: list[GateOutcome]) -> None:
        """Quarantine every record failing a row gate (duplicates: all but the kept version)."""
        table = _table(kind)
        fails = [
            pd.DataFrame({"rid": o.unexpected_ids, "gate": gi})
            for gi, o in enumerate(outcomes)
            if o.unexpected_ids.size
        ]
        fail_frame = pd.concat(fails) if fails else pd.DataFrame({"rid": [], "gate": []}).astype("int64")
        self.con.register("gate_fails", fail_frame)
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE fails AS SELECT rid::BIGINT AS rid, gate::INTEGER AS gate FROM gate_fails"
        )
        self.con.unregister("gate_fails")
        for gi, outcome in enumerate(outcomes):
            if not outcome.unexpected_ids.size:
                continue
            gate = outcome.gate
            if gate.unique_key and kind.name != "shops":
                self._quarantine_duplicates(kind, gi, outcome)
                continue
            self.con.execute(
                f"""INSERT INTO q_rows
                    SELECT t.__file, t.__line, t.__rid, 'record', {sql_literal(gate.type)},
                           {sql_literal(gate.type + ": ")} || ({gate.reason_sql}), NULL
                    FROM {table} AS t JOIN fails AS f ON f.rid = t.__rid AND f.gate = {gi}"""
            )
        self.outcomes[kind.name] = outcomes
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE fails_{kind.name} AS
                SELECT t.__file AS file, f.gate, count(*) AS n, list(t.__line ORDER BY t.__line)[1:20] AS lines
                FROM fails AS f JOIN {table} AS t ON t.__rid = f.rid GROUP BY ALL"""
        )

    def _quarantine_duplicates(self, kind: Kind, gi: int, outcome: GateOutcome) -> None:
        """Keep the latest clean row of each duplicated key; quarantine the others."""
        table, gate = _table(kind), outcome.gate
        keys = [f"t.{sql_ident(kind.by_header[h].target)}" for h in gate.unique_key]
        self.con.execute(
            f"""INSERT INTO q_rows
                WITH dup AS (
                    SELECT t.__rid AS rid, t.__file AS file, t.__line AS line, t.source_file, t.shop_id,
                           [{", ".join(keys)}] AS key, ({gate.reason_sql}) AS reason,
                           EXISTS (SELECT 1 FROM fails AS o WHERE o.rid = t.__rid AND o.gate <> {gi}) AS other_failure
                    FROM {table} AS t JOIN fails AS f ON f.rid = t.__rid AND f.gate = {gi}),
                ranked AS (
                    SELECT *, row_number() OVER w AS rank,
                           first_value(source_file) OVER w AS keep_file, first_value(line) OVER w AS keep_line
                    FROM dup
                    WINDOW w AS (PARTITION BY shop_id, key ORDER BY other_failure, file DESC, line DESC))
                SELECT file, line, rid, 'record', {sql_literal(gate.type)},
                       {sql_literal(gate.type + ": ")} || reason || ': superseded by ' || keep_file
                           || ' line ' || keep_line, NULL
                FROM ranked WHERE rank > 1"""
        )

    def _record_validation(self) -> None:
        """validation_results: one row per (file, expectation)."""
        failed: dict[tuple[int, int], tuple[int, list[int]]] = {}
        for name in self.outcomes:
            for file, gate, n, lines in self.con.execute(
                f"SELECT file, gate, n, lines FROM fails_{name}"
            ).fetchall():
                failed[(file, gate)] = (n, lines)
        for index, read in sorted(self.reads.items()):
            entry, kind = read.entry, read.recognition.kind
            for o in read.column_outcomes:
                self.validation_rows.append(
                    self._validation_row(
                        entry, kind, o.gate, o.success, 0, 0, {"on": "header"}, suite=f"{kind.name}.header"
                    )
                )
            if entry.status != "ingested":
                continue
            typed, description = self.typed_rows.get(index, (0, 0))
            records = typed - description  # the records the row gates judged
            for gi, o in enumerate(self.outcomes.get(kind.name, [])):
                n, lines = failed.get((index, gi), (0, []))
                details = {"kwargs": o.gate.kwargs, "unexpected_lines": lines}
                if o.error:
                    details["error"] = o.error
                self.validation_rows.append(
                    self._validation_row(entry, kind, o.gate, n == 0 and not o.error, records, n, details)
                )

    def _validation_row(self, entry, kind, gate, success, elements, unexpected, details, suite=None) -> tuple:
        return (
            self.batch_date,
            self.run_id,
            suite or kind.name,
            entry.source_file,
            kind.name,
            gate.type,
            gate.label,
            bool(success),
            int(elements),
            int(unexpected),
            json.dumps(details, ensure_ascii=False, default=str),
        )

    # -- quarantine raw, counts, outputs ------------------------------------------------------
    def attach_raw(self) -> None:
        """Masked JSON of every quarantined record that DuckDB read, from its numbered file.

        Only the quarantined records are read again: each file's records are copied into an
        excerpt (its header and those records, byte for byte) and the excerpts of a layout are
        read by one scan, instead of parsing every file that has a quarantined record in full.
        An excerpt must parse into exactly its records; a file whose excerpt does not (or whose
        record offsets are unknown) is read again in full.
        """
        needed: dict[int, list[int]] = {}
        for file, line in self.con.execute(
            "SELECT DISTINCT file, line FROM q_rows WHERE rid IS NOT NULL ORDER BY file, line"
        ).fetchall():
            needed.setdefault(file, []).append(line)
        layouts: dict[tuple, list[tuple[_FileRead, NumberedCsv]]] = {}
        in_full: list[int] = []
        for i, lines in needed.items():
            read = self.reads[i]
            path = read.numbered.excerpt(np.asarray(lines, dtype=np.int64), self.tmp / f"{i}.quarantined.csv")
            if path is None:
                in_full.append(i)
                continue
            excerpt = NumberedCsv(
                path, read.numbered.header, read.numbered.header_line, np.empty(0, np.int64)
            )
            layouts.setdefault((read.recognition.kind.name, tuple(read.numbered.header)), []).append(
                (read, excerpt)
            )
        for pairs in layouts.values():
            first = pairs[0][0]
            raw = masked_raw_sql(first.recognition.kind, first.recognition.positions)
            files_sql = ", ".join(f"({sql_literal(str(e.path))}, {r.entry.index})" for r, e in pairs)
            self.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE excerpt_raw AS
                    SELECT f.file, src.__line AS line, {raw} AS raw
                    FROM {read_csvs_sql([e for _, e in pairs], None)} AS src
                    JOIN (VALUES {files_sql}) AS f(path, file) ON src.filename = f.path"""
            )
            parsed: dict[int, list[int]] = {}
            for file, line in self.con.execute(
                "SELECT file, line FROM excerpt_raw ORDER BY file, line"
            ).fetchall():
                parsed.setdefault(file, []).append(line)
            unlike = [r.entry.index for r, _ in pairs if parsed.get(r.entry.index) != needed[r.entry.index]]
            in_full += unlike
            self.con.execute(
                """UPDATE q_rows SET raw = r.raw FROM excerpt_raw AS r
                    WHERE q_rows.file = r.file AND q_rows.rid IS NOT NULL AND q_rows.line = r.line
                      AND NOT list_contains($unlike, r.file)""",
                {"unlike": unlike},
            )
        self.con.execute("DROP TABLE IF EXISTS excerpt_raw")
        for i in in_full:
            read = self.reads[i]
            log.info("%s: quarantined records read from the whole file", read.entry.source_file)
            raw = masked_raw_sql(read.recognition.kind, read.recognition.positions)
            self.con.execute(
                f"""UPDATE q_rows SET raw = r.raw
                    FROM (SELECT src.__line AS line, {raw} AS raw FROM {read_csv_sql(read.numbered, None)} AS src
                          WHERE src.__line IN (SELECT line FROM q_rows WHERE file = {i} AND rid IS NOT NULL)) AS r
                    WHERE q_rows.file = {i} AND q_rows.rid IS NOT NULL AND q_rows.line = r.line"""
            )

    def count(self) -> None:
        q_counts = {
            file: (gx_rows, rejected)
            for file, gx_rows, rejected in self.con.execute(
                """SELECT file, count(DISTINCT rid), count(*) FILTER (WHERE rid IS NULL)
                   FROM q_rows WHERE scope = 'record' GROUP BY file"""
            ).fetchall()
        }
        for entry in self.entries:
            if entry.status != "ingested":
                continue
            n, desc = self.typed_rows.get(entry.index, (0, 0))
            quarantined_rows, rejected = q_counts.get(entry.index, (0, 0))
            entry.rows_read = n + rejected
            entry.rows_skipped_description = desc
            entry.rows_quarantined = quarantined_rows + rejected
            entry.rows_staged = n - desc - quarantined_rows
            read = self.reads[entry.index]
            expected = read.numbered.records + len(read.numbered.broken)
            if entry.rows_read != expected or not entry.balanced:
                log.warning(
                    "%s: %d records in the file, %d accounted for",
                    entry.source_file,
                    expected,
                    entry.rows_read,
                )

    def write(self, work_db: Path) -> None:
        con = self.con
        con.execute(f"ATTACH {sql_literal(str(work_db))} AS work")
        try:
            con.execute("USE work")
            con.execute("BEGIN TRANSACTION")
            for name in (*STAGING_TABLES, *OUTPUT_TABLES):
                con.execute(f"DROP TABLE IF EXISTS work.main.{name}")
            create_staging_tables(con)
            for name in OUTPUT_TABLES:
                con.execute(RESULT_DDL[name])
            for kind in KINDS.values():
                cols = [
                    r[0]
                    for r in con.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'work' "
                        "AND table_name = ? ORDER BY column_index",
                        [kind.table],
                    ).fetchall()
                ]
                select = ", ".join(sql_ident(c) for c in cols)
                con.execute(
                    f"""INSERT INTO work.main.{kind.table} ({select})
                        SELECT {select} FROM {_table(kind)}
                        WHERE NOT __description
                          AND __rid NOT IN (SELECT rid FROM q_rows WHERE rid IS NOT NULL)"""
                )
            files = pd.DataFrame(
                [(e.index, e.source_file, e.file_kind, e.shop_id) for e in self.entries],
                columns=["file", "source_file", "file_kind", "shop_id"],
            ).astype({"file": "int32"})
            con.register("ledger_files", files)
            con.execute(
                """INSERT INTO work.main.quarantine
                       (batch_date, run_id, source_file, line_number, file_kind, reason, raw, shop_id, expectation)
                   SELECT $batch_date, $run_id, f.source_file, q.line, f.file_kind, q.reason, q.raw, f.shop_id,
                          q.expectation
                   FROM q_rows AS q JOIN ledger_files AS f ON f.file = q.file
                   ORDER BY f.source_file, q.line NULLS FIRST, q.expectation""",
                {"batch_date": self.batch_date, "run_id": self.run_id},
            )
            con.unregister("ledger_files")
            _insert_rows(
                con,
                "work.main.file_ledger",
                LEDGER_COLUMNS,
                ledger_rows(self.entries, self.batch_date, self.run_id),
            )
            _insert_rows(con, "work.main.validation_results", VALIDATION_COLUMNS, self.validation_rows)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute("USE memory")
            con.execute("DETACH work")

    # -- summary and report ---------------------------------------------------------------
    def summary(self) -> IngestSummary:
        per_kind: dict[str, KindCounts] = {}
        for e in self.entries:
            if e.status != "ingested" or not e.file_kind:
                continue
            k = per_kind.setdefault(e.file_kind, KindCounts())
            k.files += 1
            k.rows_read += e.rows_read
            k.rows_staged += e.rows_staged
            k.rows_quarantined += e.rows_quarantined
            k.rows_skipped_description += e.rows_skipped_description
        return IngestSummary(
            batch_date=self.batch_date.isoformat(),
            run_id=self.run_id,
            files_read=len(self.entries),
            files_ingested=sum(e.status == "ingested" for e in self.entries),
            files_skipped=sum(e.status == "skipped" for e in self.entries),
            files_duplicate=sum(e.status == "duplicate" for e in self.entries),
            rows_read=sum(e.rows_read for e in self.entries),
            rows_staged=sum(e.rows_staged for e in self.entries),
            rows_quarantined=sum(e.rows_quarantined for e in self.entries),
            rows_skipped_description=sum(e.rows_skipped_description for e in self.entries),
            shops=len(self.shops),
            per_kind=per_kind,
        )

    def report_data(self) -> tuple[list[LedgerEntry], list[tuple], list[tuple], list[tuple]]:
        """(ledger, validation rows, quarantine reason counts, quarantine sample) for the HTML report."""
        reasons = self.con.execute(
            r"""SELECT coalesce(expectation, scope || ' rejected'),
                       regexp_replace(reason, '''[^'']*''|\d+', '…', 'g') AS pattern, count(*) AS n
                FROM q_rows GROUP BY ALL ORDER BY n DESC, pattern LIMIT 100"""
        ).fetchall()
        names = {e.index: e.source_file for e in self.entries}
        sample = [
            (names[f], line, reason)
            for f, line, reason in self.con.execute(
                "SELECT file, line, reason FROM q_rows ORDER BY file, line NULLS FIRST, reason LIMIT 200"
            ).fetchall()
        ]
        return self.entries, self.validation_rows, reasons, sample


VALIDATION_COLUMNS = (
    "batch_date",
    "run_id",
    "suite",
    "source_file",
    "file_kind",
    "expectation",
    "column_name",
    "success",
    "element_count",
    "unexpected_count",
    "details",
)


def _gate_frame(con, kind: Kind, suite: KindSuite, columns: tuple[str, ...]) -> pd.DataFrame:
    """The named gate columns of a kind's records (description rows excluded), indexed by record id.

    Through Arrow, text columns arrive as pandas' string dtype (an all-NULL "(unparsed)" column
    is a null bitmap, not a million Python None objects).
    """
    cols = ", ".join(f"{suite.frame_sql[c]} AS {sql_ident(c)}" for c in columns)
    return (
        con.sql(f"SELECT t.__rid, {cols} FROM {_table(kind)} AS t WHERE NOT t.__description")
        .to_arrow_table()
        .to_pandas(self_destruct=True, split_blocks=True)
        .set_index("__rid")
        .rename_axis(None)  # an unnamed index makes GX list failing ids as plain values
    )


def _insert_rows(con, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Bulk insert through a registered frame (executemany is one statement per row in DuckDB)."""
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=list(columns))
    con.register("rows_to_insert", frame)
    names = ", ".join(columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM rows_to_insert")
    con.unregister("rows_to_insert")


def _accounted(numbered: NumberedCsv, rejected: list, rows: int, line_sum: int | None) -> bool:
    """Same count and same line-number sum as the numbering pass: every record start was read
    once (as a typed row or a reject); nothing swallowed, nothing misaligned."""
    reject_lines = [r.line for r in rejected if r.line is not None]
    return (
        len(reject_lines) == len(rejected)
        and rows + len(rejected) == numbered.records
        and (line_sum or 0) + sum(reject_lines) == int(numbered.record_lines.sum())
    )


def _unknown_kind_reason(header: list[str]) -> str:
    if len(header) < 3:
        for delim in (";", "\t", "|"):
            if any(delim in cell for cell in header):
                return f"wrong delimiter: the header row is separated by {delim!r}, expected ','"
    known = sum(1 for h in header if any(k.header_index.get(header_key(h)) for k in KINDS.values()))
    return (
        f"unknown export kind: the header row ({len(header)} columns, {known} known) "
        "matches no export of contract §2"
    )
