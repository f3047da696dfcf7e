"""A DuckLake with its catalog in PostgreSQL: two processes (two "machines") publish into one lake."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
from lake_postgres import postgres_server  # noqa: F401  (pytest fixture)

from aftersales.lakehouse.connect import attach_lake, lake_session, open_warehouse
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.lakehouse.maintenance import maintain_warehouse
from aftersales.settings import load_settings

D1, D2 = date(2026, 11, 26), date(2026, 11, 27)

PUBLISHER = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path

    import duckdb

    from aftersales.publish import publish_batch
    from aftersales.warehouse_schema import create_result_tables

    lake, work, day, run_id, cases = sys.argv[1], Path(sys.argv[2]), date.fromisoformat(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    con = duckdb.connect(str(work))
    create_result_tables(con)
    con.execute(
        "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, liable_party, "
        "remedy, policy_version) SELECT ?, ?, 'R' || range, 'return_refund', 'S1', 'US', 'buyer_favour', "
        "'seller', 'refund_only', 'test' FROM range(?)",
        [day, run_id, cases],
    )
    con.close()
    run = {"run_id": run_id, "batch_date": day.isoformat(), "started_at": "2026-11-28T02:00:00+00:00",
           "finished_at": "2026-11-28T02:01:00+00:00", "status": "success", "policy_version": "test"}
    summary = publish_batch(work, lake, day, [run])
    print(summary.rows["rulings"])
    """
)


def _create_lake(lake: str, data_path) -> None:
    """Create the DuckLake in the empty catalog database (what the first writable ATTACH does)."""
    settings = load_settings().with_overrides(lake_data_path=str(data_path))
    con = lake_session(settings)
    try:
        attach_lake(con, WarehouseLocation.parse(lake, settings), read_only=False)
    finally:
        con.close()


def test_two_processes_publish_two_batch_dates_into_one_postgres_catalog_lake(postgres_server, tmp_path):  # noqa: F811
    env = os.environ | {"AFTERSALES_LAKE_DATA_PATH": str(tmp_path / "lake-data")}
    _create_lake(postgres_server.lake, tmp_path / "lake-data")
    publishers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PUBLISHER,
                postgres_server.lake,
                str(tmp_path / f"work-{n}.duckdb"),
                day.isoformat(),
                f"run-{n}",
                str(cases),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, (day, cases) in enumerate(((D1, 3), (D2, 5)))
    ]
    outputs = [p.communicate(timeout=180) for p in publishers]
    for proc, (_out, err) in zip(publishers, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert [out.strip() for out, _ in outputs] == ["3", "5"]

    os.environ["AFTERSALES_LAKE_DATA_PATH"] = env["AFTERSALES_LAKE_DATA_PATH"]
    try:
        con = open_warehouse(postgres_server.lake)
        try:
            by_date = con.execute(
                "SELECT batch_date, run_id, count(*) FROM rulings GROUP BY ALL ORDER BY 1"
            ).fetchall()
            runs = con.execute("SELECT run_id, batch_date FROM runs ORDER BY 1").fetchall()
            files = con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'rulings')").fetchone()[0]
        finally:
            con.close()
        maintained = maintain_warehouse(postgres_server.lake, keep_days=0, grace_hours=0)
        con = open_warehouse(postgres_server.lake)
        try:
            after = con.execute(
                "SELECT batch_date, run_id, count(*) FROM rulings GROUP BY ALL ORDER BY 1"
            ).fetchall()
        finally:
            con.close()
    finally:
        del os.environ["AFTERSALES_LAKE_DATA_PATH"]
    assert maintained.snapshots_kept == 1 and after == by_date  # maintenance works on the shared catalog too
    assert by_date == [(D1, "run-0", 3), (D2, "run-1", 5)]
    assert runs == [("run-0", D1), ("run-1", D2)]
    assert files == 2  # one Parquet file per batch date, in the shared data path
    parquet = sorted(
        p.relative_to(tmp_path / "lake-data") for p in (tmp_path / "lake-data").rglob("*.parquet")
    )
    assert any(str(p).startswith("main/rulings/batch_date=2026-11-26") for p in parquet)


@pytest.mark.slow
def test_a_nightly_run_publishes_into_an_empty_postgres_catalog_and_sql_reads_it(postgres_server, tmp_path):  # noqa: F811
    """`aftersales run --db ducklake:postgres:...` end to end: the first publish creates the lake in
    an empty catalog database; the run's work folder and locks live under the shared data path."""
    data = tmp_path / "lake-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env |= {"AFTERSALES_LAKE_DATA_PATH": str(data), "AFTERSALES_PSEUDONYM_KEY": "5e" * 32}
    inbox = Path(__file__).resolve().parent.parent / "data" / "sample" / "inbox"
    run = subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "run", "--inbox", str(inbox), "--db", postgres_server.lake,
         "--batch-date", D2.isoformat(), "--report-dir", str(tmp_path / "reports")],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert list((data / "_aftersales").parent.glob("_aftersales.run-2026-11-27.lock"))  # the shared run lock
    query = subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "sql", "--db", postgres_server.lake,
         "SELECT count(*) AS cases, count(DISTINCT shop_id) AS shops FROM rulings WHERE batch_date = DATE '2026-11-27'"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr[-3000:]
    cases, shops = (int(v) for v in query.stdout.splitlines()[1].split(","))
    assert cases > 50 and shops == 7
    assert (data / "_aftersales").exists() or any(data.rglob("*.parquet"))
    assert not list(tmp_path.glob("ducklake:*"))  # the address was never taken for a local path (cwd)
