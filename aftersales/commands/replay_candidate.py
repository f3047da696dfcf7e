"""`aftersales replay`: re-score stored cases under candidate rules and show what would change."""

from __future__ import annotations

from pathlib import Path

import click

from aftersales.settings import load_settings

DATE = click.DateTime(["%Y-%m-%d"])


def print_replay(summary: dict, warehouse: Path, show: int) -> None:
    from aftersales.orchestration.what_if import changed_cases, format_matrix, shift_matrix
    from aftersales.policy.features import DECISIONS

    click.echo(
        f"replay {summary['replay_id']}: {summary['cases']} cases {summary['date_from']} .. {summary['date_to']} "
        f"under {summary['policy_version']}"
    )
    click.echo(
        f"decisions changed: {summary['decisions_changed']}  rulings changed (decision, liable party, "
        f"remedy or refund): {summary['rulings_changed']}"
    )
    click.echo("\ndecision shift matrix (rows: published decision, columns: candidate decision)")
    click.echo(format_matrix(shift_matrix(warehouse, summary["replay_id"]), DECISIONS + ("(none)",)))
    changed = changed_cases(warehouse, summary["replay_id"], limit=show)
    if changed:
        click.echo(f"\ncases that changed (first {len(changed)} of {summary['rulings_changed']}):")
        for c in changed:
            parts = [f"{c['old_decision']} -> {c['new_decision']}"]
            if c["old_remedy"] != c["new_remedy"]:
                parts.append(f"remedy {c['old_remedy']} -> {c['new_remedy']}")
            if c["old_liable_party"] != c["new_liable_party"]:
                parts.append(f"liable {c['old_liable_party']} -> {c['new_liable_party']}")
            if c["old_refund_amount"] != c["new_refund_amount"]:
                parts.append(f"refund {c['old_refund_amount']} -> {c['new_refund_amount']}")
            click.echo(
                f"  {c['batch_date']}  {c['case_id']:<22} {c['market']:<3} {c['case_kind']:<14} "
                + "; ".join(parts)
            )
    click.echo("")
    click.echo(replay_agreement_text(summary, warehouse))
    click.echo(
        f"\ntables: replay_rulings, replay_diff, replay_runs (replay_id = '{summary['replay_id']}') in {warehouse}"
    )


def replay_agreement_text(summary: dict, warehouse: Path) -> str:
    """Agreement with the platform before/after on the same decided cases, or why it is not shown."""
    from datetime import date

    from aftersales.calibration.rejudge import CalibrationError
    from aftersales.orchestration.what_if_agreement import format_replay_agreement, replay_agreement
    from aftersales.rulepack import RulePackError

    first, last = date.fromisoformat(summary["date_from"]), date.fromisoformat(summary["date_to"])
    try:
        result = replay_agreement(warehouse, first, last, Path(summary["candidate_rules"]))
    except (CalibrationError, RulePackError) as exc:
        return f"agreement with the platform not measured: {exc}"
    return format_replay_agreement(result, first, last)


def register(group: click.Group) -> None:
    @group.command("replay")
    @click.option(
        "--rules",
        "rules_dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        required=True,
        help="Candidate rule-pack folder (same layout as rules/).",
    )
    @click.option("--from", "first", type=DATE, required=True, help="First batch date to re-score.")
    @click.option("--to", "last", type=DATE, required=True, help="Last batch date, included.")
    @click.option(
        "--db",
        default=None,
        help="Warehouse: PATH.ducklake, ducklake:postgres:CONNINFO or PATH.duckdb [settings warehouse].",
    )
    @click.option("--show", type=int, default=30, show_default=True, help="Changed cases to list.")
    @click.pass_context
    def replay(ctx, rules_dir, first, last, db, show):
        """Re-score stored cases under candidate rules and show what would change.

        Reads the dates' stored case features (table case_features) and published rulings,
        re-scores the cases with the policy engine under --rules, and publishes the results
        beside the nightly's, atomically, into replay_rulings, replay_diff and replay_runs
        (published tables are never written). Prints the decision shift matrix (published
        decision x candidate decision) and the cases whose ruling changed. Replaying the same
        candidate over the same dates again replaces that replay's rows.

        When a calibration of the stored rules (`aftersales calibrate`) covers platform decisions
        dated in --from .. --to, the candidate is calibrated too (point in time, stored beside it
        in calibration_runs/_cases/_summary) and the agreement with the platform of the stored
        rules and of the candidate on the same decided cases is printed.

        \b
        Examples:
          cp -r rules /tmp/candidate && $EDITOR /tmp/candidate/us_local/policy.yaml
          aftersales replay --rules /tmp/candidate --from 2026-11-20 --to 2026-11-27
          aftersales sql --format table \\
            "SELECT * FROM replay_diff WHERE changed ORDER BY batch_date, case_id"
        """
        from aftersales.commands.run_batch import quiet_prefect_defaults
        from aftersales.orchestration.what_if import ReplayError, stored_case_counts
        from aftersales.pipeline import BatchRefused, warehouse_address

        if last < first:
            raise click.UsageError(f"--to {last:%Y-%m-%d} is before --from {first:%Y-%m-%d}")
        warehouse = warehouse_address(db or load_settings().warehouse)
        try:  # known before any flow starts: a range with nothing stored is refused at once
            if not stored_case_counts(warehouse, first.date(), last.date()):
                raise ReplayError(
                    f"no stored cases between {first:%Y-%m-%d} and {last:%Y-%m-%d} in {warehouse}"
                )
        except ReplayError as exc:
            raise click.ClickException(str(exc)) from exc
        quiet_prefect_defaults(bool(ctx.obj and ctx.obj.get("verbose")))
        from flows.replay import replay_rules

        try:
            summary = replay_rules(
                candidate_rules=str(rules_dir.resolve()),
                date_from=first.date().isoformat(),
                date_to=last.date().isoformat(),
                warehouse=str(warehouse),
            )
        except (ReplayError, BatchRefused) as exc:
            raise click.ClickException(str(exc)) from exc
        print_replay(summary, warehouse, show)
