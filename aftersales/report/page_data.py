"""What the nightly report page shows, fetched from the warehouse in one read-only session.

Kept apart from rendering so the queries (what a page claims) can be read and checked on their
own; `aftersales.report.page_render` turns a `PageData` into HTML without any I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

RECENT_BATCHES = 14  # batches shown in the breach trend
TOP_ROWS = 12  # rows shown in the gap and rule charts
ACTION_ROWS = 40  # soonest actions listed in the action-queue section
DUE_SOON_HOURS = 24  # the headline's "actions due in 24 h" (issue #15), counted from the batch end


@dataclass
class PageData:
    """Everything the template shows, fetched in one read-only session."""

    batch_date: date
    run: dict | None
    attempts: list[dict]
    ledger: list[dict]
    quarantine_rows: int
    quarantine: list[dict]
    batch_dates: list[date]
    breaches: list[dict]
    decisions: list[dict]
    scorecard: list[dict]
    gaps: list[dict]
    rules: list[dict]
    rule_pack_versions: dict = field(default_factory=dict)
    stage_timings: dict = field(default_factory=dict)
    previous: dict | None = None  # {"batch_date", "run_id"} of the batch date before, if any
    following: dict | None = None  # the batch date after (a backfilled page), if any
    headline: dict = field(default_factory=dict)  # this batch's and the previous batch's figures
    quarantine_split: dict = field(default_factory=dict)  # {"rows": n, "files": n}
    actions: list[dict] = field(default_factory=list)
    actions_by_kind: list[dict] = field(default_factory=list)
    has_action_queue: bool = False
    # (pack, rule_id, version) -> clause of the versions that judged the batch (table rule_catalog)
    catalog_clauses: dict = field(default_factory=dict)
    # the latest calibration (issue #16): its run row, overall and weekly figures; None: never calibrated
    calibration: dict | None = None
    calibration_warnings: list[dict] = field(default_factory=list)  # calibration.drift.agreement_warnings


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    """Rows of a query as dicts keyed by column name (what the templates index)."""
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _json_dict(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _headline_figures(con: duckdb.DuckDBPyConnection, batch_date: date, has_queue: bool) -> dict:
    """Cases, decisions, breaches and actions due soon of one batch date (for the headline block)."""
    decisions = dict(
        con.execute(
            "SELECT decision, count(*) FROM rulings WHERE batch_date = ? GROUP BY ALL", [batch_date]
        ).fetchall()
    )
    figures = {
        "cases": sum(decisions.values()),
        "decisions": decisions,
        "breaches": con.execute(
            "SELECT count(*) FROM sla_breaches WHERE batch_date = ?", [batch_date]
        ).fetchone()[0],
        "actions_due": None,
    }
    if has_queue:
        figures["actions_due"] = con.execute(
            "SELECT count(*) FROM action_queue WHERE batch_date = ? AND hours_left <= ?",
            [batch_date, DUE_SOON_HOURS],
        ).fetchone()[0]
    return figures


def load_calibration(con: duckdb.DuckDBPyConnection, tables: set[str], batch_date: date) -> dict | None:
    """The latest calibration's run row, overall agreement/kappa and weekly trend; None without one.

    Only calibrations of rules that judged published batches count (a policy version of a
    successful run or of this batch's rulings): a candidate tried by `aftersales replay` is
    calibrated beside them and must not pass for the nightly's figure. Figures keep
    `small_sample` (value and interval NULL below the calibration's minimum group size), so the
    page shows counts for them, never a bare percentage.
    """
    if not {"calibration_runs", "calibration_summary"} <= tables:
        return None
    runs = records(
        con,
        "SELECT calibration_id, policy_version, date_from, date_to, finished_at, decided_cases, calibrated_cases, "
        "agreeing_cases, min_cases FROM calibration_runs WHERE policy_version IN ("
        "SELECT policy_version FROM runs WHERE status = 'success' "
        "UNION SELECT policy_version FROM rulings WHERE batch_date = ?) "
        "ORDER BY finished_at DESC, calibration_id DESC LIMIT 1",
        [batch_date],
    )
    if not runs:
        return None
    figures = records(
        con,
        "SELECT dimension, group_value, metric, n, k, value, ci_low, ci_high, small_sample FROM calibration_summary "
        "WHERE calibration_id = ? AND dimension IN ('overall', 'week') AND metric IN ('agreement', 'kappa') "
        "ORDER BY dimension, group_value, metric",
        [runs[0]["calibration_id"]],
    )
    overall = {f["metric"]: f for f in figures if f["dimension"] == "overall"}
    weeks: dict[str, dict] = {}
    for f in figures:
        if f["dimension"] == "week":
            weeks.setdefault(f["group_value"], {"week": f["group_value"]})[f["metric"]] = f
    return runs[0] | {"overall": overall, "weeks": [weeks[w] for w in sorted(weeks)]}


def calibration_warnings(warehouse_db: Path, calibration: dict | None, rules_dir: Path | None) -> list[dict]:
    """Deciding rules below their pack's `calibration.agreement_warn_below` (the packs' line, not ours)."""
    if calibration is None:
        return []
    from aftersales.calibration.drift import agreement_warnings
    from aftersales.rulepack import RulePackError, load_rulebook

    try:
        book = load_rulebook(rules_dir)
    except RulePackError:
        return []
    return agreement_warnings(
        Path(warehouse_db), calibration["calibration_id"], book, calibration["min_cases"]
    )


def load_page_data(con: duckdb.DuckDBPyConnection, batch_date: date, run_id: str | None) -> PageData:
    """Query the batch's facts; a missing run row or an empty table gives empty sections."""
    run_filter = "run_id = ?" if run_id else "batch_date = ? AND status = 'success'"
    runs = records(
        con,
        f"SELECT * FROM runs WHERE {run_filter} ORDER BY finished_at DESC NULLS LAST LIMIT 1",
        [run_id or batch_date],
    )
    run = runs[0] if runs else None
    batch_dates = [
        r["batch_date"]
        for r in records(
            con,
            "SELECT DISTINCT batch_date FROM runs WHERE status = 'success' AND batch_date <= ? "
            "UNION SELECT ?::DATE ORDER BY 1 DESC LIMIT ?",
            [batch_date, batch_date, RECENT_BATCHES],
        )
    ][::-1]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    has_queue = "action_queue" in tables
    neighbours = records(
        con,
        "SELECT batch_date, arg_max(run_id, finished_at) AS run_id FROM runs WHERE status = 'success' "
        "AND batch_date <> ? GROUP BY batch_date ORDER BY batch_date",
        [batch_date],
    )
    before = [n for n in neighbours if n["batch_date"] < batch_date]
    after = [n for n in neighbours if n["batch_date"] > batch_date]
    previous = before[-1] if before else None
    headline = {"now": _headline_figures(con, batch_date, has_queue)}
    if previous:
        headline["before"] = _headline_figures(con, previous["batch_date"], has_queue)
    split = con.execute(
        "SELECT count(*) FILTER (WHERE line_number IS NOT NULL), count(*) FILTER (WHERE line_number IS NULL) "
        "FROM quarantine WHERE batch_date = ?",
        [batch_date],
    ).fetchone()
    actions: list[dict] = []
    actions_by_kind: list[dict] = []
    if has_queue:
        actions = records(
            con,
            "SELECT * FROM action_queue WHERE batch_date = ? ORDER BY due_at_utc, shop_id, action_kind, entity_id "
            "LIMIT ?",
            [batch_date, ACTION_ROWS],
        )
        actions_by_kind = records(
            con,
            "SELECT action_kind, count(*) AS actions, count(*) FILTER (WHERE hours_left <= ?) AS due_soon, "
            "min(hours_left) AS soonest FROM action_queue WHERE batch_date = ? GROUP BY ALL ORDER BY soonest",
            [DUE_SOON_HOURS, batch_date],
        )
    catalog: dict = {}
    if "rule_catalog" in tables:  # the clauses of exactly the rule versions that judged this batch
        for row in records(
            con,
            "SELECT pack, rule_id, version, clause_en, source_key FROM rule_catalog WHERE batch_date = ?",
            [batch_date],
        ):
            catalog[(row["pack"], row["rule_id"], row["version"])] = {
                "clause_en": row["clause_en"],
                "source": row["source_key"],
            }
    return PageData(
        calibration=load_calibration(con, tables, batch_date),
        catalog_clauses=catalog,
        previous=previous,
        following=after[0] if after else None,
        headline=headline,
        quarantine_split={"rows": split[0], "files": split[1]},
        actions=actions,
        actions_by_kind=actions_by_kind,
        has_action_queue=has_queue,
        batch_date=batch_date,
        run=run,
        attempts=records(
            con,
            "SELECT status, count(*) AS attempts FROM runs WHERE batch_date = ? GROUP BY status ORDER BY status",
            [batch_date],
        ),
        ledger=records(
            con,
            "SELECT status, count(*) AS files, sum(rows_read) AS rows_read, sum(rows_staged) AS rows_staged, "
            "sum(rows_quarantined) AS rows_quarantined FROM file_ledger WHERE batch_date = ? "
            "GROUP BY status ORDER BY status",
            [batch_date],
        ),
        quarantine_rows=con.execute(
            "SELECT count(*) FROM quarantine WHERE batch_date = ?", [batch_date]
        ).fetchone()[0],
        quarantine=records(
            con,
            "SELECT coalesce(file_kind, '(unrecognised)') AS file_kind, reason, count(*) AS rows, "
            "count(DISTINCT source_file) AS files, count(*) FILTER (WHERE line_number IS NULL) AS whole_files, "
            "min(source_file) AS example_file FROM quarantine WHERE batch_date = ? "
            "GROUP BY ALL ORDER BY rows DESC, file_kind, reason LIMIT 50",
            [batch_date],
        ),
        batch_dates=batch_dates,
        breaches=records(
            con,
            "SELECT batch_date, sla_id, count(*) AS breaches FROM sla_breaches "
            "WHERE batch_date BETWEEN ? AND ? GROUP BY ALL",
            [batch_dates[0], batch_date],
        ),
        decisions=records(
            con,
            "SELECT market, decision, count(*) AS cases FROM rulings WHERE batch_date = ? GROUP BY ALL ORDER BY ALL",
            [batch_date],
        ),
        scorecard=records(
            con,
            "SELECT * FROM v_seller_scorecard WHERE batch_date = ? ORDER BY market, shop_id",
            [batch_date],
        ),
        gaps=records(
            con,
            "SELECT * FROM v_evidence_gap_rates WHERE batch_date = ? "
            "ORDER BY gap_rate DESC NULLS LAST, cases_with_gap DESC, market, party, evidence_type",
            [batch_date],
        ),
        rules=records(
            con,
            "SELECT * FROM v_rule_hit_rates WHERE batch_date = ? ORDER BY cases DESC, hits DESC, rule_id LIMIT ?",
            [batch_date, TOP_ROWS],
        ),
        rule_pack_versions=_json_dict(run.get("rule_pack_versions")) if run else {},
        stage_timings=_json_dict(run.get("stage_timings")) if run else {},
    )
