"""The nightly report page: one self-contained HTML file per published batch.

Written after publish from the warehouse alone (read-only), so it shows exactly what analysts
will query. The page opens without a network: CSS is inline, charts are inline SVG drawn by
`aftersales.report.charts`, there is no script, and a Content-Security-Policy forbids loading
anything, so a stray external reference fails loudly in a browser instead of leaking a request.
All text goes through Jinja autoescaping (file names and reasons come from seller exports).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined

from aftersales.analytics import open_warehouse
from aftersales.analytics.views import DECISIONS, HEALTH_METRICS
from aftersales.report.charts import DECISION_COLOURS, SLA_COLOURS, bars, stacked_columns, stacked_rows

RECENT_BATCHES = 14  # batches shown in the breach trend
TOP_ROWS = 12  # rows shown in the gap and rule charts
ACTION_ROWS = 40  # soonest actions listed in the action-queue section
DUE_SOON_HOURS = 24  # the headline's "actions due in 24 h" (issue #15), counted from the batch end
LATEST_PAGE = "latest.html"
INDEX_PAGE = "index.html"
# What each seller-health metric measures (names only; targets, windows and sources come from rules/).
METRIC_NAMES = {
    "sfcr": "Seller-fault cancellation rate: orders cancelled for a seller reason, share of orders",
    "ldr": "Late dispatch rate: orders handed to the carrier after the dispatch SLA, share of orders",
    "chat_reply_rate": "Chat reply rate: customer-initiated chats answered within the reply SLA",
    "sfrr": "Seller-fault return/refund rate: returns and refunds for seller reasons, share of orders",
}


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


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
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


CALIBRATION_METRICS = ("agreement", "kappa")


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
    runs = _records(
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
    figures = _records(
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
    runs = _records(
        con,
        f"SELECT * FROM runs WHERE {run_filter} ORDER BY finished_at DESC NULLS LAST LIMIT 1",
        [run_id or batch_date],
    )
    run = runs[0] if runs else None
    batch_dates = [
        r["batch_date"]
        for r in _records(
            con,
            "SELECT DISTINCT batch_date FROM runs WHERE status = 'success' AND batch_date <= ? "
            "UNION SELECT ?::DATE ORDER BY 1 DESC LIMIT ?",
            [batch_date, batch_date, RECENT_BATCHES],
        )
    ][::-1]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    has_queue = "action_queue" in tables
    neighbours = _records(
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
        actions = _records(
            con,
            "SELECT * FROM action_queue WHERE batch_date = ? ORDER BY due_at_utc, shop_id, action_kind, entity_id "
            "LIMIT ?",
            [batch_date, ACTION_ROWS],
        )
        actions_by_kind = _records(
            con,
            "SELECT action_kind, count(*) AS actions, count(*) FILTER (WHERE hours_left <= ?) AS due_soon, "
            "min(hours_left) AS soonest FROM action_queue WHERE batch_date = ? GROUP BY ALL ORDER BY soonest",
            [DUE_SOON_HOURS, batch_date],
        )
    catalog: dict = {}
    if "rule_catalog" in tables:  # the clauses of exactly the rule versions that judged this batch
        for row in _records(
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
        attempts=_records(
            con,
            "SELECT status, count(*) AS attempts FROM runs WHERE batch_date = ? GROUP BY status ORDER BY status",
            [batch_date],
        ),
        ledger=_records(
            con,
            "SELECT status, count(*) AS files, sum(rows_read) AS rows_read, sum(rows_staged) AS rows_staged, "
            "sum(rows_quarantined) AS rows_quarantined FROM file_ledger WHERE batch_date = ? "
            "GROUP BY status ORDER BY status",
            [batch_date],
        ),
        quarantine_rows=con.execute(
            "SELECT count(*) FROM quarantine WHERE batch_date = ?", [batch_date]
        ).fetchone()[0],
        quarantine=_records(
            con,
            "SELECT coalesce(file_kind, '(unrecognised)') AS file_kind, reason, count(*) AS rows, "
            "count(DISTINCT source_file) AS files, count(*) FILTER (WHERE line_number IS NULL) AS whole_files, "
            "min(source_file) AS example_file FROM quarantine WHERE batch_date = ? "
            "GROUP BY ALL ORDER BY rows DESC, file_kind, reason LIMIT 50",
            [batch_date],
        ),
        batch_dates=batch_dates,
        breaches=_records(
            con,
            "SELECT batch_date, sla_id, count(*) AS breaches FROM sla_breaches "
            "WHERE batch_date BETWEEN ? AND ? GROUP BY ALL",
            [batch_dates[0], batch_date],
        ),
        decisions=_records(
            con,
            "SELECT market, decision, count(*) AS cases FROM rulings WHERE batch_date = ? GROUP BY ALL ORDER BY ALL",
            [batch_date],
        ),
        scorecard=_records(
            con,
            "SELECT * FROM v_seller_scorecard WHERE batch_date = ? ORDER BY market, shop_id",
            [batch_date],
        ),
        gaps=_records(
            con,
            "SELECT * FROM v_evidence_gap_rates WHERE batch_date = ? "
            "ORDER BY gap_rate DESC NULLS LAST, cases_with_gap DESC, market, party, evidence_type",
            [batch_date],
        ),
        rules=_records(
            con,
            "SELECT * FROM v_rule_hit_rates WHERE batch_date = ? ORDER BY cases DESC, hits DESC, rule_id LIMIT ?",
            [batch_date, TOP_ROWS],
        ),
        rule_pack_versions=_json_dict(run.get("rule_pack_versions")) if run else {},
        stage_timings=_json_dict(run.get("stage_timings")) if run else {},
    )


def _breach_chart(data: PageData):
    if not data.breaches:
        return None
    counts = {(r["batch_date"], r["sla_id"]): r["breaches"] for r in data.breaches}
    present = {r["sla_id"] for r in data.breaches}
    sla_ids = [s for s in SLA_COLOURS if s in present] + sorted(present - set(SLA_COLOURS))
    series = {s: [counts.get((d, s), 0) for d in data.batch_dates] for s in sla_ids}
    return stacked_columns(
        [f"{d:%m-%d}" for d in data.batch_dates],
        series,
        SLA_COLOURS,
        label=f"SLA breaches reported per batch, by type, {data.batch_dates[0]} to {data.batch_date}",
    )


def _decision_chart(data: PageData):
    if not data.decisions:
        return None
    markets = sorted({r["market"] for r in data.decisions})
    present = {r["decision"] for r in data.decisions}
    decisions = [d for d in DECISIONS if d in present] + sorted(present - set(DECISIONS))
    counts = {(r["market"], r["decision"]): r["cases"] for r in data.decisions}
    return stacked_rows(
        markets,
        {d: [counts.get((m, d), 0) for m in markets] for d in decisions},
        DECISION_COLOURS,
        label=f"Decision mix by market, batch {data.batch_date}",
    )


def _gap_chart(data: PageData):
    rated = [g for g in data.gaps if g["gap_rate"] is not None][:TOP_ROWS]
    if not rated:
        return None
    return bars(
        [f"{g['market']} · {g['party']} · {g['evidence_type']}" for g in rated],
        [g["gap_rate"] for g in rated],
        label=f"Share of cases missing each evidence item, batch {data.batch_date}",
        value_text=lambda v: f"{v:.0%}",
        max_value=1.0,
        colour="#d69e2e",
    )


def _figure(f: dict | None, rate) -> str:
    """One calibration figure with its interval and n; counts only for a small sample."""
    if not f:
        return "–"
    if f["small_sample"] or f["value"] is None:
        agree = f" ({f['k']:,} of {f['n']:,} agree)" if f.get("k") is not None else ""
        return f"n={f['n']:,}: too few cases for a rate{agree}"
    interval = f" [{rate(f['ci_low'])}, {rate(f['ci_high'])}]" if f["ci_low"] is not None else ""
    return f"{rate(f['value'])}{interval}, n={f['n']:,}"


def _calibration_view(data: PageData) -> dict | None:
    """The calibration panel's lines: overall figures, weekly rows and chart, warnings."""
    cal = data.calibration
    if cal is None:
        return None
    agreement, kappa = (lambda v: f"{v:.1%}"), (lambda v: f"{v:.2f}")
    weeks = [
        {
            "week": w["week"],
            "agreement": _figure(w.get("agreement"), agreement),
            "kappa": _figure(w.get("kappa"), kappa),
        }
        for w in cal["weeks"]
    ]
    rated = [w for w in cal["weeks"] if w.get("agreement") and not w["agreement"]["small_sample"]]
    chart = (
        bars(
            [w["week"] for w in rated],
            [w["agreement"]["value"] for w in rated],
            label=f"Agreement with the platform per decision week, calibration {cal['calibration_id']}",
            value_text=lambda v: f"{v:.0%}",
            max_value=1.0,
            colour="#2f855a",
        )
        if rated
        else None
    )
    warnings = [
        f"Rule {w['rule']} ({w['pack_id']}) agrees with the platform on {w['k']:,} of {w['n']:,} cases, "
        f"{w['agreement']:.1%} [{w['ci_low']:.1%}, {w['ci_high']:.1%}], below the pack's line of "
        f"{w['threshold']:.0%}" + (" (the whole interval is below it)" if w["clearly_below"] else "")
        for w in data.calibration_warnings
    ]
    return {
        "run": cal,
        "agreement": _figure(cal["overall"].get("agreement"), agreement),
        "kappa": _figure(cal["overall"].get("kappa"), kappa),
        "weeks": weeks,
        "chart": chart,
        "warnings": warnings,
    }


def _decision_table(data: PageData) -> list[dict]:
    totals: dict[str, int] = {}
    for r in data.decisions:
        totals[r["decision"]] = totals.get(r["decision"], 0) + r["cases"]
    cases = sum(totals.values())
    order = [d for d in DECISIONS if d in totals] + sorted(set(totals) - set(DECISIONS))
    return [{"decision": d, "cases": totals[d], "share": totals[d] / cases} for d in order]


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _when(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return str(value)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("aftersales.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=_pct, num=_num, when=_when)
    return env


def _percent(value) -> str:
    return "–" if value is None else f"{value * 100:g}%"


def rule_reference(rules_dir: Path | None, batch_date: date) -> tuple[list[dict], dict]:
    """The health-metric glossary and each rule version's clause, read from the rule packs.

    Targets, windows and sources are policy: they come from rules/<pack>/health.yaml and
    rules/sources.yaml, never from this module. Returns ([], {}) when the packs cannot be read.
    """
    from aftersales.rulepack import RulePackError, load_rulebook

    try:
        book = load_rulebook(rules_dir)
    except RulePackError:
        return [], {}
    clauses = {
        (r.pack, r.id, r.version): {"clause_en": r.clause_en, "source": r.source, "firmness": r.firmness}
        for r in book.all_rules()
    }
    glossary = []
    for metric in HEALTH_METRICS:
        rows = []
        for r in book.all_rules("health.yaml"):
            if r.body.get("metric") != metric or not r.in_force(batch_date):
                continue
            target, breach = r.body.get("target") or {}, r.body.get("breach") or {}
            source = book.sources.get(r.source) or {}
            rows.append(
                {
                    "rule_id": r.id,
                    "version": r.version,
                    "markets": ", ".join(r.markets),
                    "pack": r.pack,
                    "target": f"{target.get('op', '')} {_percent(target.get('value'))}".strip(),
                    "breach": f"{breach['op']} {_percent(breach.get('value'))}" if breach.get("op") else None,
                    "window_days": r.body.get("window_days"),
                    "source": r.source,
                    "citation": source.get("citation") or "",
                    "firmness": r.firmness,
                }
            )
        glossary.append({"metric": metric, "name": METRIC_NAMES.get(metric, metric), "rules": rows})
    return glossary, clauses


def _change(now, before) -> str | None:
    if before is None or now is None:
        return None
    delta = now - before
    return f"{delta:+,}" if delta else "±0"


def _headline(data: PageData) -> list[dict]:
    """The headline figures, each with its change against the previous batch date."""
    now, before = data.headline.get("now") or {}, data.headline.get("before")
    items = [
        {
            "label": "Cases judged",
            "value": now.get("cases"),
            "change": _change(now.get("cases"), (before or {}).get("cases")),
        },
    ]
    for d in DECISIONS:
        n = (now.get("decisions") or {}).get(d, 0)
        b = (before or {}).get("decisions", {}).get(d, 0) if before else None
        items.append({"label": d, "value": n, "change": _change(n, b), "decision": True})
    items.append(
        {
            "label": "SLA breaches",
            "value": now.get("breaches"),
            "change": _change(now.get("breaches"), (before or {}).get("breaches")),
        }
    )
    items.append(
        {
            "label": f"Actions due within {DUE_SOON_HOURS} h",
            "value": now.get("actions_due"),
            "change": _change(now.get("actions_due"), (before or {}).get("actions_due")),
        }
    )
    return items


def render_page(
    data: PageData,
    links: dict | None = None,
    glossary: list[dict] | None = None,
    clauses: dict | None = None,
) -> str:
    """The page's HTML for already-loaded data (pure: no I/O).

    `links` holds relative hrefs (validation, previous, next, latest, index) or None each;
    `glossary` and `clauses` come from `rule_reference`.
    """
    run = data.run or {}
    duration = (
        (run["finished_at"] - run["started_at"]).total_seconds()
        if run.get("finished_at") and run.get("started_at")
        else None
    )
    clauses = (clauses or {}) | data.catalog_clauses
    rules = [
        r
        | (
            clauses.get((r.get("pack_id"), r["rule_id"], r["rule_version"]))
            or {"clause_en": None, "source": None}
        )
        for r in data.rules
    ]
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            data=data,
            run=run,
            duration=duration,
            metrics=HEALTH_METRICS,
            decisions=DECISIONS,
            decision_table=_decision_table(data),
            breach_chart=_breach_chart(data),
            decision_chart=_decision_chart(data),
            gap_chart=_gap_chart(data),
            recent=len(data.batch_dates),
            links=dict.fromkeys(("validation", "previous", "next", "latest", "index")) | (links or {}),
            glossary=glossary or [],
            rules=rules,
            headline=_headline(data),
            previous_date=(data.previous or {}).get("batch_date"),
            due_soon_hours=DUE_SOON_HOURS,
            calibration=_calibration_view(data),
        )
    )


def page_name(batch_date: date) -> str:
    return f"aftersales-report-{batch_date:%Y-%m-%d}.html"


def _write_atomically(path: Path, html: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)


def _href(from_dir: Path, target: Path) -> str:
    return Path(os.path.relpath(target, from_dir)).as_posix()


def _page_links(data: PageData, page_dir: Path, run_dir: Path, index_dir: Path | None) -> dict:
    """Relative links from a page in `page_dir` to the batch's validation report and its neighbours."""
    from aftersales.quality.validation_page import report_path

    links: dict = {}
    run_id = (data.run or {}).get("run_id")
    if run_id:
        validation = report_path(run_dir, str(data.batch_date), run_id)
        links["validation"] = _href(page_dir, validation) if validation.is_file() else None
    if index_dir is not None:
        for key, other in (("previous", data.previous), ("next", data.following)):
            target = index_dir / other["run_id"] / page_name(other["batch_date"]) if other else None
            links[key] = _href(page_dir, target) if target is not None and target.is_file() else None
        links["index"] = _href(page_dir, index_dir / INDEX_PAGE)
        links["latest"] = _href(page_dir, index_dir / LATEST_PAGE)
    return links


def _write_index(con: duckdb.DuckDBPyConnection, index_dir: Path) -> Path:
    """reports/index.html: every published batch date, newest first, with its latest run's page."""
    batches = _records(
        con,
        "SELECT r.batch_date, arg_max(r.run_id, r.finished_at) AS run_id, max(r.finished_at) AS finished_at, "
        "count(*) AS runs FROM runs r WHERE r.status = 'success' GROUP BY r.batch_date ORDER BY r.batch_date DESC",
        [],
    )
    counts = dict(con.execute("SELECT batch_date, count(*) FROM rulings GROUP BY ALL").fetchall())
    breaches = dict(con.execute("SELECT batch_date, count(*) FROM sla_breaches GROUP BY ALL").fetchall())
    for b in batches:
        page = index_dir / b["run_id"] / page_name(b["batch_date"])
        b["href"] = _href(index_dir, page) if page.is_file() else None
        b["cases"] = counts.get(b["batch_date"], 0)
        b["breaches"] = breaches.get(b["batch_date"], 0)
    html = _environment().get_template("index.html.j2").render(batches=batches, latest=LATEST_PAGE)
    path = index_dir / INDEX_PAGE
    _write_atomically(path, html)
    return path


def write_report_page(
    warehouse_db: Path,
    batch_date: date,
    out_dir: Path,
    run_id: str | None = None,
    rules_dir: Path | None = None,
    index_dir: Path | None = None,
    _refresh_neighbours: bool = True,
) -> Path:
    """Write `aftersales-report-<batch_date>.html` into `out_dir` and return its path.

    `run_id` picks the run whose facts head the page; by default the batch's latest successful
    run. The file is written beside itself and renamed, so a reader never sees half a page.

    `index_dir` is the reports folder holding one folder per run (the pipeline writes pages to
    `<report_dir>/<run_id>/`; when `out_dir` is named after the page's run its parent is taken).
    There the page links its previous / next batch, `latest.html` is refreshed when this is the
    newest batch date, `index.html` lists every batch, and the previous batch's page is rewritten
    so that it links forward to this one.
    """
    con = open_warehouse(warehouse_db)
    try:
        data = load_page_data(con, batch_date, run_id)
    finally:
        con.close()
    data.calibration_warnings = calibration_warnings(warehouse_db, data.calibration, rules_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page_run = (data.run or {}).get("run_id")
    if index_dir is None and page_run and out_dir.name == page_run:
        index_dir = out_dir.parent
    index_dir = Path(index_dir) if index_dir is not None else None
    glossary, clauses = rule_reference(rules_dir, batch_date)
    page = out_dir / page_name(batch_date)
    _write_atomically(
        page, render_page(data, _page_links(data, out_dir, out_dir, index_dir), glossary, clauses)
    )
    if index_dir is None:
        return page
    newest = data.following is None and (data.run or {}).get("status") == "success"
    if newest:
        latest_links = _page_links(data, index_dir, out_dir, index_dir)
        latest_links["latest"] = None
        _write_atomically(index_dir / LATEST_PAGE, render_page(data, latest_links, glossary, clauses))
    if _refresh_neighbours:
        for other in (data.previous, data.following):
            other_dir = index_dir / other["run_id"] if other else None
            if other_dir is not None and (other_dir / page_name(other["batch_date"])).is_file():
                write_report_page(
                    warehouse_db, other["batch_date"], other_dir, other["run_id"], rules_dir, index_dir, False
                )
        con = open_warehouse(warehouse_db)
        try:
            _write_index(con, index_dir)
        finally:
            con.close()
    return page
