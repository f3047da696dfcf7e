"""Publishing into a real DuckLake (SQLite catalog in tmp_path) and reading it back.

Work databases here are real DuckDB files with every result table of aftersales.warehouse_schema
and a few typed rows per batch table, published by the production `publish_batch`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from aftersales.analytics import VIEW_NAMES, create_views
from aftersales.cli import cli
from aftersales.commands.export import export_tables
from aftersales.lakehouse.connect import AsOfUnavailable, open_warehouse
from aftersales.publish import publish_batch
from aftersales.publish.swap import warehouse_problem
from aftersales.warehouse_schema import BATCH_TABLES, create_result_tables, expected_columns

DAY1, DAY2 = date(2026, 11, 27), date(2026, 11, 28)


def _value(data_type: str, n: int, day: date, run_id: str) -> str:
    """A typed literal for row `n` (every column filled, so NOT NULL columns bind)."""
    if data_type.endswith("[]") and data_type.startswith("STRUCT"):
        return f"CAST([] AS {data_type})"
    if data_type.endswith("[]"):
        return f"['v{n}']"
    return {
        "DATE": f"DATE '{day.isoformat()}'",
        "VARCHAR": f"'{run_id}-{n}'",
        "INTEGER": str(n),
        "BIGINT": str(n),
        "DOUBLE": f"{n}.5",
        "BOOLEAN": "true",
        "JSON": "'{}'",
        "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ '2026-11-27 10:00:00+00'",
    }.get(data_type, f"CAST({n} AS {data_type})")


def make_work_db(path: Path, day: date, run_id: str, rows: int) -> Path:
    """A work database holding `rows` rows of `day` in every batch table."""
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        create_result_tables(con)
        for table, columns in expected_columns().items():
            if table == "runs":
                continue
            for n in range(rows):
                values = []
                for column, data_type in columns:
                    if column == "run_id":
                        values.append(f"'{run_id}'")
                    elif column == "batch_date":
                        values.append(f"DATE '{day.isoformat()}'")
                    else:
                        values.append(_value(data_type, n, day, run_id))
                con.execute(f"INSERT INTO {table} VALUES ({', '.join(values)})")
    finally:
        con.close()
    return path


def run_row(run_id: str, day: date, status: str = "success") -> dict:
    return {
        "run_id": run_id,
        "batch_date": day.isoformat(),
        "started_at": "2026-11-28T02:00:00+00:00",
        "finished_at": "2026-11-28T02:05:00+00:00",
        "status": status,
    }


def publish(tmp_path: Path, wh: Path, day: date, run_id: str, rows: int, extra_runs=(), **kw):
    work = make_work_db(tmp_path / f"work-{run_id}.duckdb", day, run_id, rows)
    return publish_batch(work, wh, day, [*extra_runs, run_row(run_id, day)], after_swap_in=create_views, **kw)


def counts(wh, as_of_run: str | None = None) -> dict[tuple[str, date], tuple[int, list[str]]]:
    """(table, batch date) -> (rows, distinct run ids), read through the one opener."""
    con = open_warehouse(wh, as_of_run=as_of_run)
    try:
        out = {}
        for t in BATCH_TABLES:
            for day, n, runs in con.execute(
                f"SELECT batch_date, count(*), list(DISTINCT run_id ORDER BY run_id) FROM {t} GROUP BY 1"
            ).fetchall():
                out[(t, day)] = (n, runs)
        return out
    finally:
        con.close()


FAILED = run_row("r-killed", DAY1, "failed")


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """A lake after four nights: DAY1 by r1, DAY2 by r2, DAY1 again by r3 and r4 (both settling
    the same failed attempt, as after a kill between commit and journal clear). Tests copy it."""
    folder = tmp_path_factory.mktemp("history")
    wh = folder / "wh.ducklake"
    first = publish(folder, wh, DAY1, "r1", rows=3)
    assert first.rows == {t: 3 for t in BATCH_TABLES}
    publish(folder, wh, DAY2, "r2", rows=2)
    publish(folder, wh, DAY1, "r3", rows=4, extra_runs=[FAILED])
    publish(folder, wh, DAY1, "r4", rows=4, extra_runs=[FAILED])
    return wh


def copy_lake(wh: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wh, folder / wh.name)
    shutil.copytree(wh.with_name(wh.name + ".files"), folder / (wh.name + ".files"))
    return folder / wh.name


def test_publish_writes_partitioned_parquet_views_and_one_tagged_snapshot_per_night(history):
    con = open_warehouse(history)
    try:
        snaps = con.execute(
            "SELECT commit_message, commit_extra_info FROM lake.snapshots() ORDER BY 1"
        ).fetchall()
        tagged = [json.loads(extra) for _, extra in snaps if extra]
        assert sorted(t["run_id"] for t in tagged) == ["r1", "r2", "r3", "r4"]  # schema included in r1's
        assert len(snaps) == 5  # snapshot 0 (the empty lake) and one per publish
        assert {"run_id": "r2", "batch_date": "2026-11-28"} in tagged
        views = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE database_name = 'lake'"
            ).fetchall()
        }
        assert set(VIEW_NAMES) <= views  # stored in the lake, not session views
        assert con.execute("SELECT count(*) FROM v_rulings_latest").fetchone()[0] == 6
        # Every row is in Parquet under batch_date=..., none inlined in the catalog.
        files = con.execute(
            "SELECT data_file, delete_file FROM ducklake_list_files('lake', 'rulings')"
        ).fetchall()
        assert sorted(Path(f).parent.name for f, _ in files) == [
            "batch_date=2026-11-27",
            "batch_date=2026-11-28",
        ]
        in_files = sum(
            con.execute(f"SELECT count(*) FROM read_parquet('{f}')").fetchone()[0] for f, _ in files
        )
        assert in_files == con.execute("SELECT count(*) FROM rulings").fetchone()[0] == 6
        option = "SELECT value FROM lake.options() WHERE option_name = 'data_inlining_row_limit'"
        assert con.execute(option).fetchone()[0] == "0"
        # Whole-date deletes drop whole files: readers of the Parquet files need no delete files.
        for table in BATCH_TABLES:
            listed = con.execute(f"SELECT delete_file FROM ducklake_list_files('lake', '{table}')").fetchall()
            assert listed == [(None,), (None,)], table
        assert con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall() == [
            ("r-killed", "failed"), ("r1", "success"), ("r2", "success"), ("r3", "success"), ("r4", "success"),
        ]  # fmt: skip
    finally:
        con.close()


def test_republishing_replaces_only_that_date_and_time_travel_shows_each_night(history):
    now = counts(history)
    assert now == {
        **{(t, DAY1): (4, ["r4"]) for t in BATCH_TABLES},
        **{(t, DAY2): (2, ["r2"]) for t in BATCH_TABLES},
    }
    assert counts(history, as_of_run="r1") == {(t, DAY1): (3, ["r1"]) for t in BATCH_TABLES}
    after_r2 = counts(history, as_of_run="r2")
    assert (after_r2[("rulings", DAY1)], after_r2[("rule_hits", DAY2)]) == ((3, ["r1"]), (2, ["r2"]))
    with pytest.raises(AsOfUnavailable, match="r-killed published no snapshot"):
        open_warehouse(history, as_of_run="r-killed")


def test_a_publish_failing_inside_the_transaction_leaves_the_lake_as_it_was(history, tmp_path):
    wh = copy_lake(history, tmp_path / "lake")
    before = counts(wh)

    def broken_views(con):
        raise RuntimeError("view refresh failed")

    work = make_work_db(tmp_path / "work-r5.duckdb", DAY1, "r5", 5)
    with pytest.raises(RuntimeError, match="view refresh failed"):
        publish_batch(work, wh, DAY1, [run_row("r5", DAY1)], after_swap_in=broken_views)
    assert counts(wh) == before
    con = open_warehouse(wh)
    try:
        assert con.execute("SELECT count(*) FROM lake.snapshots()").fetchone()[0] == 5
        assert con.execute("SELECT count(*) FROM runs WHERE run_id = 'r5'").fetchone()[0] == 0
    finally:
        con.close()


def test_a_lake_missing_a_newer_column_gains_it_on_publish_and_old_rows_read_null(history, tmp_path):
    wh = copy_lake(history, tmp_path / "lake")
    last_column = expected_columns()["rulings"][-1][0]
    con = open_warehouse(wh, read_only=False)
    try:
        con.execute(f'ALTER TABLE rulings DROP COLUMN "{last_column}"')
    finally:
        con.close()
    publish(tmp_path, wh, DAY2, "r5", rows=2)
    con = open_warehouse(wh)
    try:
        got = con.execute(f'SELECT batch_date, count("{last_column}") FROM rulings GROUP BY ALL ORDER BY ALL')
        assert got.fetchall() == [(DAY1, 0), (DAY2, 2)]
    finally:
        con.close()


def test_sql_and_explain_as_of_read_a_lake_snapshot_and_refuse_a_single_file_in_one_line(history, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["sql", "--db", str(history), "--as-of", "r1", "SELECT count(*) AS n FROM rulings"]
    )
    assert (result.exit_code, result.output) == (0, "n\n3\n")
    result = runner.invoke(cli, ["sql", "--db", str(history), "SELECT count(*) AS n FROM rulings"])
    assert (result.exit_code, result.output) == (0, "n\n6\n")
    wh = tmp_path / "wh.duckdb"
    publish(tmp_path, wh, DAY1, "r1", rows=1)
    for args in (
        ["sql", "--db", str(wh), "--as-of", "r1", "SELECT 1"],
        ["explain", "x", "--db", str(wh), "--as-of", "r1"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines() == [
            f"Error: --as-of needs a lakehouse warehouse (.ducklake): {wh} is a single DuckDB file, "
            "which keeps no history"
        ]


def test_export_from_a_lake_writes_the_current_partitions_that_pandas_and_duckdb_read_back(history, tmp_path):
    out = tmp_path / "export"
    results = export_tables(history, out, "parquet", ["rulings", "runs"])
    assert [(r.table, r.rows, r.batch_dates) for r in results] == [("rulings", 6, 2), ("runs", 5, 2)]
    # The lake's data folder still holds the replaced nights' files (until `maintain`): reading it
    # directly would count DAY1 three times. The export holds the current snapshot only.
    lake_files = list((history.parent / "wh.ducklake.files" / "main" / "rulings").rglob("*.parquet"))
    assert len(lake_files) == 4
    frame = pd.read_parquet(out / "rulings")  # pyarrow: batch_date from the folder names
    assert sorted(frame["run_id"].value_counts().items()) == [("r2", 2), ("r4", 4)]
    con = open_warehouse(history)
    try:
        names = ", ".join(f'"{d[0]}"' for d in con.execute("SELECT * FROM rulings LIMIT 0").description)
        table = con.execute(f"SELECT {names} FROM rulings ORDER BY ALL").fetchall()
        exported = f"read_parquet('{out}/rulings/*/*.parquet', hive_partitioning = true)"
        assert con.execute(f"SELECT {names} FROM {exported} ORDER BY ALL").fetchall() == table
    finally:
        con.close()


def test_a_lake_copied_with_its_files_opens_elsewhere_and_garbage_is_refused(history, tmp_path):
    moved = copy_lake(history, tmp_path / "b")
    assert counts(moved) == counts(history)
    assert warehouse_problem(moved) is None and warehouse_problem(tmp_path / "new.ducklake") is None
    garbage = tmp_path / "garbage.ducklake"
    garbage.write_text("not a catalog")
    assert warehouse_problem(garbage).startswith(f"warehouse {garbage} is not a DuckLake this DuckDB")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_warehouse(tmp_path / "missing.ducklake")


READER = textwrap.dedent(
    """
    import json, sys, pathlib, time
    from aftersales.lakehouse.connect import open_warehouse
    wh, stop = sys.argv[1], pathlib.Path(sys.argv[2])
    seen, errors, loops, slowest = [], [], 0, 0.0
    con = open_warehouse(wh)  # one long-lived reader: each query sees the snapshot current at its start
    while not stop.exists():
        t0 = time.monotonic()
        try:
            state = con.execute(
                "SELECT (SELECT list(DISTINCT run_id ORDER BY run_id) || [count(*)::VARCHAR] FROM rulings),"
                "       (SELECT list(DISTINCT run_id ORDER BY run_id) || [count(*)::VARCHAR] FROM rule_hits)"
            ).fetchone()
            if not seen or seen[-1] != list(state):
                seen.append(list(state))
            loops += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)  # a busy reader, not a CPU hog on a shared machine
    print(json.dumps({"seen": seen, "errors": errors[:3], "loops": loops, "slowest_s": slowest}))
    """
)


def test_a_reader_in_another_process_is_never_blocked_and_never_sees_half_a_batch(tmp_path):
    wh = tmp_path / "wh.ducklake"
    publish(tmp_path, wh, DAY1, "r0", rows=1)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(wh), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(2.0)  # the reader has loaded its extensions and is querying
        for n in range(1, 4):
            publish(tmp_path, wh, DAY1, f"r{n}", rows=n + 1)
        time.sleep(0.3)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    result = json.loads(out)
    assert result["errors"] == [] and result["loops"] > 5
    for rulings, rule_hits in result["seen"]:
        assert rulings == rule_hits  # both tables from the same batch, never one old and one new
        run_ids, n = rulings[:-1], int(rulings[-1])
        assert len(run_ids) == 1 and n == int(run_ids[0][1:]) + 1  # one whole run's rows
    assert result["seen"][-1][0] == ["r3", "4"]
    assert result["slowest_s"] < 10  # never blocked behind a publish (a commit may delay it briefly)
