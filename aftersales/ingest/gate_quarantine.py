"""Quarantine phase: gate failures -> quarantine rows, validation rows and each file's counts.

Every record failing a row gate is quarantined once per failed expectation, with a reason naming
expectation and column, and is staged zero times. A duplicated record key keeps its latest clean
version (later file in path order, then later line) and quarantines the others. Then every
ledger entry is settled: rows_read = rows_staged + rows_quarantined + rows_skipped_description.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date

import pandas as pd

from aftersales.export_kinds import KINDS, SHOP_EXPORT_KINDS, Kind
from aftersales.ingest.export_admission import DecodedExport
from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.scratch_db import typed_table
from aftersales.quality.validate import GateOutcome
from aftersales.sql_quoting import sql_ident, sql_literal

log = logging.getLogger(__name__)

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


def quarantine_failures(con, kind: Kind, outcomes: list[GateOutcome]) -> None:
    """Quarantine every record failing a row gate (duplicates: all but the kept version); leaves
    `fails_<kind>` (file, gate, failures, first lines) for the validation rows."""
    table = typed_table(kind)
    fails = [
        pd.DataFrame({"rid": o.unexpected_ids, "gate": gi})
        for gi, o in enumerate(outcomes)
        if o.unexpected_ids.size
    ]
    fail_frame = pd.concat(fails) if fails else pd.DataFrame({"rid": [], "gate": []}).astype("int64")
    con.register("gate_fails", fail_frame)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE fails AS SELECT rid::BIGINT AS rid, gate::INTEGER AS gate FROM gate_fails"
    )
    con.unregister("gate_fails")
    for gi, outcome in enumerate(outcomes):
        if not outcome.unexpected_ids.size:
            continue
        gate = outcome.gate
        if gate.unique_key and kind.name != "shops":
            _quarantine_duplicates(con, kind, gi, outcome)
            continue
        con.execute(
            f"""INSERT INTO q_rows
                SELECT t.__file, t.__line, t.__rid, 'record', {sql_literal(gate.type)},
                       {sql_literal(gate.type + ": ")} || ({gate.reason_sql}), NULL
                FROM {table} AS t JOIN fails AS f ON f.rid = t.__rid AND f.gate = {gi}"""
        )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fails_{kind.name} AS
            SELECT t.__file AS file, f.gate, count(*) AS n, list(t.__line ORDER BY t.__line)[1:20] AS lines
            FROM fails AS f JOIN {table} AS t ON t.__rid = f.rid GROUP BY ALL"""
    )


def _quarantine_duplicates(con, kind: Kind, gi: int, outcome: GateOutcome) -> None:
    """Keep the latest clean row of each duplicated key; quarantine the others."""
    table, gate = typed_table(kind), outcome.gate
    keys = [f"t.{sql_ident(kind.by_header[h].target)}" for h in gate.unique_key]
    con.execute(
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


def count_typed_rows(con) -> dict[int, tuple[int, int]]:
    """(typed rows, description rows) per file: final once every kind is typed and marked. (An
    export file is of one kind; an Open API dump may feed several.)"""
    counts: dict[int, tuple[int, int]] = {}
    for kind in KINDS.values():
        for file, n, desc in con.execute(
            f"SELECT __file, count(*), count(*) FILTER (WHERE __description) FROM {typed_table(kind)} GROUP BY ALL"
        ).fetchall():
            before = counts.get(file, (0, 0))
            counts[file] = (before[0] + n, before[1] + desc)
    return counts


def validation_rows(
    con,
    reads: Mapping[int, DecodedExport],
    outcomes: Mapping[str, list[GateOutcome]],
    typed_rows: Mapping[int, tuple[int, int]],
    batch_date: date,
    run_id: str,
    dump_entries: tuple[LedgerEntry, ...] = (),
) -> list[tuple]:
    """validation_results: one row per (file, expectation), header gates first; an Open API dump
    has the row gates of each kind it fed (judged on the records of that kind it gave)."""
    failed: dict[tuple[str, int, int], tuple[int, list[int]]] = {}
    for name in outcomes:
        for file, gate, n, lines in con.execute(f"SELECT file, gate, n, lines FROM fails_{name}").fetchall():
            failed[(name, file, gate)] = (n, lines)

    def row(entry, kind, gate, success, elements, unexpected, details, suite=None) -> tuple:
        return (
            batch_date,
            run_id,
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

    rows: list[tuple] = []

    def gate_rows(entry: LedgerEntry, kind: Kind, records: int) -> None:
        for gi, o in enumerate(outcomes.get(kind.name, [])):
            n, lines = failed.get((kind.name, entry.index, gi), (0, []))
            details = {"kwargs": o.gate.kwargs, "unexpected_lines": lines}
            if o.error:
                details["error"] = o.error
            rows.append(row(entry, kind, o.gate, n == 0 and not o.error, records, n, details))

    for index, read in sorted(reads.items()):
        entry, kind = read.entry, read.recognition.kind
        for o in read.column_outcomes:
            rows.append(
                row(entry, kind, o.gate, o.success, 0, 0, {"on": "header"}, suite=f"{kind.name}.header")
            )
        if entry.status != "ingested":
            continue
        typed, description = typed_rows.get(index, (0, 0))
        gate_rows(entry, kind, typed - description)  # the records the row gates judged
    dumps = [e for e in dump_entries if e.status == "ingested"]
    for name in SHOP_EXPORT_KINDS if dumps else ():
        fed = dict(
            con.execute(
                f"SELECT __file, count(*) FROM {typed_table(KINDS[name])} WHERE list_contains($files, __file) "
                "GROUP BY ALL",
                {"files": [e.index for e in dumps]},
            ).fetchall()
        )
        for entry in dumps:
            if fed.get(entry.index):
                gate_rows(entry, KINDS[name], fed[entry.index])
    return rows


def settle_ledger(
    con,
    entries: list[LedgerEntry],
    reads: Mapping[int, DecodedExport],
    typed_rows: Mapping[int, tuple[int, int]],
) -> None:
    """Each ingested export's rows read, staged, quarantined and skipped as a description (Open
    API dumps, which are not in `reads`, are settled by `api_dump_typing.settle_dump_ledger`)."""
    q_counts = {
        file: (gx_rows, rejected)
        for file, gx_rows, rejected in con.execute(
            """SELECT file, count(DISTINCT rid), count(*) FILTER (WHERE rid IS NULL)
               FROM q_rows WHERE scope = 'record' GROUP BY file"""
        ).fetchall()
    }
    for entry in entries:
        if entry.status != "ingested" or entry.index not in reads:
            continue
        n, desc = typed_rows.get(entry.index, (0, 0))
        quarantined_rows, rejected = q_counts.get(entry.index, (0, 0))
        entry.rows_read = n + rejected
        entry.rows_skipped_description = desc
        entry.rows_quarantined = quarantined_rows + rejected
        entry.rows_staged = n - desc - quarantined_rows
        read = reads[entry.index]
        expected = read.numbered.records + len(read.numbered.broken)
        if entry.rows_read != expected or not entry.balanced:
            log.warning(
                "%s: %d records in the file, %d accounted for", entry.source_file, expected, entry.rows_read
            )


def quarantine_digest(con, entries: list[LedgerEntry]) -> tuple[list[tuple], list[tuple]]:
    """(quarantine reason counts, quarantine sample) for the HTML validation report."""
    reasons = con.execute(
        r"""SELECT coalesce(expectation, scope || ' rejected'),
                   regexp_replace(reason, '''[^'']*''|\d+', '…', 'g') AS pattern, count(*) AS n
            FROM q_rows GROUP BY ALL ORDER BY n DESC, pattern LIMIT 100"""
    ).fetchall()
    names = {e.index: e.source_file for e in entries}
    sample = [
        (names[f], line, reason)
        for f, line, reason in con.execute(
            "SELECT file, line, reason FROM q_rows ORDER BY file, line NULLS FIRST, reason LIMIT 200"
        ).fetchall()
    ]
    return reasons, sample
