"""The morning report page: headline first with changes, one quarantine figure, batch links,
latest/index pages, the health glossary and rule clauses from rules/, the action-queue section,
and no horizontal overflow at 1400 px and at phone width in headless Chromium.

A tiny warehouse is written by hand (two batch dates) so every figure below is computed by hand:

    batch   cases  buyer_favour  need_evidence  seller_favour  breaches  actions (due <= 24 h)
    D1        2        1              1              0             3        2 (1)
    D2        3        2              0              1             1        3 (2)
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape
from test_report import Page, require_chromium

from aftersales.quality.validation_page import report_path
from aftersales.report.page import INDEX_PAGE, LATEST_PAGE, page_name, write_report_page
from aftersales.rulepack import DEFAULT_RULES_DIR, load_rulebook
from aftersales.warehouse_schema import create_result_tables

D1, D2 = date(2026, 11, 26), date(2026, 11, 27)
RUNS = {D1: "20261126-m1", D2: "20261127-m2"}
# A real, long policy version label: it must wrap on a phone instead of widening the page.
POLICY = (
    "sea_cross_border@2026.11.0+sea_local@2026.11.0+uk_local@2026.11.0+us_cross_border@2026.11.0#5af1698a47"
)
RULE = ("us_local", "us.auto_approve_review", 1)


def _rulings(day: date, decisions: list[str]) -> list[tuple]:
    return [
        (day, RUNS[day], f"{day:%d}-C{i}", "return_refund", "US1", "US", d, "seller", "refund_only", POLICY)
        for i, d in enumerate(decisions)
    ]


def _actions(day: date, hours: list[float]) -> list[tuple]:
    end = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)  # 24:00 PST of the day before... as UTC
    return [
        (day, RUNS[day], "US1", f"O{i}", "dispatch", f"Ship order O{i}.", f"订单 O{i} 发货。",
         f"due {h} h after the batch end America/Los_Angeles", end, h, "us_local.sla.dispatch", 1, "US-FUL", "cite")
        for i, h in enumerate(hours)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("morning") / "wh.duckdb"
    con = duckdb.connect(str(db))
    try:
        create_result_tables(con)
        for day in (D1, D2):
            con.execute(
                "INSERT INTO runs (run_id, batch_date, started_at, finished_at, status, policy_version, files_read, "
                "rows_read, rows_quarantined) VALUES (?, ?, ?, ?, 'success', ?, 5, 100, ?)",
                [
                    RUNS[day],
                    day,
                    datetime(2026, 12, 1, tzinfo=UTC),
                    datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
                    POLICY,
                    3,
                ],
            )
        rulings = _rulings(D1, ["buyer_favour", "need_evidence"])
        rulings += _rulings(D2, ["buyer_favour", "buyer_favour", "seller_favour"])
        con.executemany(
            "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, liable_party, "
            "remedy, policy_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rulings,
        )
        pack, rule_id, version = RULE
        con.executemany(
            "INSERT INTO rule_hits (batch_date, run_id, case_id, rule_id, rule_version, effect, points, pack_id) "
            "VALUES (?, ?, ?, ?, ?, 'decision=buyer_favour', 0, ?)",
            [(r[0], r[1], r[2], rule_id, version, pack) for r in rulings if r[6] == "buyer_favour"],
        )
        breaches = [(D1, "B1"), (D1, "B2"), (D1, "B3"), (D2, "B4")]
        con.executemany(
            "INSERT INTO sla_breaches (batch_date, run_id, breach_id, sla_id, shop_id, entity_id, started_at, due_at, "
            "overdue_hours, rule_id) VALUES (?, ?, ?, 'dispatch', 'US1', 'O9', ?, ?, 5, 'us_local.sla.dispatch')",
            [
                (d, RUNS[d], b, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
                for d, b in breaches
            ],
        )
        con.executemany(
            "INSERT INTO action_queue (batch_date, run_id, shop_id, entity_id, action_kind, action_en, action_zh, "
            "due_at_local, due_at_utc, hours_left, rule_id, rule_version, source, source_citation) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _actions(D1, [5.0, 30.0]) + _actions(D2, [2.0, 24.0, 47.5]),
        )
        # D2: three rejected rows and one whole file rejected
        con.executemany(
            "INSERT INTO quarantine (batch_date, run_id, source_file, line_number, file_kind, reason) "
            "VALUES (?, ?, ?, ?, 'orders', 'bad row')",
            [(D2, RUNS[D2], "US1/a.csv", n) for n in (3, 4, 5)] + [(D2, RUNS[D2], "US1/b.csv", None)],
        )
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def reports(warehouse, tmp_path_factory) -> Path:
    """Pages written as the pipeline writes them: <reports>/<run_id>/, D1 first, then D2."""
    root = tmp_path_factory.mktemp("reports") / "reports"
    for day in (D1, D2):
        run_dir = root / RUNS[day]
        run_dir.mkdir(parents=True)
        report_path(run_dir, str(day), RUNS[day]).write_text("<html>validation</html>")
        write_report_page(warehouse, day, run_dir, run_id=RUNS[day])
    return root


def _text(path: Path) -> str:
    return " ".join(path.read_text(encoding="utf-8").split())


def test_headline_comes_first_with_changes_against_the_previous_batch(reports):
    html = _text(reports / RUNS[D2] / page_name(D2))
    parsed = Page(html)
    assert parsed.headings[0] == ("h1", f"Aftersales nightly report: {D2}")
    assert html.index('id="headline"') < html.index("<section", html.index('id="headline"') + 1)
    assert f"changes are against batch {D1}" in html
    figures = {
        "Cases judged": ("3", "+1"),
        "buyer_favour": ("2", "+1"),
        "need_evidence": ("0", "-1"),
        "seller_favour": ("1", "+1"),
        "SLA breaches": ("1", "-2"),
        "Actions due within 24 h": ("2", "+1"),  # D2: 2.0 h and 24.0 h; D1: 5.0 h
    }
    for label, (value, change) in figures.items():
        assert (
            f'<span class="k">{label}</span><br><span class="v">{value}</span> <span class="d">{change}</span>'
            in html
        )


def test_one_quarantine_figure_says_what_it_counts(reports):
    html = _text(reports / RUNS[D2] / page_name(D2))
    assert html.count('id="quarantine-figure"') == 1
    assert (
        "3 rows rejected from readable files + 1 whole files rejected = 4 entries in table quarantine" in html
    )
    assert "Rows quarantined" not in html and "Quarantined rows in this batch" not in html


def test_pages_link_validation_neighbours_latest_and_index(reports):
    d1 = Page((reports / RUNS[D1] / page_name(D1)).read_text(encoding="utf-8"))
    d2 = Page((reports / RUNS[D2] / page_name(D2)).read_text(encoding="utf-8"))
    hrefs = lambda p: [a["href"] for tag, a in p.elements if tag == "a"]  # noqa: E731
    validation = report_path(Path("."), str(D2), RUNS[D2]).name
    assert hrefs(d2) == [f"../{RUNS[D1]}/{page_name(D1)}", validation, "../latest.html", "../index.html"]
    # D1's page was rewritten when D2 was published: it now links forward
    assert f"../{RUNS[D2]}/{page_name(D2)}" in hrefs(d1)
    latest = Page((reports / LATEST_PAGE).read_text(encoding="utf-8"))
    assert latest.headings[0] == ("h1", f"Aftersales nightly report: {D2}")
    assert hrefs(latest) == [f"{RUNS[D1]}/{page_name(D1)}", f"{RUNS[D2]}/{validation}", "index.html"]
    index = Page((reports / INDEX_PAGE).read_text(encoding="utf-8"))
    assert hrefs(index) == ["latest.html", f"{RUNS[D2]}/{page_name(D2)}", f"{RUNS[D1]}/{page_name(D1)}"]
    for href in hrefs(latest):  # every link resolves to a file
        assert (reports / href).is_file(), href


def test_glossary_and_rule_clauses_come_from_the_rule_packs(reports):
    html = _text(reports / RUNS[D2] / page_name(D2))
    book = load_rulebook(DEFAULT_RULES_DIR)
    for metric in ("sfcr", "ldr", "sfrr", "chat_reply_rate"):
        assert f'id="metric-{metric}"' in html
        rules = [r for r in book.all_rules("health.yaml") if r.body["metric"] == metric and r.in_force(D2)]
        assert rules
        for r in rules:
            target = r.body["target"]
            assert (
                f"<td>{target['op'].replace('<', '&lt;').replace('>', '&gt;')} {target['value'] * 100:g}%</td>"
                in html
            )
            assert f"{r.id} v{r.version}" in html
            citation = book.sources[r.source]["citation"]
            assert str(escape(f"{r.source} ({r.firmness}): {citation}")) in html
    pack, rule_id, version = RULE
    clause = next(r.clause_en for r in book.all_rules() if (r.pack, r.id, r.version) == RULE)
    row = Page(html).row("rule-hits", rule_id)
    assert row[2][1].startswith(clause.replace("  ", " ")[:60])


def test_action_queue_section_lists_the_soonest_actions(reports):
    parsed = Page((reports / RUNS[D2] / page_name(D2)).read_text(encoding="utf-8"))
    rows = parsed.rows["action-queue"]
    kinds = [[c[1] for c in r] for r in rows if r and r[0][1] == "dispatch"]
    assert kinds == [["dispatch", "3", "2", "2.0"]]
    listed = [r[0][1] for r in rows if r and r[0][1].startswith("due ")]
    assert listed == ["due 2.0 h after the batch end America/Los_Angeles", "due 24.0 h after the batch end "
                      "America/Los_Angeles", "due 47.5 h after the batch end America/Los_Angeles"]  # fmt: skip


# -- headless Chromium through the DevTools protocol: measure, then screenshot ---------------------


def _devtools(profile: Path, width: int):
    binary = require_chromium()
    proc = subprocess.Popen(
        [str(binary), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", f"--window-size={width},900", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not (port_file.is_file() and port_file.read_text().strip()):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("headless Chromium did not open its DevTools port")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=30).read())
    return proc, next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


def measure_and_screenshot(page: Path, width: int, profile: Path, shot: Path) -> dict:
    """Load the page at `width` CSS px, return its layout facts and save a screenshot."""
    from websockets.sync.client import connect

    proc, ws_url = _devtools(profile, width)
    try:
        with connect(ws_url, max_size=None, open_timeout=30) as ws:
            counter = iter(range(1, 1_000_000))

            def call(method: str, **params):
                my = next(counter)
                ws.send(json.dumps({"id": my, "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv(timeout=60))
                    if msg.get("id") == my:
                        assert "error" not in msg, msg
                        return msg["result"]

            call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=900,
                deviceScaleFactor=1,
                mobile=width < 600,
            )
            call("Page.navigate", url=page.resolve().as_uri())
            for _ in range(300):
                state = call("Runtime.evaluate", expression="document.readyState", returnByValue=True)
                if state["result"]["value"] == "complete":
                    break
                time.sleep(0.1)
            facts = call(
                "Runtime.evaluate",
                returnByValue=True,
                expression="JSON.stringify({scrollWidth: document.scrollingElement.scrollWidth, "
                "innerWidth: innerWidth, first: document.body.firstElementChild.id, "
                "firstHeading: document.querySelector('h1, h2').textContent})",
            )
            shot.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
            return json.loads(facts["result"]["value"])
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 390])
def test_no_horizontal_overflow_and_headline_first_in_chromium(reports, tmp_path, width):
    shots = Path(os.environ.get("REPORT_SCREENSHOTS", tmp_path))
    for page in (reports / RUNS[D2] / page_name(D2), reports / LATEST_PAGE, reports / INDEX_PAGE):
        shot = shots / f"{page.stem}-{width}.png"
        facts = measure_and_screenshot(page, width, tmp_path / f"profile-{page.stem}", shot)
        assert facts["innerWidth"] == width
        assert facts["scrollWidth"] <= facts["innerWidth"], (page.name, facts)
        if page.name != INDEX_PAGE:
            assert (
                facts["first"] == "headline" and facts["firstHeading"] == f"Aftersales nightly report: {D2}"
            )
        png = shot.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == width
