"""How the nightly report page looks: charts, headline, calibration panel and glossary, as HTML.

Pure (no I/O but reading the rule packs for the glossary): `render_page` turns an already
loaded `PageData` into the page's text. All text goes through Jinja autoescaping (file names
and reasons come from seller exports).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from aftersales.analytics.views import DECISIONS, HEALTH_METRICS
from aftersales.report.charts import DECISION_COLOURS, SLA_COLOURS, bars, stacked_columns, stacked_rows
from aftersales.report.page_data import DUE_SOON_HOURS, TOP_ROWS, PageData

# What each seller-health metric measures (names only; targets, windows and sources come from rules/).
METRIC_NAMES = {
    "sfcr": "Seller-fault cancellation rate: orders cancelled for a seller reason, share of orders",
    "ldr": "Late dispatch rate: orders handed to the carrier after the dispatch SLA, share of orders",
    "chat_reply_rate": "Chat reply rate: customer-initiated chats answered within the reply SLA",
    "sfrr": "Seller-fault return/refund rate: returns and refunds for seller reasons, share of orders",
}


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


def template_environment() -> Environment:
    """The Jinja environment of the report templates (autoescaping, strict, with the number filters)."""
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
        template_environment()
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
