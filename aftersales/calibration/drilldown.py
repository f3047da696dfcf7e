"""Disagreement drill-down: the rules that most often decide against the platform, with examples.

Only decisive recommendations count here (buyer_favour, seller_favour, partial_refund): an
abstention (need_evidence, manual_review) is a coverage question, not a rule contradicting the
platform. Rules are ranked by the lower bound of the 95% Wilson interval of their disagreement
rate, so a rule wrong 3 times out of 3 does not outrank one wrong 40 times out of 50; rules with
fewer decisive cases than the minimum group size come last, flagged.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aftersales.calibration.agreement import wilson_sql
from aftersales.lakehouse.connect import open_warehouse


def disagreement_ranking(
    warehouse: Path, calibration_id: str, min_cases: int, examples: int = 3
) -> list[dict]:
    """Rules (deciding rule ids) by how reliably they decide against the platform, read from the warehouse.

    Each row: rule, decisive cases, disagreements, rate and interval (NULL below `min_cases`),
    `small_sample`, and up to `examples` disagreeing cases with their rule trace.
    """
    con = open_warehouse(warehouse)
    try:
        rel = con.execute(
            f"""
            WITH d AS (
                SELECT decided_by AS rule, case_id, case_kind, market, recommended_decision, platform_decision,
                       platform_outcome, rule_ids, asof_batch_date, NOT agree AS against
                FROM calibration_cases
                WHERE calibration_id = ? AND calibratable
                  AND recommended_decision NOT IN ('need_evidence', 'manual_review')
            ), g AS (
                SELECT rule, count(*) AS n, count(*) FILTER (against) AS k,
                       list({{'case_id': case_id, 'case_kind': case_kind, 'market': market,
                              'recommended': recommended_decision, 'platform': platform_decision,
                              'platform_outcome': platform_outcome, 'trace': rule_ids,
                              'asof_batch_date': asof_batch_date}} ORDER BY case_id)
                           FILTER (against) AS cases,
                       list(platform_decision) FILTER (against) AS platform_decisions
                FROM d GROUP BY rule
            )
            SELECT rule, n AS decisive_cases, k AS disagreements, n < ? AS small_sample,
                   CASE WHEN n >= ? THEN k / n END AS rate,
                   CASE WHEN n >= ? THEN {wilson_sql("k", "n", "low")} END AS ci_low,
                   CASE WHEN n >= ? THEN {wilson_sql("k", "n", "high")} END AS ci_high,
                   cases[1:?] AS examples, platform_decisions
            FROM g WHERE k > 0
            ORDER BY small_sample, ci_low DESC NULLS LAST, k DESC, rule
            """,
            [calibration_id, min_cases, min_cases, min_cases, min_cases, examples],
        )
        names = [c[0] for c in rel.description]
        rows = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()
    for row in rows:
        row["candidate_change"] = candidate_change(row["rule"], row.pop("platform_decisions") or [])
    return rows


def candidate_change(rule: str, platform_decisions: list[str]) -> str:
    """What to try in a candidate pack, read off the disagreements: the platform's usual answer.

    A suggestion for a person, not an edit: the rule's clause and source decide whether the
    platform's practice or the pack is right, and `aftersales replay --rules CANDIDATE` then
    measures the change on the same decided cases.
    """
    if not platform_decisions:
        return ""
    counts = Counter(platform_decisions)
    decision, n = counts.most_common(1)[0]
    return (
        f"the platform decided {decision} in {n} of {len(platform_decisions)} disagreements: try a candidate "
        f"pack where {rule} gives decision={decision} (or a narrower condition), bump its version, and "
        "compare with `aftersales replay --rules CANDIDATE`"
    )


def compare_calibrations(warehouse: Path, before_id: str, after_id: str) -> dict:
    """Agreement of two calibrations (e.g. shipped vs candidate rules) on the cases both judged.

    `fixed`: cases the candidate now gets right, `broken`: cases it now gets wrong (the two
    discordant cells a McNemar test would use); agreements carry Wilson intervals.
    """
    con = open_warehouse(warehouse)
    try:
        n, k_before, k_after, fixed, broken = con.execute(
            """
            SELECT count(*), count(*) FILTER (b.agree), count(*) FILTER (a.agree),
                   count(*) FILTER (a.agree AND NOT b.agree), count(*) FILTER (b.agree AND NOT a.agree)
            FROM calibration_cases b JOIN calibration_cases a USING (case_id, case_kind)
            WHERE b.calibration_id = ? AND a.calibration_id = ? AND b.calibratable AND a.calibratable
            """,
            [before_id, after_id],
        ).fetchone()
    finally:
        con.close()
    from aftersales.calibration.agreement import wilson_interval

    return {
        "cases": n,
        "agreement_before": k_before / n if n else None,
        "agreement_before_ci": wilson_interval(k_before, n),
        "agreement_after": k_after / n if n else None,
        "agreement_after_ci": wilson_interval(k_after, n),
        "fixed": fixed,
        "broken": broken,
    }
