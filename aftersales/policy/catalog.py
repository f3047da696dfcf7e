"""`rule_catalog`: every rule version of the packs a run used, with its clause, source and fingerprint.

Written by the scoring stage into the run's work database, one full catalogue per batch date
(adjudication rules of policy.yaml, SLA clocks of sla.yaml, health targets of health.yaml), and
published with the batch like every other batch table. Per batch date rather than one refreshed
copy, so an audit of any published date reads the exact rules, clauses and sources that judged it,
and a re-run or replay of old dates never rewrites what an older date was judged by.

"Which rules fired most, with their clause" is one join on the rule version:

    SELECT c.pack, h.rule_id, h.rule_version, c.clause_en, c.source_citation, count(*) AS hits
    FROM rule_hits h
    JOIN rule_catalog c ON c.batch_date = h.batch_date AND c.pack = h.pack_id
                       AND c.rule_id = h.rule_id AND c.version = h.rule_version
    GROUP BY ALL ORDER BY hits DESC

(`pack` is in the join because the US packs share adjudication rule ids; SLA and health rule ids
carry their pack in the id, so sla_breaches and seller_health join on rule_id and version alone.)

`body_sha256` is what `rules lint` compares with the last published fingerprint: a rule version
whose judging body changed after it was published must get a new version number.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from aftersales.rulepack import Rule, RuleBook

CATALOG_TABLE = "rule_catalog"
RULE_KINDS = {"policy.yaml": "adjudication", "sla.yaml": "sla_clock", "health.yaml": "health"}

_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("version", pa.int32()),
        ("pack", pa.string()),
        ("markets", pa.list_(pa.string())),
        ("programs", pa.list_(pa.string())),
        ("effective_from", pa.date32()),
        ("effective_to", pa.date32()),
        ("clause_en", pa.string()),
        ("clause_zh", pa.string()),
        ("source_key", pa.string()),
        ("source_citation", pa.string()),
        ("firmness", pa.string()),
        ("body_sha256", pa.string()),
        ("rule_kind", pa.string()),
        ("rule_file", pa.string()),
        ("firmness_reason", pa.string()),
        ("source_firmness", pa.string()),
        ("source_markets", pa.list_(pa.string())),
        ("source_platform", pa.string()),
        ("pack_version", pa.string()),
        ("body_json", pa.string()),
    ]
)


def _row(book: RuleBook, pack_version: str, rule: Rule) -> dict:
    source = book.sources.get(rule.source)
    source = source if isinstance(source, dict) else {}
    return {
        "rule_id": rule.id,
        "version": rule.version,
        "pack": rule.pack,
        "markets": list(rule.markets),
        "programs": list(rule.programs),
        "effective_from": rule.effective_from,
        "effective_to": rule.effective_to,
        "clause_en": rule.clause_en,
        "clause_zh": rule.clause_zh,
        "source_key": rule.source,
        "source_citation": source.get("citation"),
        "firmness": rule.firmness,
        "body_sha256": rule.body_sha256,
        "rule_kind": RULE_KINDS.get(rule.file, rule.file),
        "rule_file": rule.file,
        "firmness_reason": rule.firmness_reason or None,
        "source_firmness": source.get("firmness"),
        "source_markets": [str(m) for m in source.get("markets") or []] or None,
        "source_platform": source.get("platform"),
        "pack_version": pack_version,
        "body_json": json.dumps(rule.judging_body, sort_keys=True, ensure_ascii=False),
    }


def catalog_table(book: RuleBook) -> pa.Table:
    """The whole catalogue of a rule book (every version of every rule of every pack), as Arrow."""
    rows = [_row(book, pack.version, rule) for pack in book.packs for rule in pack.rules]
    return pa.Table.from_pylist(rows, schema=_SCHEMA)


def write_rule_catalog(con, book: RuleBook, batch_date: dt.date, run_id: str) -> int:
    """Replace `batch_date`'s catalogue in the connected database (inside the caller's transaction)."""
    from aftersales.warehouse_schema import RESULT_DDL

    con.execute(RESULT_DDL[CATALOG_TABLE])
    con.execute(f"DELETE FROM {CATALOG_TABLE} WHERE batch_date = ?", [batch_date])
    catalogue = catalog_table(book)
    con.register("rule_catalog_rows", catalogue)
    try:
        con.execute(
            f"""
            INSERT INTO {CATALOG_TABLE} BY NAME
            SELECT ?::DATE AS batch_date, ? AS run_id, c.*,
                   (c.effective_from <= ?::DATE AND (c.effective_to IS NULL OR ?::DATE < c.effective_to))
                       AS in_force,
                   ? AS policy_version
            FROM rule_catalog_rows c
            """,
            [batch_date, run_id, batch_date, batch_date, book.policy_version],
        )
    finally:
        con.unregister("rule_catalog_rows")
    return len(catalogue)


@dataclass(frozen=True)
class PublishedRule:
    """The last published fingerprint of one rule version, and where it was published."""

    pack: str
    rule_id: str
    version: int
    body_sha256: str
    body_json: str
    batch_date: dt.date
    run_id: str


def published_fingerprints(warehouse: Path | str) -> dict[tuple[str, str, int], PublishedRule]:
    """(pack, rule id, version) -> its last published fingerprint, read from a warehouse.

    Empty when the warehouse holds no catalogue yet (published before catalogues existed).
    Raises duckdb.Error when the file cannot be opened.
    """
    from aftersales.lakehouse.connect import open_warehouse

    con = open_warehouse(warehouse)
    try:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name IN (?, 'runs')",
                [CATALOG_TABLE],
            ).fetchall()
        }
        if CATALOG_TABLE not in tables:
            return {}
        # "Last" = published by the run that finished last (rows carry no clock of their own, so a
        # rerun reproduces them exactly); the batch date where no runs row tells.
        finished = (
            "SELECT run_id, max(coalesce(finished_at, started_at)) AS finished_at FROM runs GROUP BY 1"
            if "runs" in tables
            else "SELECT NULL::VARCHAR AS run_id, NULL::TIMESTAMPTZ AS finished_at"
        )
        rows = con.execute(
            f"""
            WITH c AS (
                SELECT c.*, (coalesce(r.finished_at, c.batch_date::TIMESTAMPTZ), c.batch_date) AS published
                FROM {CATALOG_TABLE} c LEFT JOIN ({finished}) r USING (run_id)
            )
            SELECT pack, rule_id, version, arg_max(body_sha256, published), arg_max(body_json, published),
                   arg_max(batch_date, published), arg_max(run_id, published)
            FROM c GROUP BY ALL
            """
        ).fetchall()
    finally:
        con.close()
    return {(r[0], r[1], r[2]): PublishedRule(*r) for r in rows}


def stored_catalogue(con, first: dt.date, last: dt.date) -> dict[tuple[str, str, int], dict]:
    """(pack, rule id, version) -> the catalogue row that judged the latest date of [first, last]."""
    rel = con.execute(
        f"""
        SELECT pack, rule_id, version,
               arg_max(body_sha256, batch_date) AS body_sha256, arg_max(body_json, batch_date) AS body_json,
               arg_max(source_key, batch_date) AS source_key, arg_max(firmness, batch_date) AS firmness,
               arg_max(clause_en, batch_date) AS clause_en, arg_max(clause_zh, batch_date) AS clause_zh,
               arg_max(firmness_reason, batch_date) AS firmness_reason
        FROM {CATALOG_TABLE} WHERE batch_date BETWEEN ? AND ? GROUP BY ALL
        """,
        [first, last],
    )
    names = [d[0] for d in rel.description]
    return {(r[0], r[1], r[2]): dict(zip(names, r, strict=True)) for r in rel.fetchall()}
