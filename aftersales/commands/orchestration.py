"""`aftersales serve | backfill | replay`: scheduling, catching up, and trying candidate rules."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import click

from aftersales.settings import load_settings

DATE = click.DateTime(["%Y-%m-%d"])


def _prefect_home() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser()


def _verbose(ctx: click.Context) -> bool:
    return bool(ctx.obj and ctx.obj.get("verbose"))


# ---------------------------------------------------------------------------------------- serve


def exit_on_sigterm() -> None:
    """Until Prefect's runner installs its own graceful handler, SIGTERM unwinds (stopping our server)."""

    def handler(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)


def serve_command(settings, ui: bool, server_log: Path | None, explicit_address: bool, limit: int) -> None:
    from aftersales.orchestration.server import ServerUnavailable, api_url, ensure_server

    exit_on_sigterm()
    if explicit_address:  # --host/--port beat PREFECT_API_URL
        os.environ.pop("PREFECT_API_URL", None)
    log_path = server_log or _prefect_home() / "aftersales-server.log"
    try:
        url = api_url(settings)
        server = ensure_server(settings, log_path, ui=ui)
    except (ServerUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    os.environ["PREFECT_API_URL"] = server.url
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.deployment import DEPLOYMENT_NAME, FLOW_NAME, deployment_parameters, next_runs

        if server.started_here:
            click.echo(
                f"Prefect server started at {server.url} in {server.started_in_s}s "
                f"(pid {server.process.pid}, log {server.log_path})"
            )
        else:
            click.echo(f"Prefect server already answering at {url}: using it")
        if ui:
            click.echo(f"dashboard: {server.url.removesuffix('/api')}")
        params = deployment_parameters(settings)
        click.echo(
            f"serving '{FLOW_NAME}/{DEPLOYMENT_NAME}': cron '{settings.schedule_cron}' in {settings.timezone}, "
            "each run closes the previous day"
        )
        for when, day in next_runs(settings, 2, datetime.now(UTC)):
            click.echo(f"  next: {when.isoformat()} -> batch {day}")
        click.echo(f"  inbox {params['inbox']}\n  warehouse {params['warehouse']}")
        click.echo(
            f"run one now: PREFECT_API_URL={server.url} prefect deployment run "
            f"'{FLOW_NAME}/{DEPLOYMENT_NAME}' -p batch_date=YYYY-MM-DD"
        )
        click.echo("stop with Ctrl-C (or SIGTERM)", nl=True)
        from aftersales.cli import show_logs_live

        show_logs_live()  # serving: warnings and failed runs are reported as they happen
        with temporary_settings(updates={PREFECT_API_URL: server.url}):
            from flows.deployment import serve_nightly

            serve_nightly(settings, limit=limit)
    except KeyboardInterrupt:
        pass
    finally:
        if server.started_here:
            click.echo("stopping the Prefect server")
            server.stop()


# ------------------------------------------------------------------------------------- backfill


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

    try:
        steps = plan_backfill(first, last, inbox, Path(warehouse), force=force)
    except (ValueError, InboxTemplateError) as exc:
        raise click.ClickException(str(exc)) from exc
    to_run = [s for s in steps if s.action == "run"]
    click.echo(
        f"backfill {first} .. {last} into {Path(warehouse).resolve()}: "
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
                warehouse=str(Path(warehouse).resolve()),
                force=force,
                rules_dir=str(Path(rules_dir).resolve()),
                report_dir=str(Path(report_dir).resolve()),
            )
    except BackfillStopped as exc:
        print_backfill(exc.summary)
        raise click.ClickException(f"{exc}; re-run the same command to resume from there") from exc
    print_backfill(summary)


# --------------------------------------------------------------------------------------- replay


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
    from aftersales.orchestration.what_if import format_replay_agreement, replay_agreement
    from aftersales.rulepack import RulePackError

    first, last = date.fromisoformat(summary["date_from"]), date.fromisoformat(summary["date_to"])
    try:
        result = replay_agreement(warehouse, first, last, Path(summary["candidate_rules"]))
    except (CalibrationError, RulePackError) as exc:
        return f"agreement with the platform not measured: {exc}"
    return format_replay_agreement(result, first, last)


# ------------------------------------------------------------------------------------- register


def register(group: click.Group) -> None:
    @group.command("serve")
    @click.option(
        "--host", default=None, help="Loopback host of the Prefect server [settings prefect_api_host]."
    )
    @click.option(
        "--port", type=int, default=None, help="Port of the Prefect server [settings prefect_api_port]."
    )
    @click.option("--cron", default=None, help="Schedule, cron syntax [settings schedule_cron, '0 2 * * *'].")
    @click.option(
        "--timezone", default=None, help="IANA zone of the schedule and of 'yesterday' [settings timezone]."
    )
    @click.option(
        "--inbox", default=None, help="Inbox folder, or template like 'inbox/{date}' [settings inbox]."
    )
    @click.option("--db", default=None, help="Warehouse DuckDB file [settings warehouse].")
    @click.option("--rules", "rules_dir", default=None, help="Rule-pack folder [settings rules_dir].")
    @click.option("--report-dir", default=None, help="Report folder [settings report_dir].")
    @click.option(
        "--ui/--no-ui", default=True, help="Serve the Prefect dashboard (when the server is started here)."
    )
    @click.option(
        "--server-log",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Log file of a server started here [$PREFECT_HOME/aftersales-server.log].",
    )
    @click.option("--limit", type=int, default=1, show_default=True, help="Nightly runs executed at once.")
    def serve(host, port, cron, timezone, inbox, db, rules_dir, report_dir, ui, server_log, limit):
        """Schedule the nightly batch on a Prefect server and execute its runs.

        Uses the Prefect API at PREFECT_API_URL (or http://HOST:PORT/api from the settings) if it
        answers; otherwise starts `prefect server start` on that loopback address, stopping it
        again on exit. Then serves the deployment 'aftersales-scheduled-nightly/nightly': every
        day at the cron time in the time zone it closes the previous day (computed from the run's
        scheduled time, so a run that starts late still closes the right day). One nightly runs
        at a time. Nights missed while nothing was serving are not re-run by themselves: catch
        up with `aftersales backfill` (it skips published dates). --host/--port take precedence
        over PREFECT_API_URL. Stop with Ctrl-C or SIGTERM.

        \b
        Examples:
          aftersales serve                                   # 02:00 Asia/Singapore, settings paths
          aftersales serve --timezone Europe/London --port 4300 --no-ui
          AFTERSALES_INBOX='/data/exports/{date}' aftersales serve
          prefect deployment run 'aftersales-scheduled-nightly/nightly' -p batch_date=2026-11-27
        """
        settings = load_settings().with_overrides(
            prefect_api_host=host,
            prefect_api_port=port,
            schedule_cron=cron,
            timezone=timezone,
            inbox=inbox,
            warehouse=db,
            rules_dir=rules_dir,
            report_dir=report_dir,
        )
        from aftersales.commands.run_batch import quiet_prefect_defaults
        from aftersales.settings import warn_if_sample_inbox

        quiet_prefect_defaults(False)
        try:
            from flows.deployment import nightly_schedule

            nightly_schedule(settings)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        if inbox is None:  # only once the settings hold: a refusal stays one line
            warn_if_sample_inbox(settings.inbox, "serve")
        serve_command(settings, ui, server_log, host is not None or port is not None, limit)

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
    @click.option("--db", default=None, help="Warehouse DuckDB file [settings warehouse].")
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
            _verbose(ctx),
        )

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
    @click.option("--db", default=None, help="Warehouse DuckDB file [settings warehouse].")
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
        from aftersales.orchestration.what_if import ReplayError, policy_rescorer, stored_case_counts
        from aftersales.pipeline import BatchRefused

        try:
            policy_rescorer()
        except ReplayError as exc:
            raise click.ClickException(str(exc)) from exc
        if last < first:
            raise click.UsageError(f"--to {last:%Y-%m-%d} is before --from {first:%Y-%m-%d}")
        warehouse = Path(db or load_settings().warehouse).resolve()
        try:  # known before any flow starts: a range with nothing stored is refused at once
            if not stored_case_counts(warehouse, first.date(), last.date()):
                raise ReplayError(
                    f"no stored cases between {first:%Y-%m-%d} and {last:%Y-%m-%d} in {warehouse}"
                )
        except ReplayError as exc:
            raise click.ClickException(str(exc)) from exc
        quiet_prefect_defaults(_verbose(ctx))
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
