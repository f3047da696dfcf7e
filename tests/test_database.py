"""aftersales.database: every stage's DuckDB connection runs under the configured resource bounds."""

from __future__ import annotations

import duckdb

from aftersales import database
from aftersales.settings import Settings, load_settings


def _setting(con, name: str):
    return con.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def test_connection_is_utc_bounded_and_spills_beside_the_database(tmp_path):
    db = tmp_path / "run" / "work.duckdb"
    db.parent.mkdir()
    con = database.connect(db, settings=Settings(duckdb_memory_limit="700MB", duckdb_threads=1))
    try:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(10)")
        assert _setting(con, "TimeZone") == "UTC"
        limit = _setting(con, "memory_limit")
        assert limit.endswith("MiB") and 600 <= float(limit.split()[0]) <= 700
        assert _setting(con, "threads") == 1
        assert _setting(con, "temp_directory") == str(db) + ".tmp"
    finally:
        con.close()


def test_empty_settings_leave_duckdb_defaults_and_env_overrides_the_file(tmp_path):
    assert database.duckdb_config(Settings(duckdb_memory_limit="", duckdb_threads=0)) == {}
    settings = load_settings(env={"AFTERSALES_DUCKDB_MEMORY_LIMIT": "1GB", "AFTERSALES_DUCKDB_THREADS": "2"})
    assert database.duckdb_config(settings) == {"memory_limit": "1GB", "threads": 2}
    default = duckdb.connect()
    try:
        default_limit = _setting(default, "memory_limit")
    finally:
        default.close()
    con = database.connect(tmp_path / "w.duckdb", settings=Settings(duckdb_memory_limit=""))
    try:
        assert _setting(con, "memory_limit") == default_limit
    finally:
        con.close()


def test_a_read_only_connection_opens_a_published_file_under_the_same_bounds(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    writer = database.connect(db)
    writer.execute("CREATE TABLE rulings AS SELECT 'C1' AS case_id")
    writer.close()
    reader = database.connect(db, read_only=True, settings=Settings())
    try:
        assert reader.execute("SELECT case_id FROM rulings").fetchall() == [("C1",)]
        assert _setting(reader, "memory_limit").endswith("GiB")  # the 1536MB default
    finally:
        reader.close()


def test_limits_follow_the_environment_of_the_moment(monkeypatch):
    monkeypatch.setenv("AFTERSALES_DUCKDB_MEMORY_LIMIT", "900MB")
    assert database.duckdb_config()["memory_limit"] == "900MB"
    monkeypatch.setenv("AFTERSALES_DUCKDB_MEMORY_LIMIT", "1GB")
    assert database.duckdb_config()["memory_limit"] == "1GB"  # not cached from the first call
