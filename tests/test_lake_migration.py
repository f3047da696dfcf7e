"""`aftersales migrate`: a single-file warehouse moved into a DuckLake, checked, idempotent, refusing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from aftersales.commands.lakehouse_admin import register
from aftersales.lakehouse.connect import attach_lake, lake_session, open_warehouse
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.lakehouse.migration import MigrationRefused, migrate_warehouse
from aftersales.warehouse_schema import create_result_tables

DATES = (date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27))


def _old_warehouse(path: Path, dates: tuple[date, ...] = DATES) -> Path:
    """A single-file warehouse as the swap publish leaves it: three dates, their runs, one calibration."""
    con = duckdb.connect(str(path))
    create_result_tables(con)
    for n, day in enumerate(dates):
        run_id = f"run-{day}"
        con.execute(
            "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, liable_party, "
            "remedy, policy_version) SELECT ?, ?, 'R' || range, 'return_refund', 'S1', 'US', 'buyer_favour', "
            "'seller', 'refund_only', 'p1' FROM range(?)",
            [day, run_id, 10 + n],
        )
        con.execute(
            "INSERT INTO runs (run_id, batch_date, started_at, status) VALUES (?, ?, TIMESTAMPTZ '2026-11-28 02:00:00+00', "
            "'success'), (?, ?, TIMESTAMPTZ '2026-11-28 01:00:00+00', 'failed')",
            [run_id, day, f"failed-{day}", day],
        )
    con.execute(
        "CREATE TABLE calibration_runs (calibration_id VARCHAR PRIMARY KEY, date_from DATE, cases BIGINT)"
    )
    con.execute("INSERT INTO calibration_runs VALUES ('cal-1', DATE '2026-11-25', 31)")
    con.close()
    return path


def _snapshots(lake: Path) -> int:
    con = lake_session()
    try:
        attach_lake(con, WarehouseLocation.parse(lake), read_only=True)
        return con.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0]
    finally:
        con.close()


def test_migrate_moves_every_date_run_and_side_table_and_is_idempotent(tmp_path):
    old = _old_warehouse(tmp_path / "old.duckdb")
    lake = tmp_path / "new.ducklake"
    group = click.Group()
    register(group)
    result = CliRunner().invoke(group, ["migrate", "--from", str(old), "--db", str(lake)])
    assert result.exit_code == 0, result.output
    assert "3 moved, 0 already there" in result.output
    assert "rulings: 33 rows (checked)" in result.output and "runs: 6 rows (checked)" in result.output

    con = open_warehouse(lake)
    try:
        assert con.execute("SELECT batch_date, count(*) FROM rulings GROUP BY ALL ORDER BY 1").fetchall() == [
            (DATES[0], 10),
            (DATES[1], 11),
            (DATES[2], 12),
        ]
        assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (6, 6)
        assert con.execute("SELECT * FROM calibration_runs").fetchall() == [("cal-1", DATES[0], 31)]
        assert (
            con.execute("SELECT count(*) FROM v_rulings_latest").fetchone()[0] > 0
        )  # views live in the lake
        files = con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'rulings')").fetchone()[0]
    finally:
        con.close()
    assert files == len(DATES)  # one Parquet file per batch date partition

    before = _snapshots(lake)
    again = migrate_warehouse(old, lake)
    assert again.dates_moved == [] and len(again.dates_already_there) == 3 and again.side_tables_moved == []
    assert _snapshots(lake) == before  # nothing re-written, nothing duplicated
    assert again.rows["rulings"] == 33 and again.rows["calibration_runs"] == 1


def test_migrate_refuses_to_overwrite_a_date_published_into_the_lake(tmp_path):
    old = _old_warehouse(tmp_path / "old.duckdb", DATES[2:])
    lake = tmp_path / "new.ducklake"
    migrate_warehouse(old, lake)
    con = lake_session()
    try:
        attach_lake(con, WarehouseLocation.parse(lake), read_only=False)
        con.execute(
            "INSERT INTO lake.runs (run_id, batch_date, started_at, status) "
            "VALUES ('lake-night', ?, TIMESTAMPTZ '2026-11-29 02:00:00+00', 'success')",
            [DATES[2]],
        )
        con.execute("INSERT INTO lake.calibration_runs VALUES ('cal-lake', DATE '2026-11-26', 5)")
    finally:
        con.close()
    with pytest.raises(MigrationRefused, match="2026-11-27 is already in the lake from run lake-night"):
        migrate_warehouse(old, lake)


def test_migrate_refuses_wrong_ends(tmp_path):
    old = _old_warehouse(tmp_path / "old.duckdb")
    with pytest.raises(MigrationRefused, match="is not a lake"):
        migrate_warehouse(old, tmp_path / "other.duckdb")
    with pytest.raises(MigrationRefused, match="does not exist"):
        migrate_warehouse(tmp_path / "missing.duckdb", tmp_path / "new.ducklake")
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"not a database at all" * 10)
    with pytest.raises(MigrationRefused, match="not a DuckDB database"):
        migrate_warehouse(garbage, tmp_path / "new.ducklake")
