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
    return PageData(
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


def render_page(data: PageData) -> str:
    """The page's HTML for already-loaded data (pure: no I/O)."""
    run = data.run or {}
    duration = (
        (run["finished_at"] - run["started_at"]).total_seconds()
        if run.get("finished_at") and run.get("started_at")
        else None
    )
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
        )
    )


def write_report_page(warehouse_db: Path, batch_date: date, out_dir: Path, run_id: str | None = None) -> Path:
    """Write `aftersales-report-<batch_date>.html` into `out_dir` and return its path.

    `run_id` picks the run whose facts head the page; by default the batch's latest successful
    run. The file is written beside itself and renamed, so a reader never sees half a page.
    """
    con = open_warehouse(warehouse_db)
    try:
        data = load_page_data(con, batch_date, run_id)
    finally:
        con.close()
    html = render_page(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / f"aftersales-report-{batch_date:%Y-%m-%d}.html"
    tmp = page.with_name(f".{page.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, page)
    return page
