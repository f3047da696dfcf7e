"""`aftersales maintain` on a real DuckLake (SQLite catalog, Parquet files): expire, merge, clean, orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from aftersales.commands.lakehouse_admin import register
from aftersales.lakehouse.connect import attach_lake, lake_session
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.lakehouse.maintenance import MaintenanceRefused, maintain_warehouse

DATES = (date(2026, 11, 26), date(2026, 11, 27))


def _publish_nights(lake: Path, nights: int) -> None:
    """Each batch date replaced once a night, one commit each, as the nightly publish does (delete + insert)."""
    con = lake_session()
    try:
        attach_lake(con, WarehouseLocation.parse(lake), read_only=False)
        con.execute("CREATE TABLE lake.rulings (batch_date DATE, case_id VARCHAR, n INTEGER)")
        con.execute("ALTER TABLE lake.rulings SET PARTITIONED BY (batch_date)")
        for night in range(nights):
            for d in DATES:
                con.execute("BEGIN")
                con.execute("DELETE FROM lake.rulings WHERE batch_date = ?", [d])
                con.execute(
                    "INSERT INTO lake.rulings SELECT ?, 'c' || range, range FROM range(?)", [d, 50 + night]
                )
                con.execute("COMMIT")
    finally:
        con.close()


def _files(lake: Path) -> list[Path]:
    return sorted(p for p in Path(f"{lake}.files").rglob("*") if p.is_file())


def _rows(lake: Path) -> list[tuple]:
    con = lake_session()
    try:
        attach_lake(con, WarehouseLocation.parse(lake), read_only=True)
        return con.execute(
            "SELECT batch_date, count(*), sum(n) FROM lake.rulings GROUP BY ALL ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from aftersales.lakehouse.connect import attach_lake, lake_session
    from aftersales.lakehouse.location import WarehouseLocation
    con = lake_session()
    attach_lake(con, WarehouseLocation.parse(sys.argv[1]), read_only=False)
    con.execute("BEGIN")
    con.execute("INSERT INTO lake.rulings SELECT DATE '2026-11-28', 'k' || range, range FROM range(200000)")
    print("written", flush=True)
    time.sleep(120)
    """
)


def _killed_publish(lake: Path) -> None:
    """A writer SIGKILLed after its Parquet files are written, before its commit: orphans."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(lake)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def lake(tmp_path) -> Path:
    """Two batch dates, each published three times (reruns), plus a SIGKILLed publish's files."""
    path = tmp_path / "wh.ducklake"
    _publish_nights(path, 3)
    _killed_publish(path)
    return path


def test_maintain_keeps_recent_files_then_expires_merges_and_deletes_orphans(lake):
    expected = _rows(lake)
    assert [r[1] for r in expected] == [52, 52]
    files_before = _files(lake)
    summary = maintain_warehouse(lake, keep_days=30, grace_hours=24)
    assert summary.snapshots_expired == 0
    assert summary.orphaned_files_deleted == 0 and summary.old_files_deleted == 0  # all younger than 24 h
    assert any("2026-11-28" in str(p) for p in _files(lake))  # the orphan waits for the grace period
    con = lake_session()
    try:
        attach_lake(con, WarehouseLocation.parse(lake), read_only=True)
        first_publish = con.execute(
            "SELECT min(snapshot_id) FROM ducklake_snapshots('lake') WHERE changes['tables_inserted_into'] IS NOT NULL"
        ).fetchone()[0]
        counts = con.execute(f"SELECT count(*) FROM lake.rulings AT (VERSION => {first_publish})").fetchone()[
            0
        ]
    finally:
        con.close()
    assert counts == 50  # the first night's rows, through a merge: time travel survives maintenance
    assert _rows(lake) == expected

    group = click.Group()
    register(group)
    result = CliRunner().invoke(
        group, ["maintain", "--db", str(lake), "--keep-days", "0", "--grace-hours", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "snapshots: " in result.output and " kept" in result.output and "orphaned" in result.output
    con = lake_session()
    try:
        attach_lake(con, WarehouseLocation.parse(lake), read_only=True)
        assert con.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0] == 1
    finally:
        con.close()
    assert _rows(lake) == expected  # the published results are untouched
    after = _files(lake)
    assert len(after) == len(DATES)  # one file per batch date partition; replaced reruns' files gone
    assert all("2026-11-28" not in str(p) for p in after)  # the killed publish's orphans gone
    assert len(files_before) >= 3 * len(DATES) + 1


def test_maintain_refuses_a_single_file_warehouse(tmp_path):
    single = tmp_path / "wh.duckdb"
    duckdb.connect(str(single)).close()
    with pytest.raises(MaintenanceRefused, match="single DuckDB file"):
        maintain_warehouse(single)
    with pytest.raises(MaintenanceRefused, match="does not exist"):
        maintain_warehouse(tmp_path / "none.ducklake")
    group = click.Group()
    register(group)
    result = CliRunner().invoke(group, ["maintain", "--db", str(single)])
    assert result.exit_code == 1 and "single DuckDB file" in result.output
