"""What `--db` names (aftersales.lakehouse.location) and the bundled extensions (extensions.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from aftersales.lakehouse.extensions import (
    DUCKLAKE,
    SQLITE,
    ExtensionMissing,
    bundled_extension_file,
    connection_config,
    load_extensions,
)
from aftersales.lakehouse.location import LocationError, WarehouseLocation
from aftersales.publish.journal import journal_path
from aftersales.settings import Settings


def test_a_ducklake_path_is_a_sqlite_catalog_with_its_files_beside_it(tmp_path):
    loc = WarehouseLocation.parse(tmp_path / "wh.ducklake")
    assert (loc.kind, loc.catalog_backend, loc.is_lake) == ("ducklake", "sqlite", True)
    assert loc.catalog == f"ducklake:sqlite:{tmp_path / 'wh.ducklake'}"
    assert loc.data_path == f"{tmp_path / 'wh.ducklake.files'}/"
    assert loc.sidecar == tmp_path / "wh.ducklake" and not loc.exists
    assert journal_path(tmp_path / "wh.ducklake") == tmp_path / "wh.ducklake.attempts.jsonl"
    # the explicit spelling means the same lake
    explicit = WarehouseLocation.parse(f"ducklake:sqlite:{tmp_path / 'wh.ducklake'}")
    assert (explicit.catalog, explicit.data_path) == (loc.catalog, loc.data_path)


def test_a_duckdb_path_or_any_other_name_stays_the_single_file_warehouse(tmp_path):
    for name in ("wh.duckdb", "warehouse.db", "plain"):
        loc = WarehouseLocation.parse(tmp_path / name)
        assert (loc.kind, loc.catalog, loc.data_path) == ("duckdb_file", str(tmp_path / name), None)
        assert loc.sidecar == tmp_path / name
    # An existing SQLite file is a lake catalog whatever its name; a DuckDB file stays a file.
    duckdb.connect(str(tmp_path / "real.db")).close()
    assert WarehouseLocation.parse(tmp_path / "real.db").kind == "duckdb_file"


def test_a_postgres_catalog_needs_the_data_path_setting_and_never_prints_the_password(tmp_path):
    text = "ducklake:postgres:dbname=lake host=127.0.0.1 password=s3cret"
    with pytest.raises(LocationError) as refused:
        WarehouseLocation.parse(text, Settings(lake_data_path=""))
    assert "lake_data_path" in str(refused.value) and "s3cret" not in str(refused.value)
    loc = WarehouseLocation.parse(text, Settings(lake_data_path=str(tmp_path / "files")))
    assert (loc.kind, loc.catalog_backend, loc.catalog) == ("ducklake", "postgres", text)
    assert loc.data_path == f"{tmp_path / 'files'}/"
    assert loc.sidecar == tmp_path / "files" / "_aftersales"
    assert "s3cret" not in loc.display and "dbname=lake" in loc.display
    with pytest.raises(LocationError, match="only ducklake:sqlite"):
        WarehouseLocation.parse("ducklake:duckdb:/x.db")


def test_extensions_install_from_the_wheels_into_the_project_folder_never_downloading(tmp_path):
    settings = Settings(duckdb_extension_directory=str(tmp_path / "ext"))
    for name in (DUCKLAKE, SQLITE):
        wheel_file = bundled_extension_file(name)
        assert wheel_file.is_file() and f"v{duckdb.__version__}" in str(wheel_file)
    con = duckdb.connect(config=connection_config(settings))
    try:
        load_extensions(con, (SQLITE, DUCKLAKE))
        rows = con.execute(
            "SELECT extension_name, loaded, install_mode, install_path FROM duckdb_extensions() "
            "WHERE extension_name IN ('ducklake', 'sqlite_scanner') ORDER BY 1"
        ).fetchall()
        assert [(n, loaded, mode) for n, loaded, mode, _ in rows] == [
            ("ducklake", True, "CUSTOM_PATH"),
            ("sqlite_scanner", True, "CUSTOM_PATH"),
        ]
        assert all(Path(p).is_relative_to(tmp_path / "ext") for *_, p in rows)
        assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    finally:
        con.close()
    # A second session loads the installed copies (no second INSTALL needed).
    installed = sorted(p.name for p in (tmp_path / "ext").rglob("*.duckdb_extension"))
    assert installed == ["ducklake.duckdb_extension", "sqlite_scanner.duckdb_extension"]
    with pytest.raises(ExtensionMissing, match="pip install duckdb-extension-nosuch"):
        bundled_extension_file("nosuch")


def test_an_existing_sqlite_catalog_is_a_lake_whatever_its_name_unless_named_duckdb(tmp_path):
    for name in ("catalog.sqlite", "odd.duckdb"):
        sqlite3.connect(tmp_path / name).execute("CREATE TABLE t (x INTEGER)").connection.commit()
    assert WarehouseLocation.parse(tmp_path / "catalog.sqlite").kind == "ducklake"
    assert WarehouseLocation.parse(tmp_path / "odd.duckdb").kind == "duckdb_file"
