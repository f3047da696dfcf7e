"""`aftersales run`: one nightly batch for one business date (contract §1)."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import click

from aftersales.settings import load_settings, warn_if_sample_inbox

EXAMPLE_QUERY = (
    "SELECT market, decision, count(*) AS cases FROM rulings "
    "WHERE batch_date = DATE '{day}' GROUP BY ALL ORDER BY ALL;"
)


def quiet_prefect_defaults(verbose: bool) -> None:
    """Keep a nightly run's console to its summary unless asked for more."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    if not verbose:  # Prefect's internal logger writes to stderr itself, past the CLI's console
        os.environ.setdefault("PREFECT_INTERNAL_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not verbose:  # a Dask LocalCluster that lost a worker leaves a semaphore its tracker reports
        os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")


def refuse(paths, run_id: str, day: date, exc: Exception) -> None:
    """Journal the refused attempt (the warehouse itself stays untouched) and stop with one line."""
    from aftersales import pipeline
    from aftersales.run_record import RunRecord

    row = RunRecord(run_id, day, paths.inbox).failed(pipeline.one_line(exc))
    try:
        pipeline.record_failure(paths, row)
    except OSError:  # the warehouse folder itself may be what is wrong; the refusal line says so
        pass
    raise click.ClickException(pipeline.one_line(exc))


def warehouse_folder_problem(warehouse: Path) -> str | None:
    """Why a batch could not write beside `warehouse` (lock, journal, work files, publish), or None.

    Checked before Prefect starts: otherwise the flow fails on its first write, with the reason
    after seconds of start-up. A missing folder is fine when it can be created. (Whether the
    warehouse file itself is a usable database is `pipeline.preflight`'s concern.)
    """
    folder = Path(warehouse).parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"warehouse folder {folder} cannot be created: {existing} is not a folder"
    try:
        probe = tempfile.mkdtemp(prefix=".aftersales-probe-", dir=existing)
    except OSError as exc:
        where = "is not writable" if existing == folder else f"cannot be created in {existing}"
        return f"warehouse folder {folder} {where}: {exc.strerror or exc}"
    os.rmdir(probe)
    return None


def run_batch(
    inbox: str,
    db: str,
    batch_date: date,
    rules_dir: str | None,
    report_dir: str | None,
    verbose: bool = False,
    wait_for_running: bool = False,
    runner: str | None = None,
    dask_address: str | None = None,
    shards: int | None = None,
    workers: int | None = None,
) -> dict:
    """Preflight (fast, no Prefect start-up), then the Prefect flow; returns the flow's summary."""
    quiet_prefect_defaults(verbose)
    from aftersales import pipeline

    settings = load_settings().with_overrides(
        task_runner=runner, dask_address=dask_address, shards=shards, task_workers=workers
    )
    rules = rules_dir or settings.rules_dir
    reports = report_dir or settings.report_dir
    run_id = pipeline.new_run_id(batch_date)
    paths = pipeline.batch_paths(inbox, db, rules, reports, run_id)
    claim = None
    try:
        if (problem := warehouse_folder_problem(paths.warehouse)) is not None:
            raise pipeline.BatchRefused(problem)
        # Held from here to the flow's end (the flow re-enters it): a second run of the date is
        # refused at once (before the slower preflight), naming this one, unless it asked to wait.
        claim = pipeline.claim_batch(
            paths.warehouse,
            batch_date,
            wait=wait_for_running,
            on_wait=lambda message: click.echo(message, err=True),
        )
        pipeline.preflight(paths.inbox, paths.rules_dir, paths.warehouse)
        runner_problem(settings)
    except pipeline.BatchRefused as exc:
        pipeline.release_batch(claim)
        refuse(paths, run_id, batch_date, exc)

    from aftersales import progress
    from flows.nightly import nightly_batch

    try:
        with progress.bar(len(progress.NIGHTLY_STAGES), f"batch {batch_date}"):
            return nightly_batch(
                inbox=str(paths.inbox),
                warehouse=str(paths.warehouse),
                batch_date=batch_date.isoformat(),
                rules_dir=str(paths.rules_dir),
                report_dir=str(paths.report_dir),
                runner=settings.task_runner,
                dask_address=settings.dask_address,
                shards=settings.shards,
                workers=settings.task_workers,
            )
    except Exception as exc:
        if verbose:
            raise
        raise click.ClickException(pipeline.one_line(exc)) from exc
    finally:
        pipeline.release_batch(claim)


def runner_problem(settings) -> None:
    """Refuse, before Prefect starts, a task runner that cannot run: an unknown name, a Dask
    address without the dask runner, or Dask on the ephemeral Prefect API (BatchRefused)."""
    from aftersales import pipeline, task_runners

    try:
        choice = task_runners.RunnerChoice(
            settings.task_runner, settings.task_workers, settings.dask_address, settings.dask_worker_memory
        )
        if choice.name == "dask":
            task_runners.require_real_prefect_api("dask")
    except task_runners.RunnerRefused as exc:
        raise pipeline.BatchRefused(str(exc)) from None
    if settings.on_shard_failure not in ("fail", "publish-others"):
        raise pipeline.BatchRefused(
            f"on_shard_failure must be 'fail' or 'publish-others', not {settings.on_shard_failure!r}"
        )


def print_summary(result: dict) -> None:
    ingest = result.get("ingest", {})
    click.echo(f"batch {result['batch_date']} published (run {result['run_id']})")
    if result.get("failed_shops"):
        click.echo(
            f"warning: {result['shard_failures']}; shops left out (runs.failed_shops): "
            f"{', '.join(result['failed_shops'])}",
            err=True,
        )
    click.echo(
        f"files read: {ingest.get('files_read')}  skipped: {ingest.get('files_skipped')}  "
        f"rows read: {ingest.get('rows_read')}  quarantined: {ingest.get('rows_quarantined')}"
    )
    click.echo("rows in this batch, per table:")
    for table, count in result.get("publish", {}).get("rows", {}).items():
        click.echo(f"  {table:<20} {count:>10}")
    click.echo(
        f"quarantine: {ingest.get('rows_quarantined')} rows quarantined, {ingest.get('files_skipped')} files "
        f"skipped (table quarantine; validation report: {ingest.get('validation_report_path')})"
    )
    from aftersales import pipeline

    for line in pipeline.skipped_file_lines(result["warehouse"], result["batch_date"], result["run_id"]):
        click.echo(line)
    if result.get("report_page"):
        click.echo(f"report page: {result['report_page']}")
    click.echo(f"warehouse: {result['warehouse']}")
    sql = EXAMPLE_QUERY.format(day=result["batch_date"])
    click.echo(
        "example query (`aftersales sql`, read-only; or Python `aftersales.analytics.open_warehouse(path)`):"
    )
    click.echo(f'  aftersales sql --db {result["warehouse"]} "{sql.rstrip(";")}"')
    click.echo(example_query_result(result["warehouse"], sql))


def example_query_result(warehouse: str, sql: str) -> str:
    """The example query's answer, read-only, so a newcomer sees what the warehouse holds."""
    from aftersales.lakehouse.connect import open_warehouse

    con = open_warehouse(warehouse)
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    return "\n".join(f"  {market:<4} {decision:<15} {cases:>6}" for market, decision, cases in rows)


def register(group: click.Group) -> None:
    @group.command("run")
    @click.option(
        "--inbox",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Inbox folder: shops.csv plus one folder of exports per shop "
        "[settings inbox; default: the bundled sample inbox data/sample/inbox, with a warning].",
    )
    @click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=(
            "Warehouse, created if missing: a DuckLake (PATH.ducklake, or ducklake:postgres:CONNINFO) or a "
            "single DuckDB file (PATH.duckdb) [settings warehouse; default warehouse/aftersales.ducklake]."
        ),
    )
    @click.option(
        "--batch-date",
        type=click.DateTime(["%Y-%m-%d"]),
        required=True,
        help="Business date being closed (YYYY-MM-DD).",
    )
    @click.option(
        "--rules",
        "rules_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Rule-pack folder (default: the shipped rules/).",
    )
    @click.option(
        "--report-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Where the validation report and nightly page go (default: reports/).",
    )
    @click.option(
        "--wait-for-running",
        is_flag=True,
        default=False,
        help="If a run of this batch date is already running on the warehouse, wait for it to end "
        "instead of refusing.",
    )
    @click.option(
        "--runner",
        type=click.Choice(["threads", "dask", "sequential"]),
        default=None,
        help="Task runner of the shards: Prefect threads (one machine), Dask (a LocalCluster, or "
        "--dask-address; needs a Prefect server), or one shard at a time [settings task_runner; threads].",
    )
    @click.option(
        "--dask-address",
        default=None,
        help="External Dask scheduler, tcp://host:port (with --runner dask) [settings dask_address].",
    )
    @click.option(
        "--shards",
        type=click.IntRange(min=1),
        default=None,
        help="Number of shop groups (stable hash of Shop ID) [settings shards; else shops_per_shard].",
    )
    @click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Shards run side by side (threads, LocalCluster workers) [settings task_workers; one per core].",
    )
    @click.pass_context
    def run_command(
        ctx,
        inbox,
        db,
        batch_date,
        rules_dir,
        report_dir,
        wait_for_running,
        runner,
        dask_address,
        shards,
        workers,
    ):
        """Run the nightly adjudication flow once for a batch date.

        \b
        Exit status: 0 when the batch completed (even with quarantined rows);
        1 when it could not run (missing inbox, unreadable shop registry, invalid rule
        pack, any failure before publish), with a one-line reason on stderr. A failed
        batch leaves the warehouse exactly as it was.

        \b
        Example:
          aftersales run --inbox data/sample/inbox --db warehouse/aftersales.ducklake \\
              --batch-date 2026-11-27
        """
        settings = load_settings()
        verbose = bool(ctx.obj and ctx.obj.get("verbose"))
        if inbox is None:
            warn_if_sample_inbox(settings.inbox, "run")
        result = run_batch(
            str(inbox or settings.inbox),
            str(db or settings.warehouse),
            batch_date.date(),
            rules_dir,
            report_dir,
            verbose,
            wait_for_running,
            runner,
            dask_address,
            shards,
            workers,
        )
        print_summary(result)
