"""`score_batch`: the policy stage of the nightly batch (work database in, five result tables out).

Order of work, so that nothing is scored under a pack that must not run:
1. load the rule book and validate every policy rule (schema, sqlglot allow-list, type check);
2. assemble cases and features (SQL), evaluate every rule version over all cases (one query),
   check evidence completeness (GX), decide (SQL);
3. replace this batch's rows of case_features, rulings, rule_hits, evidence_gaps and rule_catalog
   (every rule version of the packs used: adjudication, SLA clock and health rules) in one
   transaction, so a failed or retried stage never leaves half a batch.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftersales import database
from aftersales.policy.case_restore import restore_cases
from aftersales.policy.cases import CASE_TABLE, FEATURE_ROWS_TABLE, build_cases, count_cases_without_shop
from aftersales.policy.catalog import CATALOG_TABLE, write_rule_catalog
from aftersales.policy.decide import (
    ROLE_TABLE,
    RULING_TABLE,
    clause_aggregates_sql,
    decide,
    explanation_sql,
    ruling_joins_sql,
)
from aftersales.policy.evaluate import HIT_TABLE, META_TABLE, evaluate_rules
from aftersales.policy.evidence import REQ_TABLE, check_evidence
from aftersales.policy.packs import PolicyBook, load_policy
from aftersales.rulepack import load_rulebook
from aftersales.staging import create_staging_tables
from aftersales.warehouse_schema import RESULT_DDL

OUTPUT_TABLES = ("case_features", "rulings", "rule_hits", "evidence_gaps", CATALOG_TABLE)


@dataclass
class ScoringSummary:
    batch_date: str
    run_id: str
    policy_version: str
    cases: int = 0
    rulings: int = 0
    rule_hits: int = 0
    evidence_gaps: int = 0
    rule_errors: int = 0
    catalogued_rules: int = 0
    cases_in_error: int = 0
    cases_without_shop: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _write_outputs(
    con, batch_date: dt.date, run_id: str, policy: PolicyBook, tables: tuple[str, ...] = OUTPUT_TABLES
) -> int:
    """Replace this batch's rows of the given result tables (inside the caller's transaction).

    Returns the number of catalogued rule versions (0 when `rule_catalog` is not among `tables`).
    """
    policy_version = policy.policy_version
    for table in tables:
        con.execute(RESULT_DDL[table])
        con.execute(f"DELETE FROM {table} WHERE batch_date = ?", [batch_date])
    catalogued = write_rule_catalog(con, policy.book, batch_date, run_id) if CATALOG_TABLE in tables else 0
    params = [batch_date, run_id]
    if "case_features" in tables:
        con.execute(
            f"INSERT INTO case_features BY NAME "
            f"SELECT ?::DATE AS batch_date, ? AS run_id, * EXCLUDE (batch_date) FROM {FEATURE_ROWS_TABLE}",
            params,
        )
    con.execute(
        f"""
        INSERT INTO rulings BY NAME
        WITH {clause_aggregates_sql()}
        SELECT ?::DATE AS batch_date, ? AS run_id, r.case_id, r.case_kind, r.shop_id, r.order_id, r.market,
               r.decision, r.liable_party, r.remedy, r.score, r.confidence, ? AS policy_version,
               coalesce(t.ids, []::VARCHAR[]) AS rule_ids,
               {explanation_sql("en")} AS explanation_en,
               {explanation_sql("zh")} AS explanation_zh,
               r.program, r.pack_id, r.refund_amount_recommended, r.decided_by
        FROM {RULING_TABLE} r {ruling_joins_sql()}
        """,
        [*params, policy_version],
    )
    con.execute(
        f"""
        INSERT INTO rule_hits BY NAME
        SELECT ?::DATE AS batch_date, ? AS run_id, h.case_id, m.rule_id, m.rule_version,
               CASE WHEN h.status = 'error' THEN 'error' ELSE m.effect END AS effect,
               CASE WHEN h.status = 'error' THEN 0 ELSE m.points END AS points,
               CASE WHEN h.status = 'error' THEN h.reason ELSE coalesce(h.reason, m.clause_en) END AS reason,
               m.pack_id, m.source, m.firmness, x.role
        FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index)
        JOIN {ROLE_TABLE} x ON x.case_id = h.case_id AND x.rule_index = h.rule_index
        """,
        params,
    )
    con.execute(
        f"""
        INSERT INTO evidence_gaps BY NAME
        SELECT ?::DATE AS batch_date, ? AS run_id, q.case_id, q.party, q.evidence_type, m.rule_id,
               q.gap_kind, q.due_at,
               coalesce(w.via IN ('evidence', 'overdue') AND w.rule_index = q.rule_index AND q.decisive_spec,
                        FALSE) AS decisive,
               q.accepted AS accepted_types
        FROM {REQ_TABLE} q
        JOIN {META_TABLE} m USING (rule_index)
        LEFT JOIN policy_winner w USING (case_id)
        WHERE q.gap_kind IS NOT NULL
        """,
        params,
    )
    return catalogued


def score_cases(con, policy: PolicyBook, batch_date: dt.date) -> ScoringSummary:
    """Assemble cases from staging, then judge them (temp tables only)."""
    cases = build_cases(con, batch_date, policy.book)
    summary = judge_cases(con, policy, batch_date)
    summary.cases = cases
    summary.cases_without_shop = count_cases_without_shop(con)
    return summary


def judge_cases(con, policy: PolicyBook, batch_date: dt.date) -> ScoringSummary:
    """Evaluate, check evidence and decide the cases already in `int_case_features` (temp tables only)."""
    summary = ScoringSummary(
        batch_date=batch_date.isoformat(), run_id="", policy_version=policy.policy_version
    )
    summary.cases = con.execute(f"SELECT count(*) FROM {CASE_TABLE}").fetchone()[0]
    errors = evaluate_rules(con, policy)
    summary.rule_errors = len(errors)
    summary.errors = [f"{e.rule_key}: {e.message} ({e.cases} cases)" for e in errors]
    check_evidence(con, policy)
    summary.rulings = decide(con, policy)
    summary.cases_in_error = con.execute(
        f"SELECT count(DISTINCT case_id) FROM {HIT_TABLE} WHERE status = 'error'"
    ).fetchone()[0]
    summary.decisions = dict(
        con.execute(f"SELECT decision, count(*) FROM {RULING_TABLE} GROUP BY ALL ORDER BY ALL").fetchall()
    )
    return summary


def _run(
    work_db: Path, batch_date: dt.date, run_id: str, policy: PolicyBook, prepare, tables
) -> ScoringSummary:
    started = time.perf_counter()
    con = database.connect(work_db)
    try:
        summary = prepare(con)
        summary.run_id = run_id
        con.execute("BEGIN TRANSACTION")
        try:
            summary.catalogued_rules = _write_outputs(con, batch_date, run_id, policy, tables)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        for table in ("rule_hits", "evidence_gaps"):
            n = con.execute(f"SELECT count(*) FROM {table} WHERE batch_date = ?", [batch_date]).fetchone()[0]
            setattr(summary, table, n)
    finally:
        con.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def score_work_db(work_db: Path, batch_date: dt.date, run_id: str, policy: PolicyBook) -> ScoringSummary:
    """Judge every case of a work database under an already validated policy and write the results."""

    def prepare(con) -> ScoringSummary:
        create_staging_tables(con)
        return score_cases(con, policy, batch_date)

    return _run(work_db, batch_date, run_id, policy, prepare, OUTPUT_TABLES)


_VALIDATED: dict[tuple, PolicyBook] = {}


def _rules_fingerprint(rules_dir: Path) -> tuple:
    root = Path(rules_dir).resolve()
    files = sorted(root.rglob("*.yaml")) if root.is_dir() else []
    return (
        str(root),
        tuple((str(f.relative_to(root)), f.stat().st_mtime_ns, f.stat().st_size) for f in files),
    )


def validate_policy_packs(rules_dir: Path) -> PolicyBook:
    """Load and validate every policy rule (schema, sqlglot allow-list, type check); raise RulePackError.

    A validated book is reused while no YAML file under `rules_dir` changes (replays score one
    date at a time); any edit, added or removed file validates again from scratch.
    """
    key = _rules_fingerprint(rules_dir)
    if key not in _VALIDATED:
        _VALIDATED.clear()
        _VALIDATED[key] = load_policy(load_rulebook(rules_dir))
    return _VALIDATED[key]


def score_batch(work_db: Path, batch_date: dt.date, run_id: str, rules_dir: Path) -> ScoringSummary:
    """Judge every case of the work database and write case_features, rulings, rule_hits, evidence_gaps.

    Raises `RulePackError` (before touching the database) when a pack is invalid: a condition that
    reads a file or drops a table is refused here, before any case is scored.
    """
    started = time.perf_counter()
    policy = validate_policy_packs(rules_dir)
    summary = score_work_db(work_db, batch_date, run_id, policy)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def rescore_case_features(work_db: Path, batch_date: dt.date, run_id: str, rules_dir: Path) -> ScoringSummary:
    """Re-judge the stored `case_features` of one batch date under `rules_dir` (what-if replay).

    Cases are rebuilt from the stored typed features (settings-dependent features recomputed under
    the candidate packs); rulings, rule_hits and evidence_gaps of that date are replaced in
    `work_db`, case_features are left as stored. The shipped rules reproduce the published rulings.
    """
    started = time.perf_counter()
    policy = validate_policy_packs(rules_dir)

    def prepare(con) -> ScoringSummary:
        restore_cases(con, batch_date, policy.book)
        return judge_cases(con, policy, batch_date)

    summary = _run(work_db, batch_date, run_id, policy, prepare, ("rulings", "rule_hits", "evidence_gaps"))
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
