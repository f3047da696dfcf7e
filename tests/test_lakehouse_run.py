"""The real nightly flow over the committed sample inbox, into a `.ducklake` and into a `.duckdb`:
the two warehouses must hold the same results, table by table and view by view (run ids aside)."""

from __future__ import annotations

import json

import pytest

from aftersales.analytics import VIEW_NAMES
from aftersales.lakehouse.connect import open_warehouse
from aftersales.warehouse_schema import BATCH_TABLES
from flows.nightly import nightly_batch

SAMPLE_BATCH_DATE = "2026-11-27"  # the sample inbox's business date (Makefile DEMO_DATE)

# `runs` columns that differ between any two runs (clocks, ids, where the run wrote).
RUN_SPECIFIC = {"run_id", "started_at", "finished_at", "flow_run_id", "stage_timings"}


@pytest.fixture(scope="module")
def warehouses(prefect_harness, inbox, tmp_path_factory):
    base = tmp_path_factory.mktemp("lake-vs-file")
    out = {}
    for kind in ("duckdb", "ducklake"):
        wh = base / f"wh.{kind}"
        result = nightly_batch(
            inbox=str(inbox),
            warehouse=str(wh),
            batch_date=SAMPLE_BATCH_DATE,
            report_dir=str(base / "reports"),
        )
        out[kind] = (wh, result)
    return out


def contents(wh, relation: str, drop: set[str]) -> list[tuple]:
    con = open_warehouse(wh)
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall() if r[0] not in drop]
        names = ", ".join(f'"{c}"' for c in cols)
        return con.execute(f"SELECT {names} FROM {relation} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_a_lake_and_a_single_file_hold_identical_results_table_by_table(warehouses):
    (file_wh, _), (lake_wh, _) = warehouses["duckdb"], warehouses["ducklake"]
    assert lake_wh.is_file() and (lake_wh.parent / "wh.ducklake.files").is_dir()
    for table in BATCH_TABLES:
        in_file = contents(file_wh, table, {"run_id"})
        assert contents(lake_wh, table, {"run_id"}) == in_file, table
    assert contents(lake_wh, "runs", RUN_SPECIFIC) == contents(file_wh, "runs", RUN_SPECIFIC)
    for view in VIEW_NAMES:
        assert contents(lake_wh, view, {"run_id"}) == contents(file_wh, view, {"run_id"}), view
    assert contents(lake_wh, "rulings", set()), "the sample batch judged no case"


def test_the_lake_run_is_one_snapshot_tagged_with_its_run_id_and_wrote_its_report(warehouses):
    lake_wh, result = warehouses["ducklake"]
    con = open_warehouse(lake_wh)
    try:
        (run_id,) = con.execute("SELECT run_id FROM runs WHERE status = 'success'").fetchone()
        tags = [
            json.loads(extra)
            for (extra,) in con.execute("SELECT commit_extra_info FROM lake.snapshots()").fetchall()
            if extra
        ]
        assert tags == [{"batch_date": SAMPLE_BATCH_DATE, "run_id": run_id}]
    finally:
        con.close()
    reports = list((lake_wh.parent / "reports" / run_id).glob("aftersales-report-*.html"))
    assert reports, f"no report page for {run_id}: {result}"
