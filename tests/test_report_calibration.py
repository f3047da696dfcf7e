"""The report page's calibration panel (issue #16 item 4) on a really calibrated warehouse.

The warehouse is test_calibration's (a generated export scored on ten batch dates, platform
verdicts from the generator's hidden true policy with a planted deviation), calibrated for real;
every figure on the page is recomputed here from `calibration_cases`, not from the summary table.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import duckdb
import pytest
from test_calibration import EXPORT_DATE, FIRST, LAST, RULES, candidate_upholding_late_th_appeals
from test_calibration import warehouse as stored_warehouse  # noqa: F401 - the module fixture, reused
from test_report import Page

from aftersales.calibration.agreement import cohen_kappa, wilson_interval
from aftersales.calibration.drift import agreement_warnings
from aftersales.calibration.rejudge import calibrate
from aftersales.report.page import write_report_page
from aftersales.rulepack import load_rulebook
from aftersales.warehouse_schema import create_result_tables

MIN_CASES = 10  # the first decision weeks hold fewer cases: small samples on the page


@pytest.fixture(scope="module")
def calibrated(stored_warehouse, tmp_path_factory):  # noqa: F811
    """The shipped rules calibrated, then a candidate (as `aftersales replay` does) calibrated after it."""
    summary = calibrate(stored_warehouse, FIRST, LAST, RULES, min_cases=MIN_CASES, bins=10)
    candidate = candidate_upholding_late_th_appeals(tmp_path_factory.mktemp("candidate"))
    tried = calibrate(stored_warehouse, FIRST, LAST, candidate, min_cases=MIN_CASES, bins=10)
    assert tried.calibration_id != summary.calibration_id
    return stored_warehouse, summary


@pytest.fixture(scope="module")
def page_html(calibrated, tmp_path_factory) -> str:
    warehouse, _ = calibrated
    page = write_report_page(warehouse, EXPORT_DATE, tmp_path_factory.mktemp("reports"), rules_dir=RULES)
    return page.read_text(encoding="utf-8")


def _dd(html: str, element_id: str) -> str:
    found = re.search(rf'<dd id="{element_id}">(.*?)</dd>', html, re.S)
    assert found, element_id
    return html_lib.unescape(" ".join(found.group(1).split()))


def _cases(warehouse: Path, calibration_id: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT recommended_decision, platform_decision, agree, decision_local_date FROM calibration_cases "
            "WHERE calibration_id = ? AND calibratable",
            [calibration_id],
        ).fetchall()
    finally:
        con.close()


@pytest.mark.slow  # `calibrated`: batches scored from a generated export, then two calibrations
def test_panel_shows_the_latest_calibrations_agreement_and_kappa_with_intervals(calibrated, page_html):
    warehouse, summary = calibrated
    cases = _cases(warehouse, summary.calibration_id)
    n, k = len(cases), sum(1 for c in cases if c[2])
    assert n == summary.calibrated_cases >= MIN_CASES
    lo, hi = wilson_interval(k, n)
    assert _dd(page_html, "calibration-agreement") == f"{k / n:.1%} [{lo:.1%}, {hi:.1%}], n={n:,}"
    kappa = cohen_kappa([(c[0], c[1]) for c in cases])
    shown = _dd(page_html, "calibration-kappa")
    value, k_lo, k_hi = (
        float(x) for x in re.fullmatch(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\], n=[\d,]+", shown).groups()
    )
    assert value == pytest.approx(kappa, abs=0.005) and k_lo < value < k_hi
    assert (
        summary.calibration_id in page_html
        and f"{n:,} of {summary.decided_cases:,} decided cases" in page_html
    )
    assert summary.policy_version in page_html  # the shipped rules' calibration, not the later candidate's


@pytest.mark.slow
def test_weekly_trend_has_one_row_per_decision_week_and_small_weeks_show_counts_only(calibrated, page_html):
    warehouse, summary = calibrated
    weeks: dict[str, list[bool]] = {}
    for *_, agree, day in _cases(warehouse, summary.calibration_id):
        iso = day.isocalendar()
        weeks.setdefault(f"{iso.year}-W{iso.week:02d}", []).append(agree)
    rows = {r[0][1]: r for r in Page(page_html).rows["calibration"] if r}
    assert set(rows) == set(weeks)
    small = [w for w, hits in weeks.items() if len(hits) < MIN_CASES]
    rated = [w for w, hits in weeks.items() if len(hits) >= MIN_CASES]
    assert small and rated  # both kinds are on the page
    for week in small:
        hits = weeks[week]
        assert (
            rows[week][1][1] == f"n={len(hits)}: too few cases for a rate ({sum(hits)} of {len(hits)} agree)"
        )
        assert "%" not in rows[week][1][1] and "%" not in rows[week][2][1]
    for week in rated:
        hits = weeks[week]
        lo, hi = wilson_interval(sum(hits), len(hits))
        rate = sum(hits) / len(hits)
        assert rows[week][1][1] == f"{rate:.1%} [{lo:.1%}, {hi:.1%}], n={len(hits):,}"
    # the trend chart draws the rated weeks only
    chart = re.search(r'<svg[^>]*aria-label="Agreement with the platform per decision week[^"]*"', page_html)
    assert chart and all(f"{w}: " in page_html for w in rated)


@pytest.mark.slow
def test_rules_below_their_packs_line_are_warned(calibrated, page_html):
    """The shipped packs set calibration.agreement_warn_below; the planted appeal_window rule falls below."""
    warehouse, summary = calibrated
    expected = agreement_warnings(warehouse, summary.calibration_id, load_rulebook(RULES), MIN_CASES)
    assert any(w["rule"].endswith(".appeal_window") for w in expected)
    lines = [
        html_lib.unescape(" ".join(m.split()))
        for m in re.findall(r'<p class="status-warning calibration-warning">(.*?)</p>', page_html, re.S)
    ]
    assert len(lines) == len(expected)
    for w, line in zip(expected, lines, strict=True):
        assert line.startswith(
            f"Rule {w['rule']} ({w['pack_id']}) agrees with the platform on {w['k']:,} of {w['n']:,}"
        )
        assert f"below the pack's line of {w['threshold']:.0%}" in line


def test_a_warehouse_never_calibrated_says_so_in_one_line(tmp_path):
    db = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(db))
    create_result_tables(con)
    con.close()
    html = write_report_page(db, EXPORT_DATE, tmp_path / "reports", rules_dir=RULES).read_text(
        encoding="utf-8"
    )
    section = html[
        html.index('<section id="calibration">') : html.index("</section>", html.index('id="calibration"'))
    ]
    assert "No calibration yet: run <code>aftersales calibrate" in section
    assert "calibration-agreement" not in section and "<table" not in section
