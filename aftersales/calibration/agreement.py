"""Agreement statistics: how often, and how confidently, recommended rulings match the platform.

All whole-table SQL over `calibration_cases` (one row per decided case). Per group (overall,
market, program, case kind, deciding rule, decision week):

- agreement: share of calibratable cases whose recommended decision equals the platform's, with
  a 95% Wilson score interval (abstentions count as disagreements; coverage is reported beside);
- Cohen's kappa between recommended and platform decision, with its large-sample 95% interval
  (kappa +/- 1.96 * sqrt(po (1 - po) / (n (1 - pe)^2)));
- Brier score of `confidence` read as the probability that the recommendation agrees, and the
  expected calibration error over equal-width confidence bins;
- the confusion matrix (recommended x platform) and the reliability bins.

A group with fewer than `min_cases` cases keeps its counts but not its rates: value and interval
are NULL and `small_sample` is TRUE, so no one reads a percentage of three cases.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054

GROUPINGS: dict[str, str] = {
    "overall": "'all'",
    "market": "market",
    "program": "program",
    "case_kind": "case_kind",
    "deciding_rule": "decided_by",
    "week": "strftime(date_trunc('week', decision_local_date), '%G-W%V')",
}

SUMMARY_DDL = """
    CREATE TABLE IF NOT EXISTS calibration_summary (
        calibration_id VARCHAR NOT NULL,
        dimension VARCHAR NOT NULL,       -- overall, market, program, case_kind, deciding_rule, week,
                                          -- confusion, reliability
        group_value VARCHAR NOT NULL,     -- the group (confusion: 'recommended|platform'; reliability: bin)
        metric VARCHAR NOT NULL,          -- agreement, kappa, brier, ece, coverage, cases, mean_confidence
        n BIGINT NOT NULL,                -- cases behind the figure
        k BIGINT,                         -- agreement: agreeing cases
        value DOUBLE,                     -- NULL when suppressed (n < min_cases)
        ci_low DOUBLE,
        ci_high DOUBLE,
        small_sample BOOLEAN NOT NULL
    )"""


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion k/n (None for n = 0)."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_sql(k: str, n: str, bound: str) -> str:
    sign = "-" if bound == "low" else "+"
    z2 = f"{Z95 * Z95!r}"
    p = f"({k})::DOUBLE / ({n})"
    return (
        f"(({p} + {z2} / (2 * ({n}))) {sign} {Z95!r} * sqrt({p} * (1 - {p}) / ({n}) + {z2} / (4 * ({n}) * ({n}))))"
        f" / (1 + {z2} / ({n}))"
    )


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (recommended, platform) pairs (reference implementation for tests)."""
    n = len(pairs)
    if not n:
        return None
    po = sum(a == b for a, b in pairs) / n
    cats = {a for a, _ in pairs} | {b for _, b in pairs}
    pe = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in cats)
    return None if pe == 1 else (po - pe) / (1 - pe)


def build_summary(con, calibration_id: str, min_cases: int, bins: int) -> None:
    """Fill `calibration_summary` for one calibration from its `calibration_cases` (same database)."""
    con.execute(SUMMARY_DDL)
    con.execute("DELETE FROM calibration_summary WHERE calibration_id = ?", [calibration_id])
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cal_base AS
        SELECT *, agree::INTEGER AS hit,
               least(floor(confidence * ?)::INTEGER, ? - 1) AS bin
        FROM calibration_cases WHERE calibration_id = ? AND calibratable
        """,
        [bins, bins, calibration_id],
    )
    groups = " UNION ALL ".join(
        f"SELECT '{dim}' AS dimension, coalesce(({expr})::VARCHAR, '(none)') AS group_value, * FROM cal_base"
        for dim, expr in GROUPINGS.items()
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE cal_grouped AS {groups}")
    small = f"n < {int(min_cases)}"
    con.execute(
        f"""
        INSERT INTO calibration_summary
        WITH g AS (
            SELECT dimension, group_value, count(*) AS n, sum(hit) AS k,
                   avg(hit) AS po,
                   avg(CASE WHEN recommended_decision IN ('need_evidence', 'manual_review') THEN 0 ELSE 1 END)
                       AS coverage,
                   avg(power(confidence - hit, 2)) FILTER (WHERE confidence IS NOT NULL) AS brier
            FROM cal_grouped GROUP BY ALL
        ), marg AS (
            SELECT dimension, group_value, side, label, count(*) AS c FROM (
                SELECT dimension, group_value, 'r' AS side, recommended_decision AS label FROM cal_grouped
                UNION ALL
                SELECT dimension, group_value, 'p', platform_decision FROM cal_grouped) GROUP BY ALL
        ), pe AS (
            SELECT r.dimension, r.group_value, sum((r.c / g.n) * (p.c / g.n)) AS pe
            FROM marg r JOIN marg p USING (dimension, group_value, label)
            JOIN g USING (dimension, group_value)
            WHERE r.side = 'r' AND p.side = 'p' GROUP BY ALL
        ), ece AS (
            SELECT dimension, group_value, sum(abs(conf - acc) * nb) / any_value(n) AS ece
            FROM (SELECT dimension, group_value, bin, avg(confidence) AS conf, avg(hit) AS acc, count(*) AS nb
                  FROM cal_grouped WHERE confidence IS NOT NULL GROUP BY ALL)
            JOIN g USING (dimension, group_value) GROUP BY ALL
        ), stats AS (
            SELECT g.*, coalesce(pe.pe, 0) AS pe, ece.ece,
                   CASE WHEN coalesce(pe.pe, 0) < 1 THEN (g.po - coalesce(pe.pe, 0)) / (1 - coalesce(pe.pe, 0)) END
                       AS kappa,
                   CASE WHEN coalesce(pe.pe, 0) < 1
                        THEN {Z95!r} * sqrt(g.po * (1 - g.po) / (g.n * power(1 - coalesce(pe.pe, 0), 2))) END AS kappa_half
            FROM g LEFT JOIN pe USING (dimension, group_value) LEFT JOIN ece USING (dimension, group_value)
        )
        SELECT ?, dimension, group_value, metric, n, k,
               CASE WHEN {small} THEN NULL ELSE value END,
               CASE WHEN {small} THEN NULL ELSE lo END,
               CASE WHEN {small} THEN NULL ELSE hi END,
               {small}
        FROM (
            SELECT dimension, group_value, 'agreement' AS metric, n, k, po AS value,
                   {wilson_sql("k", "n", "low")} AS lo, {wilson_sql("k", "n", "high")} AS hi FROM stats
            UNION ALL
            SELECT dimension, group_value, 'kappa', n, NULL, kappa,
                   greatest(-1, kappa - kappa_half), least(1, kappa + kappa_half) FROM stats
            UNION ALL
            SELECT dimension, group_value, 'coverage', n, NULL, coverage, NULL, NULL FROM stats
            UNION ALL
            SELECT dimension, group_value, 'brier', n, NULL, brier, NULL, NULL FROM stats
            UNION ALL
            SELECT dimension, group_value, 'ece', n, NULL, ece, NULL, NULL FROM stats
        )
        """,
        [calibration_id],
    )
    # Confusion matrix: counts only (a count is never a bare percentage).
    con.execute(
        """
        INSERT INTO calibration_summary
        SELECT ?, 'confusion', recommended_decision || '|' || platform_decision, 'cases', count(*), count(*),
               count(*), NULL, NULL, FALSE
        FROM cal_base GROUP BY ALL
        """,
        [calibration_id],
    )
    # Reliability bins: mean confidence vs observed agreement (Wilson interval) per confidence bin.
    con.execute(
        f"""
        INSERT INTO calibration_summary
        WITH b AS (
            SELECT bin, count(*) AS n, sum(hit) AS k, avg(confidence) AS conf FROM cal_base
            WHERE confidence IS NOT NULL GROUP BY bin
        ), labelled AS (
            SELECT *, printf('%.2f-%.2f', bin / {bins}::DOUBLE, (bin + 1) / {bins}::DOUBLE) AS label FROM b
        )
        SELECT ?, 'reliability', label, metric, n, k,
               CASE WHEN {small} THEN NULL ELSE value END,
               CASE WHEN {small} THEN NULL ELSE lo END,
               CASE WHEN {small} THEN NULL ELSE hi END, {small}
        FROM (
            SELECT label, 'agreement' AS metric, n, k, k / n AS value,
                   {wilson_sql("k", "n", "low")} AS lo, {wilson_sql("k", "n", "high")} AS hi FROM labelled
            UNION ALL
            SELECT label, 'mean_confidence', n, NULL, conf, NULL, NULL FROM labelled
        )
        """,
        [calibration_id],
    )
