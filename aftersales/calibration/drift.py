"""Agreement warnings: deciding rules whose agreement with the platform fell below their pack's line.

The line is policy, so it lives in each pack's settings (pack.yaml), never here:

```yaml
calibration: {agreement_warn_below: 0.7}
```

A rule is flagged when it decided at least `min_cases` calibrated cases and its agreement is below
its pack's `agreement_warn_below`; `clearly_below` says the whole 95% Wilson interval is below
it (not a matter of sample noise). Packs without the setting raise no warning. Weekly agreement
(the trend) is in `calibration_summary` (dimension `week`).
"""

from __future__ import annotations

from pathlib import Path

from aftersales.calibration.agreement import wilson_sql
from aftersales.lakehouse.connect import open_warehouse

SETTING = "calibration"
THRESHOLD_KEY = "agreement_warn_below"


def pack_thresholds(book) -> dict[str, float]:
    """pack id -> agreement line from the pack settings (packs without one are absent)."""
    out = {}
    for pack in book.packs:
        value = (pack.settings.get(SETTING) or {}).get(THRESHOLD_KEY)
        if value is not None:
            out[pack.id] = float(value)
    return out


def agreement_warnings(warehouse: Path, calibration_id: str, book, min_cases: int) -> list[dict]:
    """Deciding rules below their pack's agreement line, worst first, read from the warehouse."""
    thresholds = pack_thresholds(book)
    if not thresholds:
        return []
    con = open_warehouse(warehouse)
    try:
        con.execute("CREATE TEMP TABLE pack_line (pack_id VARCHAR, line DOUBLE)")
        con.executemany("INSERT INTO pack_line VALUES (?, ?)", list(thresholds.items()))
        rel = con.execute(
            f"""
            WITH g AS (
                SELECT pack_id, decided_by AS rule, count(*) AS n, count(*) FILTER (agree) AS k
                FROM calibration_cases WHERE calibration_id = ? AND calibratable
                GROUP BY ALL
            )
            SELECT g.pack_id, g.rule, g.n, g.k, g.k / g.n AS agreement,
                   {wilson_sql("g.k", "g.n", "low")} AS ci_low, {wilson_sql("g.k", "g.n", "high")} AS ci_high,
                   p.line AS threshold,
                   {wilson_sql("g.k", "g.n", "high")} < p.line AS clearly_below
            FROM g JOIN pack_line p USING (pack_id)
            WHERE g.n >= ? AND g.k / g.n < p.line
            ORDER BY agreement, g.rule
            """,
            [calibration_id, min_cases],
        )
        names = [d[0] for d in rel.description]
        return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()
