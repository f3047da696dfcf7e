"""bench/compare_warehouses.py, run as the acceptance check is run: a script on two real warehouses."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales import definitions, pipeline
from aftersales.definitions import published_tables
from aftersales.run_record import RunRecord
from aftersales.settings import load_settings
from aftersales.warehouse_schema import create_result_tables

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "compare_warehouses.py"
DAY = date(2026, 11, 27)

LEDGER = """INSERT INTO file_ledger (batch_date, run_id, source_file, sha256, size_bytes, file_kind, shop_id, encoding, status, reason, rows_read, rows_staged, rows_quarantined, rows_skipped_description) VALUES
    (DATE '2026-11-27', ?, 'S1/orders.csv', 'ab12', 100, 'orders', 'S1', 'utf-8', 'ingested', NULL, 3, 3, 0, 0),
    (DATE '2026-11-27', ?, 'S1/orders.csv', 'ab12', 100, 'orders', 'S1', 'utf-8', 'duplicate', NULL, 3, 0, 0, 0),
    (DATE '2026-11-27', ?, 'S2/chat.csv', 'cd34', 50, 'messages', 'S2', NULL, 'skipped', 'empty', 0, 0, 0, 0)"""
RUN = """INSERT INTO runs VALUES (?, DATE '2026-11-27', ?, ?, 'success', 'p1', 3, 6, 0, 1, NULL, ?, ?, ?, '{}',
    'threads', 1, '[]')"""


def run_script(before: Path, after: Path) -> subprocess.CompletedProcess:
    """The script as the acceptance check runs it: its own process, arguments, exit status."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(before), str(after)], capture_output=True, text=True, timeout=300
    )


def load_script():
    """The script's module, loaded from its path (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("compare_warehouses", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def compare(capsys):
    script = load_script()

    def compare(before: Path, after: Path) -> subprocess.CompletedProcess:
        code = script.main([str(before), str(after)])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess([], code, out, err)

    return compare


def small_warehouse(path: Path, run_id: str, started: str, inbox: str) -> Path:
    con = duckdb.connect(str(path))
    try:
        create_result_tables(con)
        con.execute(LEDGER, [run_id] * 3)
        con.execute(RUN, [run_id, started, started, f"flow-{run_id}", inbox, f'{{"ingest": {len(run_id)}}}'])
    finally:
        con.close()
    return path


def test_two_small_warehouses_differing_only_in_run_ids_and_timings_are_identical(tmp_path, compare):
    before = small_warehouse(tmp_path / "before.duckdb", "run-a", "2026-11-28 01:00:00+00", "/a/inbox")
    after = small_warehouse(tmp_path / "after.duckdb", "run-bb", "2026-11-29 03:00:00+00", "/b/inbox")
    done = compare(before, after)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(published_tables()) + 2  # one per table, runs, and the verdict
    assert "file_ledger: equal (3 rows" in done.stdout and "runs: equal (1 rows" in done.stdout
    assert lines[-1].startswith("identical:")


def test_one_changed_row_or_a_lost_duplicate_is_reported_and_fails(tmp_path, compare):
    before = small_warehouse(tmp_path / "before.duckdb", "run-a", "2026-11-28 01:00:00+00", "/a/inbox")
    changed = small_warehouse(tmp_path / "changed.duckdb", "run-b", "2026-11-28 01:00:00+00", "/a/inbox")
    con = duckdb.connect(str(changed))
    con.execute("UPDATE file_ledger SET reason = 'too short' WHERE status = 'skipped'")
    con.close()
    done = compare(before, changed)
    assert done.returncode == 1
    assert "file_ledger: DIFFERENT (3 rows before, 3 after; 1 only before, 1 only after)" in done.stdout
    assert "'empty'" in done.stdout and "'too short'" in done.stdout and "run-b" not in done.stdout
    assert (
        done.stdout.splitlines()[-1] == f"DIFFERENT: 1 of {len(published_tables()) + 1} tables (file_ledger)"
    )

    deduplicated = small_warehouse(tmp_path / "dedup.duckdb", "run-c", "2026-11-28 01:00:00+00", "/a/inbox")
    con = duckdb.connect(str(deduplicated))
    con.execute("DELETE FROM file_ledger WHERE status = 'duplicate'")
    con.execute("INSERT INTO file_ledger SELECT * FROM file_ledger WHERE status = 'ingested'")
    con.close()
    done = compare(before, deduplicated)  # same distinct rows, different multiplicities
    assert done.returncode == 1 and "1 only before, 1 only after" in done.stdout


def test_a_missing_warehouse_is_one_line_and_exit_1(tmp_path):
    done = run_script(tmp_path / "absent.duckdb", tmp_path / "absent-too.duckdb")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "absent.duckdb" in done.stderr


def plain_batch(inbox: Path, warehouse: Path, reports: Path) -> None:
    settings = load_settings()
    run_id = pipeline.new_run_id(DAY)
    paths = pipeline.batch_paths(inbox, warehouse, settings.rules_dir, reports, run_id)
    record = RunRecord(run_id, DAY, paths.inbox)
    pipeline.record_started(paths, record.started())
    definitions.run_plain(paths, record, settings)
    pipeline.discard_work(paths)


@pytest.mark.slow
def test_two_real_batches_of_one_inbox_are_identical_and_an_edited_ruling_is_caught(tmp_path, compare):
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec

    inbox = tmp_path / "inbox"
    generate_inbox(inbox, GeneratorSpec(shops=2, orders=40, seed=3, batch_date=DAY), overwrite=True)
    first, second = tmp_path / "first" / "wh.duckdb", tmp_path / "second" / "wh.duckdb"
    plain_batch(inbox, first, tmp_path / "reports")
    plain_batch(inbox, second, tmp_path / "reports")
    done = run_script(first, second)
    assert done.returncode == 0, done.stdout + done.stderr

    edited = tmp_path / "edited.duckdb"
    shutil.copy(second, edited)
    con = duckdb.connect(str(edited))
    con.execute(
        "UPDATE rulings SET decision = CASE decision WHEN 'manual_review' THEN 'buyer_favour' "
        "ELSE 'manual_review' END WHERE case_id = (SELECT min(case_id) FROM rulings)"
    )
    con.close()
    done = compare(first, edited)
    assert done.returncode == 1
    assert [line.split(":")[0] for line in done.stdout.splitlines() if "DIFFERENT (" in line] == ["rulings"]
