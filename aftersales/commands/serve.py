"""`aftersales serve`: the nightly batch on a cron schedule, on a local Prefect server if none answers."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import click

from aftersales.settings import load_settings


def _prefect_home() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser()


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
    @click.option(
        "--db",
        default=None,
        help="Warehouse: PATH.ducklake, ducklake:postgres:CONNINFO or PATH.duckdb [settings warehouse].",
    )
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
