"""Agreement with the platform's real decisions before and after a what-if replay.

No second engine: the candidate is calibrated like the stored rules (`aftersales calibrate`,
point in time) and the two calibrations are compared case by case.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from aftersales.lakehouse.connect import open_warehouse


def stored_rules_calibration(warehouse: Path, first: date, last: date) -> dict | None:
    """The latest calibration of the stored rules that holds decided cases of [first, last], or None.

    "Stored rules": the policy version of the rulings published on those batch dates, so the
    figure it gives is the agreement of what the nightly recommended (judged point in time).
    """
    con = open_warehouse(warehouse)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if not {"calibration_runs", "calibration_cases", "rulings"} <= tables:
            return None
        rel = con.execute(
            """
            SELECT c.calibration_id, c.policy_version, c.date_from, c.date_to, c.min_cases, c.reliability_bins
            FROM calibration_runs c
            WHERE c.date_from <= ? AND c.date_to >= ?
              AND c.policy_version IN (SELECT DISTINCT policy_version FROM rulings WHERE batch_date BETWEEN ? AND ?)
              AND EXISTS (SELECT 1 FROM calibration_cases k WHERE k.calibration_id = c.calibration_id
                          AND k.calibratable AND k.decision_local_date BETWEEN ? AND ?)
            ORDER BY c.finished_at DESC, c.calibration_id DESC LIMIT 1
            """,
            [last, first, first, last, first, last],
        )
        names = [d[0] for d in rel.description]
        row = rel.fetchone()
    finally:
        con.close()
    return dict(zip(names, row, strict=True)) if row else None


def replay_agreement(warehouse: Path, first: date, last: date, candidate_rules: Path) -> dict | None:
    """Agreement with the platform of the stored rules and of the candidate on the same decided cases.

    No second engine: the candidate is calibrated (`aftersales.calibration.rejudge.calibrate`, point in
    time, published beside the stored calibration) over the decisions of [first, last] that the
    stored-rules calibration covers, and the two are compared case by case
    (`calibration.drilldown.compare_calibrations`). None when no calibration of the stored rules
    covers decisions in the range. CalibrationError / RulePackError propagate.
    """
    from aftersales.calibration.drilldown import compare_calibrations
    from aftersales.calibration.rejudge import calibrate
    from aftersales.policy import validate_policy_packs

    stored = stored_rules_calibration(warehouse, first, last)
    if stored is None:
        return None
    lo, hi = max(first, stored["date_from"]), min(last, stored["date_to"])
    candidate_version = validate_policy_packs(candidate_rules).policy_version
    if candidate_version == stored["policy_version"]:
        candidate_id = stored["calibration_id"]  # the candidate is the stored policy: same rulings
    else:
        candidate_id = calibrate(
            warehouse,
            lo,
            hi,
            Path(candidate_rules),
            min_cases=stored["min_cases"],
            bins=stored["reliability_bins"],
        ).calibration_id
    compared = compare_calibrations(warehouse, stored["calibration_id"], candidate_id)
    if candidate_id == stored["calibration_id"]:  # restrict the self-comparison to the range too
        con = open_warehouse(warehouse)
        try:
            n, k = con.execute(
                "SELECT count(*), count(*) FILTER (agree) FROM calibration_cases WHERE calibration_id = ? "
                "AND calibratable AND decision_local_date BETWEEN ? AND ?",
                [candidate_id, lo, hi],
            ).fetchone()
        finally:
            con.close()
        from aftersales.calibration.agreement import wilson_interval

        rate, ci = (k / n if n else None), wilson_interval(k, n)
        compared |= {"cases": n, "agreement_before": rate, "agreement_before_ci": ci}
        compared |= {"agreement_after": rate, "agreement_after_ci": ci, "fixed": 0, "broken": 0}
    n = compared["cases"]
    return compared | {
        "stored_calibration_id": stored["calibration_id"],
        "candidate_calibration_id": candidate_id,
        "stored_policy_version": stored["policy_version"],
        "candidate_policy_version": candidate_version,
        "decisions_from": lo.isoformat(),
        "decisions_to": hi.isoformat(),
        "min_cases": stored["min_cases"],
        "agreeing_before": round(compared["agreement_before"] * n) if n else 0,
        "agreeing_after": round(compared["agreement_after"] * n) if n else 0,
    }


def format_replay_agreement(result: dict | None, first: date, last: date) -> str:
    """The before/after agreement lines of a replay printout (counts always; rates only from min_cases)."""
    if result is None:
        return (
            f"agreement with the platform: no calibration of the stored rules covers decisions in {first} .. "
            f"{last} (run `aftersales calibrate --from {first} --to {last}` first)"
        )
    n = result["cases"]

    def shown(k: int, rate, ci) -> str:
        if n < result["min_cases"]:
            return f"{k} of {n} agree (fewer than {result['min_cases']} cases: counts only)"
        return f"{k} of {n} agree, {rate:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"

    return "\n".join(
        [
            f"agreement with the platform on {n} decided cases (decisions {result['decisions_from']} .. "
            f"{result['decisions_to']}, judged as they stood before each decision):",
            f"  stored rules {result['stored_policy_version']}: "
            + shown(result["agreeing_before"], result["agreement_before"], result["agreement_before_ci"]),
            f"  candidate    {result['candidate_policy_version']}: "
            + shown(result["agreeing_after"], result["agreement_after"], result["agreement_after_ci"]),
            f"  the candidate now agrees on {result['fixed']} case(s) and no longer on {result['broken']}"
            f" (calibrations {result['stored_calibration_id']} -> {result['candidate_calibration_id']})",
        ]
    )
