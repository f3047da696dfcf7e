"""`aftersales backfill`: the nightly batch for every date of a range, in order, resumably."""

from __future__ import annotations

from pathlib import Path

import click

from aftersales.settings import load_settings

DATE = click.DateTime(["%Y-%m-%d"])


def print_plan(steps) -> None:
    for s in steps:
        click.echo(f"  {s.batch_date}  {s.action:<4}  {s.inbox}  ({s.reason})")


def print_backfill(summary: dict) -> None:
    click.echo(f"{'batch date':<12} {'result':<8} {'seconds':>8} {'rulings':>8}  run / reason")
    for d in summary["dates"]:
        detail = d.get("run_id") if d["action"] == "ran" else d["reason"]
        seconds = "" if d.get("seconds") is None else f"{d['seconds']:.1f}"
        rulings = "" if d.get("rulings") is None else str(d["rulings"])
        click.echo(f"{d['batch_date']:<12} {d['action']:<8} {seconds:>8} {rulings:>8}  {detail}")


def backfill_command(first, last, inbox, warehouse, force, rules_dir, report_dir, dry_run, verbose) -> None:
    from aftersales import pipeline
    from aftersales.commands.run_batch import quiet_prefect_defaults
    from aftersales.orchestration.backfill_plan import missing_inboxes, plan_backfill
    from aftersales.orchestration.dates import InboxTemplateError
    from aftersales.pipeline import warehouse_address

    try:
        steps = plan_backfill(first, last, inbox, Path(warehouse), force=force)
    except (ValueError, InboxTemplateError) as exc:
        raise click.ClickException(str(exc)) from exc
    to_run = [s for s in steps if s.action == "run"]
    click.echo(
        f"backfill {first} .. {last} into {warehouse_address(warehouse)}: "
        f"{len(to_run)} to run, {len(steps) - len(to_run)} already published"
    )
    print_plan(steps)
    missing = missing_inboxes(steps)
    if missing:
        raise click.ClickException(
            "no inbox for " + ", ".join(f"{s.batch_date} ({s.inbox})" for s in missing) + "; nothing was run"
        )
    if dry_run or not to_run:
        if not to_run:
            click.echo("nothing to do (use --force to re-run published dates)")
        return
    try:
        pipeline.preflight(to_run[0].inbox, Path(rules_dir))
    except pipeline.BatchRefused as exc:
        raise click.ClickException(str(exc)) from exc
    quiet_prefect_defaults(verbose)
    from aftersales import progress
    from flows.backfill import BackfillStopped, backfill_batches

    try:
        with progress.bar(len(to_run), "backfill"):
            summary = backfill_batches(
                date_from=first.isoformat(),
                date_to=last.isoformat(),
                inbox=str(inbox),
                warehouse=str(warehouse_address(warehouse)),
                force=force,
                rules_dir=str(Path(rules_dir).resolve()),
                report_dir=str(Path(report_dir).resolve()),
            )
    except BackfillStopped as exc:
        print_backfill(exc.summary)
        raise click.ClickException(f"{exc}; re-run the same command to resume from there") from exc
    print_backfill(summary)


def register(group: click.Group) -> None:
    @group.command("backfill")
    @click.option("--from", "first", type=DATE, required=True, help="First batch date (YYYY-MM-DD).")
    @click.option("--to", "last", type=DATE, required=True, help="Last batch date, included.")
    @click.option("--force", is_flag=True, help="Re-run dates that are already published.")
    @click.option(
        "--inbox",
        default=None,
        help="One inbox folder used for every date (e.g. cumulative exports) [settings inbox].",
    )
    @click.option(
        "--inbox-template",
        default=None,
        help="Inbox folder per date with a {date} placeholder: 'inbox/{date}' or 'inbox/{date:%Y%m%d}'.",
    )
    @click.option(
        "--db",
        default=None,
        help="Warehouse: PATH.ducklake, ducklake:postgres:CONNINFO or PATH.duckdb [settings warehouse].",
    )
    @click.option("--rules", "rules_dir", default=None, help="Rule-pack folder [settings rules_dir].")
    @click.option("--report-dir", default=None, help="Report folder [settings report_dir].")
    @click.option("--dry-run", is_flag=True, help="Print which dates would run or be skipped, and stop.")
    @click.pass_context
    def backfill(ctx, first, last, force, inbox, inbox_template, db, rules_dir, report_dir, dry_run):
        """Run the nightly batch for every date of a range, in order, resumably.

        One parent Prefect flow run ('aftersales-backfill') with one nightly subflow run per
        date. A date is skipped when the warehouse's `runs` already holds a successful run for
        it (checked again just before each date), unless --force. The backfill stops at the
        first failing date; run the same command again to resume from there. Before anything
        runs, every date to run must have its inbox folder.

        \b
        Inbox per date: --inbox-template 'DIR/{date}' (one export folder per date), or
        --inbox DIR (the same folder for every date), else the `inbox` setting, which may
        itself be a {date} template.

        \b
        Examples:
          aftersales backfill --from 2026-11-20 --to 2026-11-27 --inbox-template 'exports/{date}'
          aftersales backfill --from 2026-11-25 --to 2026-11-27 --inbox data/sample/inbox --dry-run
          aftersales backfill --from 2026-11-27 --to 2026-11-27 --inbox data/sample/inbox --force
        """
        if inbox and inbox_template:
            raise click.UsageError("give --inbox or --inbox-template, not both")
        settings = load_settings()
        backfill_command(
            first.date(),
            last.date(),
            inbox_template or inbox or settings.inbox,
            db or settings.warehouse,
            force,
            rules_dir or settings.rules_dir,
            report_dir or settings.report_dir,
            dry_run,
            bool(ctx.obj and ctx.obj.get("verbose")),
        )
