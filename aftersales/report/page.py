"""The nightly report page: one self-contained HTML file per published batch.

Written after publish from the warehouse alone (read-only), so it shows exactly what analysts
will query. The page opens without a network: CSS is inline, charts are inline SVG drawn by
`aftersales.report.charts`, there is no script, and a Content-Security-Policy forbids loading
anything, so a stray external reference fails loudly in a browser instead of leaking a request.
All text goes through Jinja autoescaping (file names and reasons come from seller exports).

This module writes the files and links them (the page, `latest.html`, `index.html`); what a page
shows is fetched by `aftersales.report.page_data` and drawn by `aftersales.report.page_render`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb

from aftersales.analytics import open_warehouse
from aftersales.report.page_data import PageData, calibration_warnings, load_page_data, records
from aftersales.report.page_render import render_page, rule_reference, template_environment

LATEST_PAGE = "latest.html"
INDEX_PAGE = "index.html"


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
    batches = records(
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
    html = template_environment().get_template("index.html.j2").render(batches=batches, latest=LATEST_PAGE)
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
