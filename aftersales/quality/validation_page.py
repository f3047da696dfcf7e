"""The per-run validation report: one self-contained HTML page (no scripts, no external assets).

It shows what an operator needs the morning after: file ledger (status, encoding, counts,
reason), every expectation per file with its unexpected count, the most frequent quarantine
reasons (values replaced by "…" so similar rows group together) and a sample of quarantined
rows. Quarantine reasons and raw rows never hold personal data, so neither does the page.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATE = "report.html.j2"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def report_path(report_dir: Path, batch_date: str, run_id: str) -> Path:
    return Path(report_dir) / f"ingest-validation-{batch_date}-{_SAFE.sub('_', run_id)}.html"


def write_validation_report(
    report_dir: Path, summary, ledger, validation_rows: list[tuple], reasons: list[tuple], sample: list[tuple]
) -> Path:
    """Render and write the report; returns its path."""
    return save_validation_report(
        report_dir, summary, render_validation_report(summary, ledger, validation_rows, reasons, sample)
    )


def render_validation_report(
    summary, ledger, validation_rows: list[tuple], reasons: list[tuple], sample: list[tuple]
) -> str:
    """The report page as HTML text (pure: lets ingestion render it while DuckDB writes)."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html", "j2"])
    )
    suites: dict[str, dict] = defaultdict(lambda: {"files": defaultdict(list), "failed": 0, "checked": 0})
    for row in validation_rows:
        _, _, suite, source_file, _, expectation, column, success, elements, unexpected, _ = row
        entry = suites[suite]
        entry["files"][source_file].append(
            {
                "expectation": expectation,
                "column": column,
                "success": success,
                "elements": elements,
                "unexpected": unexpected,
            }
        )
        entry["checked"] += 1
        entry["failed"] += 0 if success else 1
    return env.get_template(TEMPLATE).render(
        summary=summary,
        ledger=ledger,
        suites={
            k: {"files": dict(v["files"]), "failed": v["failed"], "checked": v["checked"]}
            for k, v in suites.items()
        },
        reasons=reasons,
        sample=sample,
    )


def save_validation_report(report_dir: Path, summary, html: str) -> Path:
    """Write a rendered report atomically (temporary file, then rename); returns its path."""
    path = report_path(report_dir, summary.batch_date, summary.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
