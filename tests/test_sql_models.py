"""The SQL-model loader on small model folders: headers, lineage, order, cycles, stages, running."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from aftersales.sql_models import (
    ModelError,
    derive_reads,
    lineage,
    load_models,
    run_model,
    run_models,
    stage_models,
)


def _write(folder: Path, name: str, reads: str, sql: str, stage: str = "score", extra: str = "") -> Path:
    path = folder / f"{name}.sql"
    path.write_text(
        f"-- model: {name}\n-- stage: {stage}\n-- reads: {reads}\n{extra}-- One row per test thing.\n{sql}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def good_dir(tmp_path: Path) -> Path:
    # Written in reverse of build order so the order cannot come from file names.
    _write(
        tmp_path,
        "a_summary",
        "int_b",
        "WITH t AS (SELECT k, sum(v) AS v FROM int_b GROUP BY k) SELECT * FROM t",
        stage="sla",
    )
    _write(tmp_path, "int_b", "int_c, src", "SELECT c.k, c.v + s.v AS v FROM int_c c JOIN src s USING (k)")
    _write(
        tmp_path,
        "int_c",
        "src",
        "SELECT k, v * 2 AS v, $batch_date::DATE AS batch_date FROM src, range(1) r",
        extra="-- materialized: temp\n",
    )
    return tmp_path


def test_good_dir_loads_orders_and_runs_on_a_real_database(good_dir: Path, tmp_path_factory) -> None:
    models = load_models(good_dir)
    assert lineage(models) == {"a_summary": ("int_b",), "int_b": ("int_c", "src"), "int_c": ("src",)}
    assert [m.name for m in stage_models("score", models)] == ["int_c", "int_b"]
    assert models["int_c"].materialized == "temp" and models["int_b"].materialized == "table"
    assert models["int_c"].parameters == ("batch_date",)
    assert models["int_b"].meaning == "One row per test thing."

    db = tmp_path_factory.mktemp("db") / "work.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE src AS SELECT * FROM (VALUES ('x', 1), ('y', 5)) t(k, v)")
        params = {"batch_date": dt.date(2026, 11, 27), "run_id": "r1"}  # unused run_id is not bound
        assert run_models(con, "score", params, models) == ["int_c", "int_b"]
        assert run_models(con, "sla", params, models) == ["a_summary"]
        assert con.execute("SELECT k, v FROM a_summary ORDER BY k").fetchall() == [("x", 3), ("y", 15)]
        assert con.execute("SELECT DISTINCT batch_date FROM int_c").fetchall() == [(dt.date(2026, 11, 27),)]
        con.execute("UPDATE src SET v = 10 WHERE k = 'x'")
        run_model(con, models["int_c"], {"batch_date": dt.date(2026, 11, 28)})  # one model, rebuilt alone
        assert con.execute("SELECT k, v, batch_date FROM int_c ORDER BY k").fetchall() == [
            ("x", 20, dt.date(2026, 11, 28)),
            ("y", 10, dt.date(2026, 11, 28)),
        ]
        assert con.execute("SELECT k, v FROM a_summary ORDER BY k").fetchall() == [("x", 3), ("y", 15)]
        kinds = dict(con.execute("SELECT table_name, temporary FROM duckdb_tables()").fetchall())
    assert kinds == {"src": False, "int_b": False, "int_c": True, "a_summary": False}
    with duckdb.connect(str(db)) as con:  # temp models end with the connection, tables stay
        assert {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()} == {
            "src",
            "int_b",
            "a_summary",
        }


def test_header_reads_must_match_the_sql(tmp_path: Path) -> None:
    path = _write(tmp_path, "int_x", "src", "SELECT * FROM src JOIN other USING (k)")
    with pytest.raises(ModelError, match=r"int_x\.sql.*not declared \['other'\]"):
        load_models(tmp_path)
    _write(tmp_path, "int_x", "src, other, stale", "SELECT * FROM src JOIN other USING (k)")
    with pytest.raises(ModelError, match=r"declared but not read \['stale'\]"):
        load_models(tmp_path)
    path.write_text("-- model: int_y\n-- stage: score\n-- reads: src\n-- Rows.\nSELECT 1 FROM src\n")
    with pytest.raises(ModelError, match="file stem is 'int_x'"):
        load_models(tmp_path)


def test_header_needs_meaning_and_one_select(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("-- model: m\n-- stage: score\n-- reads: src\nSELECT 1 FROM src\n")
    with pytest.raises(ModelError, match="what a row is"):
        load_models(tmp_path)
    _write(tmp_path, "m", "src", "SELECT 1 FROM src; DELETE FROM src")
    with pytest.raises(ModelError, match="exactly one SELECT"):
        load_models(tmp_path)


def test_cycle_is_an_error_naming_the_models(tmp_path: Path) -> None:
    _write(tmp_path, "int_p", "int_q", "SELECT * FROM int_q")
    _write(tmp_path, "int_q", "int_r", "SELECT * FROM int_r")
    _write(tmp_path, "int_r", "int_p", "SELECT * FROM int_p")
    with pytest.raises(ModelError, match="cycle") as err:
        load_models(tmp_path)
    assert {"int_p", "int_q", "int_r"} <= set(str(err.value).replace("->", " ").split())


def test_unknown_stage_and_later_stage_reads_are_errors(tmp_path: Path) -> None:
    _write(tmp_path, "m", "src", "SELECT 1 FROM src", stage="publish")
    with pytest.raises(ModelError, match=r"m\.sql: unknown stage 'publish'"):
        load_models(tmp_path)
    with pytest.raises(ModelError, match="unknown stage 'nightly'"):
        stage_models("nightly", {})
    _write(tmp_path, "m", "src", "SELECT 1 AS one FROM src", stage="health")
    _write(tmp_path, "n", "m", "SELECT * FROM m", stage="score")
    with pytest.raises(ModelError, match=r"n\.sql: stage 'score' reads \['m'\] built by a later stage"):
        load_models(tmp_path)


def test_missing_parameter_names_the_model(tmp_path: Path) -> None:
    models = load_models(_write(tmp_path, "m", "", "SELECT $run_id AS run_id").parent)
    with duckdb.connect() as con, pytest.raises(ModelError, match=r"m\.sql: parameters \['run_id'\]"):
        run_models(con, "score", {"batch_date": dt.date(2026, 1, 1)}, models)


def test_derived_lineage_ignores_ctes_and_table_functions() -> None:
    sql = (
        "WITH e AS MATERIALIZED (SELECT * FROM stg_evidence) "
        "SELECT * FROM e LEFT JOIN (SELECT name FROM pg_timezone_names()) tz ON tz.name = e.tz "
        "WHERE e.id IN (SELECT id FROM a UNION SELECT id FROM main.b)"
    )
    assert derive_reads(sql) == ("a", "b", "stg_evidence")
