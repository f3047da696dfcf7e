"""`aftersales calibrate`: how far recommended rulings agree with what the platform decided."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aftersales.settings import load_settings

DATE = click.DateTime(["%Y-%m-%d"])


def register(group: click.Group) -> None:
    group.add_command(calibrate_command)


def format_summary(summary, rows: list[tuple]) -> str:
    """The run's one-line totals, then the overall and per-case-kind figures with their intervals."""
    lines = [
        f"calibration {summary.calibration_id}: {summary.calibrated_cases} of {summary.decided_cases} "
        f"decided cases calibrated, {summary.agreeing_cases} agree"
        + (f"; not calibratable: {json.dumps(summary.not_calibratable)}" if summary.not_calibratable else "")
    ]
    if summary.rebuilt_per_batch_date:
        lines.append(
            f"  rebuilt from the exports: {sum(summary.rebuilt_per_batch_date.values())} cases "
            f"over {len(summary.rebuilt_per_batch_date)} batch dates (features_from = 'rebuilt_from_exports')"
        )
    for dimension, group, metric, n, value, lo, hi, small in rows:
        if small:
            shown = f"n={n} (below the minimum group size: counts only)"
        elif value is None:
            shown = f"n={n} -"
        elif lo is None:
            shown = f"n={n} {value:.3f}"
        else:
            shown = f"n={n} {value:.3f} [{lo:.3f}, {hi:.3f}]"
        lines.append(f"  {dimension}={group} {metric}: {shown}")
    for w in summary.agreement_warnings:
        lines.append(
            f"WARNING rule {w['rule']} ({w['pack_id']}): agreement {w['agreement']:.3f} "
            f"[{w['ci_low']:.3f}, {w['ci_high']:.3f}] on {w['n']} cases is below the pack's {w['threshold']:g}"
        )
    return "\n".join(lines)


@click.command("calibrate")
@click.option(
    "--from", "first", type=DATE, required=True, help="First decision date (shop-local, YYYY-MM-DD)."
)
@click.option("--to", "last", type=DATE, required=True, help="Last decision date, included.")
@click.option(
    "--db",
    default=None,
    help="Warehouse: PATH.ducklake, ducklake:postgres:CONNINFO or PATH.duckdb [settings warehouse].",
)
@click.option(
    "--rules", "rules_dir", default=None, help="Rule-pack folder to judge with [settings rules_dir]."
)
@click.option(
    "--min-cases",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="Groups with fewer cases show counts only, no rates or intervals.",
)
@click.option(
    "--bins", default=10, show_default=True, type=click.IntRange(min=1), help="Reliability (confidence) bins."
)
@click.option(
    "--inbox",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Exports folder: rebuild decided cases with no stored features before the decision from it "
    "(ingest + score as of the batch before the decision, never published).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def calibrate_command(first, last, db, rules_dir, min_cases, bins, inbox, as_json) -> None:
    """Judge every case the platform decided as it stood before the decision; compare; publish.

    Writes calibration_runs, calibration_cases and calibration_summary into the warehouse
    (atomically, under the publish lock). Cases are those whose platform decision falls between
    --from and --to (shop-local date; appeals: the submission date).

    \b
    Example:
      aftersales calibrate --from 2026-10-01 --to 2026-11-27 --db warehouse/aftersales.ducklake
      aftersales calibrate --from 2026-10-01 --to 2026-11-27 --inbox data/inbox
    """
    from aftersales.calibration.rejudge import CalibrationError, calibrate
    from aftersales.pipeline import BatchRefused
    from aftersales.rulepack import RulePackError

    settings = load_settings()
    warehouse = Path(db or settings.warehouse)
    try:
        summary = calibrate(
            warehouse,
            first.date(),
            last.date(),
            Path(rules_dir or settings.rules_dir),
            min_cases=min_cases,
            bins=bins,
            inbox=inbox,
            settings=settings,
        )
    except (CalibrationError, RulePackError, BatchRefused) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    from aftersales.lakehouse.connect import open_warehouse

    con = open_warehouse(warehouse)
    try:
        rows = con.execute(
            "SELECT dimension, group_value, metric, n, value, ci_low, ci_high, small_sample "
            "FROM calibration_summary WHERE calibration_id = ? AND dimension IN ('overall', 'case_kind') "
            "AND metric IN ('agreement', 'kappa', 'brier', 'ece') ORDER BY dimension DESC, group_value, metric",
            [summary.calibration_id],
        ).fetchall()
    finally:
        con.close()
    click.echo(format_summary(summary, rows))
    from aftersales.calibration.drilldown import disagreement_ranking

    ranked = [
        r for r in disagreement_ranking(warehouse, summary.calibration_id, min_cases) if not r["small_sample"]
    ]
    if ranked:
        click.echo("rules most often against the platform:")
        for r in ranked[:5]:
            example = r["examples"][0]["case_id"] if r["examples"] else "-"
            click.echo(
                f"  {r['rule']}: {r['disagreements']} of {r['decisive_cases']} decisive cases "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}], e.g. case {example}"
            )
            if r["candidate_change"]:
                click.echo(f"    candidate: {r['candidate_change']}")
