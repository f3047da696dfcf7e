"""`aftersales generate`: write a deterministic synthetic inbox."""

from __future__ import annotations

import resource
import time
from datetime import date
from pathlib import Path

import click

from aftersales.generate.platform import PlatformPolicy
from aftersales.generate.sample_inbox import generate_inbox
from aftersales.generate.spec import DEFAULT_BATCH_DATE, GeneratorSpec


def register(group: click.Group) -> None:
    group.add_command(generate)


@click.command("generate")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Inbox directory to write (an existing generated inbox is replaced).",
)
@click.option("--shops", default=6, show_default=True, type=click.IntRange(min=1), help="Number of shops.")
@click.option(
    "--orders", default=400, show_default=True, type=click.IntRange(min=1), help="Order LINES (one per SKU)."
)
@click.option(
    "--seed", default=7, show_default=True, type=int, help="Random seed; same arguments give the same bytes."
)
@click.option(
    "--batch-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default=DEFAULT_BATCH_DATE.isoformat(),
    show_default=True,
    help="Business date the inbox is exported for.",
)
@click.option("--requests", type=click.IntRange(min=0), help="After-sales requests [default: orders/10].")
@click.option(
    "--cancellations", type=click.IntRange(min=0), help="Cancellation requests [default: orders/20]."
)
@click.option("--messages", type=click.IntRange(min=0), help="Buyer-seller messages [default: orders].")
@click.option(
    "--evidence", type=click.IntRange(min=0), help="Evidence manifest rows [default: 0.3 x orders]."
)
@click.option("--appeals", type=click.IntRange(min=0), help="Seller appeals [default: requests/8].")
@click.option(
    "--bad-row-rate",
    default=0.005,
    show_default=True,
    type=click.FloatRange(0.0, 0.5),
    help="Share of rows broken on purpose (0 gives a clean inbox).",
)
@click.option(
    "--platform-noise",
    type=click.FloatRange(0.0, 0.5),
    default=None,
    help="Decide disputes and appeals by the platform's hidden true policy, verdicts flipped with this "
    "probability [default: random verdicts].",
)
@click.option(
    "--planted/--no-planted",
    default=True,
    show_default=True,
    help="With --platform-noise: plant the known deviation from the shipped packs (late appeals upheld).",
)
@click.option(
    "--format",
    "delivery",
    type=click.Choice(["csv", "openapi", "mixed"]),
    default="csv",
    show_default=True,
    help="How shops deliver: Seller Center exports, Open API JSON dumps, or some of each (by seed).",
)
@click.option(
    "--api-shops",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Extra shops delivering Open API JSON, appended without changing the other shops' files.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the generation report (files, quirks, bad rows) as JSON here.",
)
def generate(out: Path, shops: int, orders: int, seed: int, batch_date, requests, cancellations, messages,
             evidence, appeals, bad_row_rate: float, platform_noise: float | None, planted: bool,
             delivery: str, api_shops: int, report_path: Path | None) -> None:  # fmt: skip
    """Generate a deterministic sample inbox of Seller Center exports.

    \b
    Example:
      aftersales generate --out data/sample/inbox --shops 6 --orders 400 --seed 7 --batch-date 2026-11-27
    """
    bd: date = batch_date.date()
    spec = GeneratorSpec(
        shops=shops, orders=orders, seed=seed, batch_date=bd, requests=requests, cancellations=cancellations,
        messages=messages, evidence=evidence, appeals=appeals, bad_row_rate=bad_row_rate,
        platform=None if platform_noise is None else PlatformPolicy(platform_noise, upholds_late_appeals=planted),
        delivery=delivery, api_shops=api_shops,
    )  # fmt: skip
    started = time.perf_counter()
    try:
        report = generate_inbox(out, spec, overwrite=True)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    elapsed = time.perf_counter() - started
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(report.to_json(), encoding="utf-8")
    rows = ", ".join(f"{k} {v:,}" for k, v in report.rows.items())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    click.echo(f"wrote {out}: {len(report.files)} files, {rows}; {len(report.bad_rows)} bad rows")
    click.echo(f"took {elapsed:.1f} s, peak memory {peak_mib:,.0f} MiB")
