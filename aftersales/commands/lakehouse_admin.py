"""`aftersales maintain` and `aftersales migrate`: the lakehouse's upkeep and the move into it."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    @group.command("maintain")
    @click.option(
        "--db",
        default=None,
        help="The lake: PATH.ducklake or ducklake:postgres:CONNINFO [default: `warehouse`].",
    )
    @click.option(
        "--keep-days",
        type=click.IntRange(min=0),
        default=None,
        help="Expire snapshots older than this many days [default: setting snapshot_retention_days].",
    )
    @click.option(
        "--grace-hours",
        type=click.IntRange(min=0),
        default=None,
        help="Delete replaced or orphaned files only once this old [default: setting lake_file_grace_hours].",
    )
    def maintain(db: str | None, keep_days: int | None, grace_hours: int | None) -> None:
        """Expire old snapshots, merge small files, delete files no snapshot needs and orphaned files.

        Run it from cron after the nightly batch (weekly is enough). Time travel (`--as-of`)
        reaches back as far as the snapshots kept.

        \b
        Examples:
          aftersales maintain --db warehouse/aftersales.ducklake
          aftersales maintain --db warehouse/aftersales.ducklake --keep-days 90
        """
        from aftersales.lakehouse.location import LocationError
        from aftersales.lakehouse.maintenance import MaintenanceRefused, maintain_warehouse
        from aftersales.settings import load_settings

        settings = load_settings()
        try:
            summary = maintain_warehouse(
                db or settings.warehouse, keep_days=keep_days, grace_hours=grace_hours, settings=settings
            )
        except (MaintenanceRefused, LocationError) as exc:
            raise click.ClickException(str(exc)) from exc
        for line in summary.lines():
            click.echo(line)

    @group.command("migrate")
    @click.option(
        "--from",
        "source",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The single-file DuckDB warehouse to move (only read).",
    )
    @click.option(
        "--db",
        default=None,
        help="The lake: PATH.ducklake or ducklake:postgres:CONNINFO [default: `warehouse`].",
    )
    def migrate(source: Path, db: str | None) -> None:
        """Move every batch date, run, calibration and replay of a DuckDB file into a lake.

        One lake commit per batch date with a row-count check per table; a date already moved
        is skipped, so re-running (after an interruption, say) never duplicates. Point `--db`
        (or the `warehouse` setting) at the lake afterwards.

        \b
        Examples:
          aftersales migrate --from warehouse/aftersales.duckdb --db warehouse/aftersales.ducklake
          AFTERSALES_LAKE_DATA_PATH=/mnt/lake aftersales migrate --from old.duckdb \\
            --db 'ducklake:postgres:host=db.internal dbname=aftersales_lake'
        """
        from aftersales.lakehouse.location import LocationError
        from aftersales.lakehouse.migration import MigrationRefused, migrate_warehouse
        from aftersales.settings import load_settings

        settings = load_settings()
        try:
            summary = migrate_warehouse(source, db or settings.warehouse, settings=settings)
        except (MigrationRefused, LocationError) as exc:
            raise click.ClickException(str(exc)) from exc
        for line in summary.lines():
            click.echo(line)
