"""Open API JSON dumps in the type phase: each shop's dumps -> rows of the kinds' typed tables.

The dumps' own reader (`aftersales.ingest.api_json`, chosen by file suffix in `READERS`) derives,
per export kind, a table in exactly the raw layout of a multi-file CSV read (`__line`, `__file`,
`__source_file`, `__shop_id`, `c0..cN` VARCHAR). From there its rows take the CSV path: the same
typing SELECT (pseudonyms, greeting classification), the same row gates, quarantine and write.
JSON is never parsed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

from aftersales.export_kinds import KINDS
from aftersales.ingest.api_json import ApiDumpRead, read_api_dumps
from aftersales.ingest.greetings import greeting_sql
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.pseudonyms import pseudonym_sql
from aftersales.ingest.quarantine import masked_raw_sql
from aftersales.ingest.scratch_db import Scratch, typed_table
from aftersales.ingest.shop_registry import Shop
from aftersales.ingest.typing_sql import FileContext, typed_select
from aftersales.settings import Settings

# Reader of each dump file suffix: (con, shop_id, files, batch_date, settings) -> ApiDumpRead.
READERS: dict[str, Callable[..., ApiDumpRead]] = {
    ".json": read_api_dumps,
    ".jsonl": read_api_dumps,
    ".ndjson": read_api_dumps,
}


def dump_reader(entry: LedgerEntry) -> Callable[..., ApiDumpRead] | None:
    """The reader of a discovered file when its name is a dump's, else None (a CSV or workbook)."""
    return READERS.get(PurePosixPath(entry.path.name).suffix.lower())


@dataclass(frozen=True)
class TypedDumps:
    """The dumps read and typed: each dump file's ledger entry, the files their reader already
    quarantined as a whole, and the raw tables (kind -> tables) their rows were typed from, kept
    for the quarantine's masked `raw`."""

    entries: tuple[LedgerEntry, ...]
    quarantined_files: frozenset[int]
    raw_tables: Mapping[str, tuple[str, ...]]
    positions: Mapping[str, dict[str, tuple[int, ...]]]


def type_api_dumps(
    scratch: Scratch,
    shops: Mapping[str, Shop],
    dumps: Mapping[str, tuple[LedgerEntry, ...]],
    batch_date: date,
    settings: Settings,
) -> TypedDumps:
    """Read each shop's dumps with their reader and type the derived rows into the kinds' tables;
    the reader's quarantine rows (already masked) join the run's."""
    con = scratch.con
    entries: list[LedgerEntry] = []
    raw_tables: dict[str, list[str]] = {}
    positions: dict[str, dict[str, tuple[int, ...]]] = {}
    quarantined_files: set[int] = set()
    for shop_id, files in sorted(dumps.items()):
        shop = shops[shop_id]
        by_reader: dict[Callable[..., ApiDumpRead], list[LedgerEntry]] = {}
        for entry in files:
            by_reader.setdefault(dump_reader(entry), []).append(entry)
        for reader, group in by_reader.items():
            read = reader(con, shop_id, group, batch_date, settings)
            entries += read.entries
            scratch.quarantine.add(list(read.quarantine))
            quarantined_files.update(row[0] for row in read.quarantine if row[3] == "file")
            ctx = FileContext(None, None, None, shop.market, shop.timezone)
            for kind_name, table in read.tables.items():
                kind = KINDS[kind_name]
                select = typed_select(
                    kind, read.positions(kind_name), ctx, table, greeting_sql, pseudonym_sql
                )
                con.execute(f"INSERT INTO {typed_table(kind)} {select}")
                raw_tables.setdefault(kind_name, []).append(table)
                positions[kind_name] = read.positions(kind_name)
    return TypedDumps(
        tuple(entries), frozenset(quarantined_files), {k: tuple(v) for k, v in raw_tables.items()}, positions
    )


def attach_dump_raw(con, dumps: TypedDumps) -> None:
    """Masked JSON of every dump-derived record a row gate quarantined, from its raw table."""
    for kind_name, tables in dumps.raw_tables.items():
        raw = masked_raw_sql(KINDS[kind_name], dumps.positions[kind_name])
        for table in tables:
            con.execute(
                f"""UPDATE q_rows SET raw = r.raw
                    FROM (SELECT src.__file AS file, src.__line AS line, {raw} AS raw FROM {table} AS src) AS r
                    WHERE q_rows.file = r.file AND q_rows.rid IS NOT NULL AND q_rows.line = r.line"""
            )


def settle_dump_ledger(con, dumps: TypedDumps) -> None:
    """A dump's records that a row gate quarantined move from staged to quarantined (its reader
    counted records read, staged, quarantined and superseded before the gates ran).

    The ledger counts JSON records, not derived rows: an order record gives one row per SKU and
    a return record one per uploaded file, so gated rows are counted by their distinct record."""
    indexes = [e.index for e in dumps.entries]
    tables = [table for group in dumps.raw_tables.values() for table in group]
    if not indexes or not tables:
        return
    records = " UNION ALL ".join(f"SELECT __file, __line, __record FROM {table}" for table in tables)
    gated = dict(
        con.execute(
            f"""SELECT q.file, count(DISTINCT r.__record)
                FROM q_rows AS q JOIN ({records}) AS r ON q.file = r.__file AND q.line = r.__line
                WHERE q.rid IS NOT NULL AND list_contains($files, q.file)
                GROUP BY q.file""",
            {"files": indexes},
        ).fetchall()
    )
    for entry in dumps.entries:
        n = min(gated.get(entry.index, 0), entry.rows_staged)
        entry.rows_staged -= n
        entry.rows_quarantined += n
