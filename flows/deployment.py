"""The scheduled nightly deployment: every day at `schedule_cron` in `timezone`, close yesterday.

`scheduled_nightly` is a thin wrapper flow: it works out the batch date when the run starts
(the day before the run's *scheduled* time, in the schedule's time zone) and runs the nightly
flow for it as a subflow. Its parameters (inbox, warehouse, rules, reports, time zone) are baked
into the deployment from the settings; `batch_date` may be given to re-run a specific day from
the Prefect UI or API.

    aftersales serve            # starts/uses a local Prefect server and serves this deployment
    prefect deployment run 'aftersales-scheduled-nightly/nightly' -p batch_date=2026-11-27
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import EntrypointType
from prefect.runtime import flow_run
from prefect.schedules import Cron

from aftersales.orchestration.dates import batch_date_for, check_template, inbox_for, is_template, zone
from aftersales.settings import Settings
from flows.nightly import nightly_batch

FLOW_NAME = "aftersales-scheduled-nightly"
DEPLOYMENT_NAME = "nightly"


def scheduled_moment() -> datetime:
    """When this run was scheduled for (its expected start), or now outside a flow run."""
    moment = flow_run.scheduled_start_time
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def scheduled_nightly(
    inbox: str,
    warehouse: str,
    timezone: str = "Asia/Singapore",
    batch_date: str | None = None,
    rules_dir: str | None = None,
    report_dir: str | None = None,
) -> dict:
    """Adjudicate the previous business day (or `batch_date`), reading `inbox` (a folder or `{date}` template)."""
    day = date.fromisoformat(batch_date) if batch_date else batch_date_for(scheduled_moment(), timezone)
    folder = inbox_for(inbox, day)
    get_run_logger().info("closing batch %s from %s", day, folder)
    return nightly_batch.with_options(flow_run_name=f"batch-{day}")(
        inbox=str(folder),
        warehouse=warehouse,
        batch_date=day.isoformat(),
        rules_dir=rules_dir,
        report_dir=report_dir,
    )


def deployment_parameters(settings: Settings) -> dict:
    """The deployment's parameters, from settings, as absolute paths (the runner may run elsewhere)."""
    inbox = settings.inbox
    if is_template(inbox):
        check_template(inbox)
        inbox_param = str(Path(inbox).absolute()) if not Path(inbox).is_absolute() else inbox
    else:
        inbox_param = str(Path(inbox).resolve())
    return {
        "inbox": inbox_param,
        "warehouse": str(Path(settings.warehouse).resolve()),
        "timezone": settings.timezone,
        "rules_dir": str(Path(settings.rules_dir).resolve()),
        "report_dir": str(Path(settings.report_dir).resolve()),
    }


def nightly_schedule(settings: Settings) -> Cron:
    zone(settings.timezone)  # fail early on a misspelt zone, not at the first 02:00
    return Cron(settings.schedule_cron, timezone=settings.timezone)


def next_runs(settings: Settings, count: int, after: datetime) -> list[tuple[datetime, date]]:
    """The next `count` scheduled times after `after`, each with the batch date it will close."""
    import asyncio

    from prefect.server.schemas.schedules import CronSchedule

    schedule = CronSchedule(cron=settings.schedule_cron, timezone=settings.timezone)
    times = asyncio.run(schedule.get_dates(n=count, start=after))
    return [(t, batch_date_for(t, settings.timezone)) for t in times]


def nightly_deployment(settings: Settings) -> RunnerDeployment:
    """The nightly deployment, importable by module path so the runner does not depend on the cwd."""
    return scheduled_nightly.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[nightly_schedule(settings)],
        parameters=deployment_parameters(settings),
        description=(
            f"Close the previous business day ({settings.timezone}) at '{settings.schedule_cron}': "
            "ingest, score, SLA, seller health, atomic publish."
        ),
        tags=["aftersales", "nightly"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_nightly(settings: Settings, limit: int = 1) -> None:
    """Register the deployment and execute its runs in this process until stopped (SIGTERM/Ctrl-C).

    `limit=1`: one nightly batch at a time; a manual run triggered during the nightly waits.
    """
    from prefect import serve

    serve(nightly_deployment(settings), limit=limit, print_starting_message=False)
