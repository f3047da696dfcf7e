"""`aftersales sql`: one read-only query, every table and view under its plain name (contract §3)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from test_views_sample import build_sample_warehouse

from aftersales.cli import main
from aftersales.warehouse_schema import RESULT_DDL


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return build_sample_warehouse(tmp_path_factory.mktemp("sql") / "wh.duckdb")


def test_csv_is_the_default_with_a_header_line_and_exact_values(warehouse, capsys):
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    query = "SELECT case_id, decision, score, batch_date FROM rulings ORDER BY case_id, batch_date"
    assert main(["sql", "--db", str(warehouse), query]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    con = duckdb.connect(str(warehouse), read_only=True)
    expected = con.execute(query).fetchall()
    con.close()
    assert rows[0] == ["case_id", "decision", "score", "batch_date"]
    assert len(rows) - 1 == len(expected) > 0
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [(e[0], e[1], e[3].isoformat()) for e in expected]
    assert [float(r[2]) for r in rows[1:]] == pytest.approx([float(e[2]) for e in expected])
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before  # read-only


def test_every_contract_table_and_view_is_visible_by_plain_name(warehouse, capsys):
    for name in [*RESULT_DDL, "v_rulings_latest", "v_seller_scorecard"]:
        assert main(["sql", "--db", str(warehouse), f"SELECT count(*) AS n FROM {name}"]) == 0, name
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "n" and int(out[1]) >= 0


def test_json_and_table_formats(warehouse, capsys):
    q = "SELECT market, count(*) AS cases FROM rulings GROUP BY market ORDER BY market"
    assert main(["sql", "--db", str(warehouse), "--format", "json", q]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data and set(data[0]) == {"market", "cases"} and all(isinstance(d["cases"], int) for d in data)
    assert main(["sql", "--db", str(warehouse), "--format", "table", q]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["market", "cases"] and lines[-1] == f"({len(data)} rows)"


def test_refusals_are_one_line(tmp_path, warehouse):
    cases = [
        (["--db", str(tmp_path / "missing.duckdb"), "SELECT 1"], "does not exist"),
        (["--db", str(warehouse), "SELECT * FROM no_such_table"], "query failed"),
        (["--db", str(warehouse), "DELETE FROM rulings"], "query failed"),
    ]
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"not a database at all" * 100)
    cases.append((["--db", str(garbage), "SELECT 1"], "cannot be opened"))
    for args, cause in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "aftersales.cli", "sql", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and cause in proc.stderr, proc.stderr
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM rulings").fetchone()[0] > 0  # the DELETE did nothing
    con.close()


def test_query_from_stdin(warehouse):
    proc = subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "sql", "--db", str(warehouse)],
        input="SELECT 41 + 1 AS answer",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["answer", "42"]
