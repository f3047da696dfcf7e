"""Nightly report page: content from the warehouse, escaping, and a real headless-browser render."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from test_views_sample import D2, D3, FAILED_RUN_ID, POLICY_VERSION, RUN_IDS, build_sample_warehouse

from aftersales.report import write_report_page
from aftersales.report.charts import bars

CHROMIUM = Path("/usr/bin/chromium")
HEADINGS = [
    "Run facts",
    "Action queue",
    "SLA breaches by type",
    "Decision mix",
    "Calibration",
    "Seller health",
    "Evidence gaps",
    "Most-fired rules",
    "Glossary of health metrics",
    "Quarantine",
]
NASTY_REASON = '<script>alert("x")</script> & "quoted"'
NASTY_FILE = "TH-9001/<img src=x onerror=alert(1)>.csv"


class Page(HTMLParser):
    """Headings, table rows per section (cells with their class), and every element seen."""

    def __init__(self, html: str):
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.rows: dict[str, list[list[tuple[str, str]]]] = {}
        self.elements: list[tuple[str, dict]] = []
        self._section = ""
        self._heading: str | None = None
        self._cell: list | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag == "section":
            self._section = attrs.get("id", "")
        elif tag in ("h1", "h2"):
            self._heading = ""
        elif tag == "tr":
            self.rows.setdefault(self._section, []).append([])
        elif tag == "td":
            self._cell = [attrs.get("class") or "", ""]

    def handle_endtag(self, tag):
        if tag in ("h1", "h2") and self._heading is not None:
            self.headings.append((tag, " ".join(self._heading.split())))
            self._heading = None
        elif tag == "td" and self._cell is not None:
            self.rows[self._section][-1].append((self._cell[0], " ".join(self._cell[1].split())))
            self._cell = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._cell is not None:
            self._cell[1] += data

    def row(self, section: str, first_cell: str) -> list[tuple[str, str]]:
        return next(r for r in self.rows[section] if r and r[0][1] == first_cell)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    db = build_sample_warehouse(tmp_path_factory.mktemp("report") / "wh.duckdb")
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO quarantine (batch_date, run_id, source_file, line_number, file_kind, reason) "
        "VALUES (?, ?, ?, 12, 'orders', ?)",
        [D3, RUN_IDS[D3], NASTY_FILE, NASTY_REASON],
    )
    con.close()
    return db


@pytest.fixture(scope="module")
def page(warehouse, tmp_path_factory) -> Path:
    return write_report_page(warehouse, D3, tmp_path_factory.mktemp("out") / "reports", run_id=RUN_IDS[D3])


def test_page_shows_the_batchs_run_facts_and_sections(page):
    assert page.name == "aftersales-report-2026-11-27.html"
    parsed = Page(page.read_text(encoding="utf-8"))
    assert parsed.headings[0] == ("h1", "Aftersales nightly report: 2026-11-27")
    assert [text for tag, text in parsed.headings if tag == "h2"] == HEADINGS
    html = page.read_text(encoding="utf-8")
    assert RUN_IDS[D3] in html and POLICY_VERSION in html
    assert "= 4 entries in table quarantine" in " ".join(html.split())  # 3 sample rows + the nasty one
    # status colours follow seller_health: US-7001's chat reply rate is in breach, its LDR in warning
    us = parsed.row("seller-health", "US-7001")
    assert us[2] == ("status-breach", "breach")
    assert us[5][0] == "n status-breach" and us[5][1].startswith("84.0% breach")
    assert us[4][0] == "n status-warning"
    assert parsed.row("seller-health", "TH-9001")[2] == ("status-ok", "ok")
    # three charts: breach trend, decision mix, evidence gaps
    charts = [a for tag, a in parsed.elements if tag == "svg"]
    assert [c["aria-label"].split(",")[0] for c in charts] == [
        "SLA breaches reported per batch",
        "Decision mix by market",
        "Share of cases missing each evidence item",
    ]


def test_page_is_self_contained_and_escapes_text_from_exports(page):
    html = page.read_text(encoding="utf-8")
    parsed = Page(html)
    assert not [tag for tag, _ in parsed.elements if tag in ("script", "img", "link", "iframe", "object")]
    assert not [a for _, a in parsed.elements if any(k.startswith("on") for k in a)]
    for _, attrs in parsed.elements:
        for key in ("src", "href"):
            assert key not in attrs, attrs
    csp = [
        a for tag, a in parsed.elements if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in csp[0]["content"]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quoted&#34;" in html
    quarantine = parsed.rows["quarantine"]
    assert ["orders", NASTY_REASON, "1", "1", "0", NASTY_FILE] in [[c[1] for c in r] for r in quarantine]


def test_page_for_a_failed_attempt_and_for_a_batch_without_data(warehouse, tmp_path):
    failed = write_report_page(warehouse, D2, tmp_path, run_id=FAILED_RUN_ID).read_text(encoding="utf-8")
    assert FAILED_RUN_ID in failed and "status-failed" in failed and "Permission denied" in failed
    assert "1 failed, 1 success" in " ".join(failed.split())
    empty = Page(write_report_page(warehouse, date(2026, 12, 5), tmp_path).read_text(encoding="utf-8"))
    assert [text for tag, text in empty.headings if tag == "h2"] == HEADINGS
    # the breach trend still shows the batches before it; the batch's own sections are empty
    charts = [a["aria-label"] for tag, a in empty.elements if tag == "svg"]
    assert charts == ["SLA breaches reported per batch, by type, 2026-11-25 to 2026-12-05"]
    assert "No rulings in this batch." in " ".join(
        write_report_page(warehouse, date(2026, 12, 5), tmp_path).read_text().split()
    )


def test_chart_labels_are_escaped():
    svg = bars(['<b>US & "UK"</b>'], [0.5], label="a<b>", value_text=lambda v: f"{v:.0%}", max_value=1.0)
    assert "<b>" not in svg
    assert "&lt;b&gt;US &amp; &quot;UK&quot;&lt;/b&gt;" in svg and 'aria-label="a&lt;b&gt;"' in svg


def require_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: run .ci/ensure-chromium before the tests")
    pytest.skip(f"{CHROMIUM} not installed (install it with .ci/ensure-chromium to run the browser test)")


def render_in_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after load, and every console message the page produced."""
    binary = require_chromium()
    result = subprocess.run(
        [
            str(binary),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Chromium logs every console message (console.error included) at INFO as "CONSOLE"; the page
    # runs no script, so any console message is an error: a blocked load, a CSP violation...
    console = [line for line in result.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
    return result.stdout, console


@pytest.mark.slow
def test_page_renders_in_headless_chromium_without_console_errors(page, tmp_path):
    dom, console = render_in_chromium(page, tmp_path / "profile")
    assert console == []
    parsed = Page(dom)
    assert [text for tag, text in parsed.headings if tag == "h2"] == HEADINGS
    assert len([tag for tag, _ in parsed.elements if tag == "svg"]) == 3
    assert not [tag for tag, _ in parsed.elements if tag == "script"]


@pytest.mark.slow
def test_browser_check_catches_an_external_reference(page, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(
        page.read_text(encoding="utf-8").replace(
            "</body>", '<img src="https://cdn.example.invalid/logo.png" alt=""></body>'
        ),
        encoding="utf-8",
    )
    _, console = render_in_chromium(broken, tmp_path / "profile")
    assert any("cdn.example.invalid" in line and "Content Security Policy" in line for line in console)
