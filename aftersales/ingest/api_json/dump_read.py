"""`read_api_dumps`: one shop's API JSON files -> raw export rows per kind (see the package doc)."""

from __future__ import annotations

import itertools
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from aftersales.export_kinds import KINDS
from aftersales.ingest.api_json import api_vocabulary as v
from aftersales.ingest.api_json.derive_cancellations import cancellations_select
from aftersales.ingest.api_json.derive_messages import messages_select
from aftersales.ingest.api_json.derive_orders import orders_select
from aftersales.ingest.api_json.derive_returns import evidence_select, prepare_return_history, returns_select
from aftersales.ingest.api_json.dump_objects import (
    classify_objects,
    create_item_tables,
    error_pages,
    explode_items,
    load_file,
    record_keys_raw,
)
from aftersales.ingest.api_json.json_fields import text
from aftersales.ingest.api_json.record_versions import rank_versions, settle_items
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.quarantine import looks_personal
from aftersales.sql_quoting import sql_ident, sql_literal

log = logging.getLogger(__name__)

FILE_KIND = "openapi"
# Export kind -> the SELECT deriving its rows (file, ord, sub, then columns named by header).
DERIVATIONS = {
    "orders": orders_select,
    "aftersales_requests": returns_select,
    "cancellations": cancellations_select,
    "messages": messages_select,
    "evidence": evidence_select,
}
# Bytes looked at to tell a JSON dump from a CSV export (the first non-blank character).
_SNIFF_BYTES = 4096
_table_numbers = itertools.count(1)


@dataclass
class ApiDumpRead:
    """What `read_api_dumps` derived from one shop's JSON files (see the package docstring)."""

    tables: dict[str, str] = field(default_factory=dict)  # export kind -> TEMP table in `con`
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> header of c0..cN
    entries: list[LedgerEntry] = field(default_factory=list)  # one per JSON file
    quarantine: list[tuple] = field(
        default_factory=list
    )  # (file, line, rid, scope, expectation, reason, raw)
    superseded: dict[int, int] = field(default_factory=dict)  # ledger index -> records superseded
    unknown_values: list[tuple[int, str, str, int]] = field(default_factory=list)  # file, field, value, n

    def positions(self, kind: str) -> dict[str, tuple[int, ...]]:
        """`Recognition.positions` of a derived table: header -> (its c-column index,)."""
        return {h: (i,) for i, h in enumerate(self.headers[kind])}

    def rows(self, con, kind: str) -> int:
        return con.execute(f"SELECT count(*) FROM {self.tables[kind]}").fetchone()[0]


def is_api_dump(path: Path) -> bool:
    """True when a file's first non-blank character (after a BOM) opens a JSON object or array."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return head[:1] in (b"{", b"[")


def read_api_dumps(
    con,
    shop_id: str,
    files: list[os.PathLike | str | LedgerEntry],
    batch_date: date,
    settings=None,
    *,
    inbox: Path | None = None,
    first_index: int = 0,
) -> ApiDumpRead:
    """Read one shop's API JSON dumps into raw export rows in `con` (TEMP tables).

    `files` are paths (ledger indexes numbered from `first_index`, names relative to `inbox`
    when given) or the `LedgerEntry` objects ingest already made for them (kept and filled in).
    `batch_date` and `settings` are accepted for the stage interface; nothing here depends on
    them (policy values come from rules/, later stages judge the rows).
    """
    del batch_date, settings
    entries = [_entry(f, first_index + n, shop_id, inbox) for n, f in enumerate(files)]
    by_index = {e.index: e for e in entries}
    read = ApiDumpRead(entries=entries)
    create_item_tables(con)
    for entry in entries:
        entry.file_kind = entry.file_kind or FILE_KIND
        if entry.status != "ingested":
            continue
        read.quarantine += load_file(con, entry)
    classify_objects(con)
    read.quarantine += error_pages(con, by_index)
    explode_items(con)
    rank_versions(con)
    settle_items(con)
    read.quarantine += _record_quarantine(con)
    prepare_return_history(con)
    number = next(_table_numbers)
    con.execute("CREATE OR REPLACE TEMP TABLE api_line_base (file INTEGER PRIMARY KEY, base BIGINT)")
    for kind, select in DERIVATIONS.items():
        table = f"api_raw_{kind}_{number}"
        headers = tuple(c.header for c in KINDS[kind].columns)
        _create_raw_table(con, table, headers, select(), entries, shop_id)
        read.tables[kind], read.headers[kind] = table, headers
    _account(con, read)
    _report_unknown_values(con, read)
    for name in (
        "api_text",
        "api_lines",
        "api_heads",
        "api_return_history",
        "api_return_records",
        "api_line_base",
    ):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return read


def _entry(f, index: int, shop_id: str, inbox: Path | None) -> LedgerEntry:
    if isinstance(f, LedgerEntry):
        f.shop_id = f.shop_id or shop_id
        return f
    path = Path(f)
    rel = path.relative_to(inbox).as_posix() if inbox is not None else path.as_posix()
    return LedgerEntry(index, rel, path, shop_id=shop_id, size_bytes=_size(path), encoding="utf-8")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _record_quarantine(con) -> list[tuple]:
    return [
        tuple(r)
        for r in con.execute(
            f"""SELECT s.file, coalesce(s.line, s.ord), NULL, 'record', NULL, s.reason, {record_keys_raw()}
                FROM api_item_status AS s JOIN api_items AS i USING (file, ord)
                WHERE s.status = 'quarantined' ORDER BY s.file, s.ord"""
        ).fetchall()
    ]


def _create_raw_table(con, table: str, headers: tuple[str, ...], select: str, entries, shop_id: str) -> None:
    """The derived rows in ingest's raw layout: __line (ordinal per file), file columns, c0..cN;
    `__record` (the API record's ordinal in its file) ties rows to the record they came from."""
    files = ", ".join(f"({e.index}, {sql_literal(e.source_file)})" for e in entries) or "(NULL, NULL)"
    produced = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({select})").fetchall()}
    cols = ", ".join(
        f"CAST({sql_ident(h) if h in produced else 'NULL'} AS VARCHAR) AS c{i}" for i, h in enumerate(headers)
    )
    # Line numbers run on across the kinds derived from one file: a row's (file, line) is its
    # record id in ingest (`__rid`), unique over every kind.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT CAST(coalesce(b.base, 0) + row_number() OVER (PARTITION BY d.file ORDER BY d.ord, d.sub) AS BIGINT)
                       AS __line,
                   CAST(d.file AS INTEGER) AS __file, f.source_file AS __source_file,
                   {sql_literal(shop_id)} AS __shop_id, CAST(d.ord AS BIGINT) AS __record, {cols}
            FROM ({select}) AS d JOIN (VALUES {files}) AS f(file, source_file) ON f.file = d.file
            LEFT JOIN api_line_base AS b ON b.file = d.file
            ORDER BY __file, __line"""
    )
    con.execute(
        f"""INSERT OR REPLACE INTO api_line_base
            SELECT __file, max(__line) FROM {table} GROUP BY __file"""
    )


def _account(con, read: ApiDumpRead) -> None:
    """Ledger counts: records read = staged + quarantined + superseded, per file."""
    counts = {
        file: (n, staged, quarantined, superseded)
        for file, n, staged, quarantined, superseded in con.execute(
            """SELECT file, count(*), count(*) FILTER (WHERE status = 'staged'),
                      count(*) FILTER (WHERE status = 'quarantined'), count(*) FILTER (WHERE status = 'superseded')
               FROM api_item_status GROUP BY file"""
        ).fetchall()
    }
    bad_lines: dict[int, int] = {}
    for row in read.quarantine:
        if row[3] == "record" and row[5].startswith("malformed JSON line"):
            bad_lines[row[0]] = bad_lines.get(row[0], 0) + 1
    for entry in read.entries:
        if entry.status != "ingested":
            continue
        n, staged, quarantined, superseded = counts.get(entry.index, (0, 0, 0, 0))
        bad = bad_lines.get(entry.index, 0)
        entry.rows_read = n + bad
        entry.rows_staged = staged
        entry.rows_quarantined = quarantined + bad
        read.superseded[entry.index] = superseded
        entry.rows_superseded = superseded
        if superseded:
            entry.reason = f"{superseded} record version(s) superseded by newer or equal versions"


# An API enum value is upper snake case; any other text in an enum field is not shown (it could
# be anything, personal data included).
_ENUM_SHAPE = re.compile(r"[A-Z][A-Z0-9_ ]{0,39}")
# (field, SQL over a winning record, known values) reported when outside the API's vocabulary.
_ENUM_FIELDS = (
    ("return_order", "return_status", "$.return_status", v.RETURN_STATUSES),
    ("return_order", "arbitration_status", "$.arbitration_status", v.ARBITRATION_STATUSES),
    ("return_order", "return_type", "$.return_type", tuple(v.RETURN_TYPES)),
    ("return_record", "role", "$.role", tuple(v.RECORD_PARTIES)),
    ("cancellation", "cancel_status", "$.cancel_status", tuple(v.CANCEL_STATUSES)),
    ("cancellation", "cancel_type", "$.cancel_type", v.CANCEL_TYPES),
    ("cancellation", "role", "$.role", tuple(v.REQUESTERS)),
    ("order", "status", "$.status", tuple(v.ORDER_STATUSES)),
    ("order", "cancellation_initiator", "$.cancellation_initiator", tuple(v.CANCEL_INITIATORS)),
    ("order", "fulfillment_type", "$.fulfillment_type", tuple(v.FULFILLMENT_TYPES)),
    ("message", "type", "$.type", tuple(v.MESSAGE_TYPES) + v.MESSAGE_TYPES_WITHOUT_EXPORT),
    ("message", "sender.role", "$.sender.role", tuple(v.SENDER_ROLES)),
)


def _report_unknown_values(con, read: ApiDumpRead) -> None:
    """Unknown enum values: kept as written, listed in `unknown_values` and the ledger reason."""
    parts = []
    for shape, name, path, known in _ENUM_FIELDS:
        value = text(path)
        allowed = ", ".join(map(sql_literal, known))
        prefix = " AND NOT starts_with(upper(trim(value)), 'BUYER_ENTER_FROM_')" if name == "type" else ""
        parts.append(
            f"""SELECT file, {sql_literal(shape + "." + name)} AS field, value FROM (
                    SELECT file, {value} AS value FROM api_versions WHERE shape = {sql_literal(shape)})
                WHERE value IS NOT NULL AND upper(trim(value)) NOT IN ({allowed}){prefix}"""
        )
    rows = con.execute(
        f"SELECT file, field, left(value, 40), count(*) FROM ({' UNION ALL '.join(parts)}) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    by_file: dict[int, list[str]] = {}
    for file, name, value, n in rows:
        shown = value if _ENUM_SHAPE.fullmatch(value) and not looks_personal(value) else "***"
        read.unknown_values.append((file, name, shown, n))
        by_file.setdefault(file, []).append(f"{name}={shown} ({n})")
    for entry in read.entries:
        if entry.index in by_file:
            note = "unknown API values kept: " + ", ".join(by_file[entry.index])
            entry.reason = f"{entry.reason}; {note}" if entry.reason else note
