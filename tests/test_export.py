"""`aftersales export`: Hive-partitioned files per batch date that read back to the same rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from test_views_sample import BATCHES, D1, build_sample_warehouse

from aftersales.cli import main
from aftersales.warehouse_schema import RESULT_DDL


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return build_sample_warehouse(tmp_path_factory.mktemp("export") / "wh.duckdb")


def per_batch_counts(con: duckdb.DuckDBPyConnection, relation: str) -> dict:
    return dict(con.execute(f"SELECT batch_date, count(*) FROM {relation} GROUP BY ALL").fetchall())


def test_parquet_export_writes_one_partition_per_batch_date_and_round_trips(warehouse, tmp_path, capsys):
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    out = tmp_path / "exports"
    assert main(["export", "--db", str(warehouse), "--out", str(out)]) == 0
    assert f"exported {len(RESULT_DDL)} tables" in capsys.readouterr().out
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in RESULT_DDL:
            expected = per_batch_counts(con, table)
            if not expected:  # an empty table has no batch date to partition by
                assert not (out / table).exists() or not any((out / table).iterdir()), table
                continue
            assert {p.name for p in (out / table).iterdir()} == {f"batch_date={d:%Y-%m-%d}" for d in expected}
            for day in expected:
                assert (out / table / f"batch_date={day:%Y-%m-%d}" / "data_0.parquet").is_file()
            files = f"read_parquet('{out / table}/*/*.parquet', hive_partitioning = true)"
            assert per_batch_counts(con, files) == expected
            columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            col_list = ", ".join(columns)
            # every value survives, types included (lists, JSON text, instants, decimals)
            assert (
                con.execute(f"SELECT {col_list} FROM {table} ORDER BY ALL").fetchall()
                == con.execute(f"SELECT {col_list} FROM {files} ORDER BY ALL").fetchall()
            ), table
    finally:
        con.close()
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before  # read-only


def test_csv_export_of_selected_tables(warehouse, tmp_path, capsys):
    out = tmp_path / "csv"
    code = main(
        [
            "export",
            "--format",
            "csv",
            "--db",
            str(warehouse),
            "--out",
            str(out),
            "--tables",
            "rulings,sla_breaches",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["rulings", "sla_breaches"]
    header = (out / "rulings" / f"batch_date={D1:%Y-%m-%d}" / "data_0.csv").read_text().splitlines()[0]
    assert header.startswith("run_id,case_id,case_kind,shop_id")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table in ("rulings", "sla_breaches"):
            files = f"read_csv('{out / table}/*/*.csv', hive_partitioning = true)"
            assert per_batch_counts(con, files) == per_batch_counts(con, table)
        met = con.execute(
            f"SELECT count(*) FROM read_csv('{out}/sla_breaches/*/*.csv', hive_partitioning = true) "
            "WHERE met_at IS NOT NULL"
        ).fetchone()[0]
        assert met == con.execute("SELECT count(*) FROM sla_breaches WHERE met_at IS NOT NULL").fetchone()[0]
    finally:
        con.close()
    assert "rulings" in capsys.readouterr().out


def test_overwrite_replaces_the_whole_table_folder(warehouse, tmp_path):
    out = tmp_path / "exports"
    assert main(["export", "--db", str(warehouse), "--out", str(out), "--tables", "rulings"]) == 0
    changed = tmp_path / "changed.duckdb"
    changed.write_bytes(warehouse.read_bytes())
    con = duckdb.connect(str(changed))
    con.execute("DELETE FROM rulings WHERE batch_date = ?", [D1])
    con.close()
    assert (
        main(["export", "--db", str(changed), "--out", str(out), "--tables", "rulings", "--overwrite"]) == 0
    )
    assert sorted(p.name for p in (out / "rulings").iterdir()) == [
        f"batch_date={d:%Y-%m-%d}" for d in BATCHES[1:]
    ]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folders left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tables", "rulings,bogus"], "unknown table(s) bogus; choose from runs,"),
        (["--tables", "rulings"], "already exists; pass --overwrite"),
        (["--db", "{tmp}/missing.duckdb"], "missing.duckdb does not exist"),
        (["--db", "{tmp}/not-a-db.duckdb"], "cannot open"),
    ],
)
def test_errors_are_one_clear_line(warehouse, tmp_path, capsys, args, message):
    (tmp_path / "out" / "rulings").mkdir(parents=True)
    (tmp_path / "not-a-db.duckdb").write_text("this is not a database")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    db = [] if "--db" in args else ["--db", str(warehouse)]
    assert main(["export", *db, "--out", str(tmp_path / "out"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_help_shows_examples(capsys):
    assert main(["export", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Examples:" in text and "--format csv" in text and "batch_date=YYYY-MM-DD" in text
