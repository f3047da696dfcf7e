"""`aftersales maintain`: keep a lake's history bounded and its files few, as a step apart from publish.

A DuckLake never deletes anything on its own: every nightly publish adds a snapshot and Parquet
files, a replaced batch date keeps its old files for time travel, and a publish killed before
its commit leaves Parquet files no snapshot names. Maintenance, in this order:

  1. merges adjacent small files of each partition (one batch date's rows of a table become one
     file; snapshots still kept keep their view of the rows: time travel survives a merge);
  2. expires snapshots older than the retention (`snapshot_retention_days`; `--as-of` a run
     whose snapshot expired says so), the latest snapshot always stays (merging first, so that
     the merge's own snapshot is the latest and retention 0 leaves exactly one);
  3. deletes the files no kept snapshot needs any more (expired or merged away);
  4. deletes orphaned files (a killed publish's leftovers, the 0-byte one included).

Steps 3 and 4 delete only files older than a grace period (`lake_file_grace_hours`): a reader
that started before a merge may still be scanning the files it replaced, and a publish running
right now has written files its commit has not yet named. A single DuckDB file warehouse has
nothing of this (publish rewrites it whole each night): it is refused in one line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aftersales.lakehouse.connect import attach_lake, lake_session
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.settings import Settings, load_settings

MAINTENANCE_ALIAS = "lake"


class MaintenanceRefused(RuntimeError):
    """The warehouse cannot be maintained (a single DuckDB file, or nothing published yet)."""


@dataclass(frozen=True)
class MaintenanceSummary:
    warehouse: str
    keep_days: int
    grace_hours: int
    snapshots_expired: int
    snapshots_kept: int
    files_merged: int  # small files read by merges
    files_written: int  # files the merges wrote
    old_files_deleted: int
    orphaned_files_deleted: int
    data_bytes_before: int | None  # None: the data path is not a local folder
    data_bytes_after: int | None
    seconds: float

    def lines(self) -> list[str]:
        """What was done, one fact a line (the command prints these)."""
        out = [
            f"warehouse {self.warehouse}",
            f"snapshots: {self.snapshots_expired} expired (older than {self.keep_days} days), "
            f"{self.snapshots_kept} kept",
            f"small files: {self.files_merged} merged into {self.files_written}",
            f"files deleted: {self.old_files_deleted} no longer needed, {self.orphaned_files_deleted} orphaned "
            f"(only files older than {self.grace_hours} h)",
        ]
        if self.data_bytes_before is not None and self.data_bytes_after is not None:
            out.append(f"data files: {_mib(self.data_bytes_before)} -> {_mib(self.data_bytes_after)}")
        out.append(f"took {self.seconds:.2f} s")
        return out


def maintain_warehouse(
    db: str | Path | WarehouseLocation,
    *,
    keep_days: int | None = None,
    grace_hours: int | None = None,
    settings: Settings | None = None,
) -> MaintenanceSummary:
    """Expire, merge and clean one lake (defaults: the settings' retention and grace period)."""
    settings = settings or load_settings()
    location = WarehouseLocation.parse(db, settings)
    keep_days = settings.snapshot_retention_days if keep_days is None else keep_days
    grace_hours = settings.lake_file_grace_hours if grace_hours is None else grace_hours
    if keep_days < 0 or grace_hours < 0:
        raise ValueError("retention days and grace hours must be 0 or more")
    if not location.is_lake:
        raise MaintenanceRefused(
            f"warehouse {location.display} is a single DuckDB file: publish rewrites it whole every night, "
            "so it keeps no snapshots or stray files to clean; maintain works on a lake "
            f"(`aftersales migrate --from {location.display} --db NEW.ducklake`)"
        )
    if not location.exists:
        raise MaintenanceRefused(f"warehouse {location.display} does not exist (nothing published yet)")
    started = time.monotonic()
    before = data_path_bytes(location)
    con = lake_session(settings)
    try:
        attach_lake(con, location, read_only=False, alias=MAINTENANCE_ALIAS)
        counts = _maintain(con, MAINTENANCE_ALIAS, keep_days, grace_hours)
    finally:
        con.close()
    return MaintenanceSummary(
        warehouse=location.display,
        keep_days=keep_days,
        grace_hours=grace_hours,
        data_bytes_before=before,
        data_bytes_after=data_path_bytes(location),
        seconds=round(time.monotonic() - started, 3),
        **counts,
    )


def _maintain(con: duckdb.DuckDBPyConnection, alias: str, keep_days: int, grace_hours: int) -> dict[str, int]:
    """The four DuckLake maintenance calls on an attached, writable lake; counts of what each did."""
    merges = con.execute(f"CALL ducklake_merge_adjacent_files('{alias}')").fetchall()
    expired = con.execute(
        f"CALL ducklake_expire_snapshots('{alias}', older_than => now() - INTERVAL '{int(keep_days)} days')"
    ).fetchall()
    cutoff = f"now() - INTERVAL '{int(grace_hours)} hours'"
    old_files = con.execute(f"CALL ducklake_cleanup_old_files('{alias}', older_than => {cutoff})").fetchall()
    orphans = con.execute(
        f"CALL ducklake_delete_orphaned_files('{alias}', older_than => {cutoff})"
    ).fetchall()
    kept = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{alias}')").fetchone()[0]
    return {
        "snapshots_expired": len(expired),
        "snapshots_kept": int(kept),
        "files_merged": sum(int(r[2]) for r in merges),
        "files_written": sum(int(r[3]) for r in merges),
        "old_files_deleted": len(old_files),
        "orphaned_files_deleted": len(orphans),
    }


def data_path_bytes(location: WarehouseLocation) -> int | None:
    """Bytes of every file under a lake's data path (None when it is not a local folder)."""
    if not location.data_path or "://" in location.data_path:
        return None
    total = 0
    for root, _dirs, files in os.walk(location.data_path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
