"""Atomic publish: batches replace only themselves, failures change nothing, readers never block."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales.publish import pending_attempts, publish_batch, record_failed_attempt
from aftersales.publish.swap import insert_common_columns
from aftersales.warehouse_schema import create_result_tables

D1, D2 = date(2026, 11, 26), date(2026, 11, 27)


def make_work_db(path: Path, day: date, run_id: str, decisions: list[str]) -> Path:
    con = duckdb.connect(str(path))
    create_result_tables(con)
    for i, decision in enumerate(decisions):
        con.execute(
            "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, "
            "liable_party, remedy, policy_version) VALUES (?, ?, ?, 'return_refund', 'S1', 'US', ?, "
            "'seller', 'refund_only', 'test')",
            [day, run_id, f"R{i}", decision],
        )
    con.close()
    return path


def run_row(run_id: str, day: date, status: str = "success") -> dict:
    return {
        "run_id": run_id,
        "batch_date": day.isoformat(),
        "started_at": "2026-11-28T02:00:00+00:00",
        "finished_at": "2026-11-28T02:01:00+00:00",
        "status": status,
        "policy_version": "test",
        "files_read": 1,
        "rows_read": 1,
        "rows_quarantined": 0,
    }


def rulings(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT batch_date, run_id, case_id, decision FROM rulings ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rerun_replaces_only_its_batch_date(tmp_path):
    wh = tmp_path / "wh.duckdb"
    publish_batch(
        make_work_db(tmp_path / "a.duckdb", D1, "a", ["buyer_favour", "seller_favour"]),
        wh,
        D1,
        [run_row("a", D1)],
    )
    publish_batch(make_work_db(tmp_path / "b.duckdb", D2, "b", ["manual_review"]), wh, D2, [run_row("b", D2)])
    summary = publish_batch(
        make_work_db(tmp_path / "c.duckdb", D1, "c", ["need_evidence"]), wh, D1, [run_row("c", D1)]
    )

    assert rulings(wh) == [(D1, "c", "R0", "need_evidence"), (D2, "b", "R0", "manual_review")]
    assert summary.rows["rulings"] == 1
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall() == [("a",), ("b",), ("c",)]
    con.close()
    assert not list(tmp_path.glob("wh.duckdb.publish.tmp*"))


def test_failed_publish_leaves_warehouse_byte_identical(tmp_path):
    wh = tmp_path / "wh.duckdb"
    publish_batch(make_work_db(tmp_path / "a.duckdb", D1, "a", ["buyer_favour"]), wh, D1, [run_row("a", D1)])
    before = sha(wh)
    broken = tmp_path / "broken.duckdb"
    con = duckdb.connect(str(broken))
    # A rulings table whose decision column is missing: the NOT NULL constraint fails mid-publish.
    con.execute("CREATE TABLE rulings (batch_date DATE, run_id VARCHAR, case_id VARCHAR)")
    con.execute("INSERT INTO rulings VALUES (?, 'x', 'R9')", [D1])
    con.close()
    with pytest.raises(duckdb.Error):
        publish_batch(broken, wh, D1, [run_row("x", D1)])
    assert sha(wh) == before
    assert rulings(wh) == [(D1, "a", "R0", "buyer_favour")]
    assert not list(tmp_path.glob("wh.duckdb.publish.tmp*"))


def test_failed_attempts_reach_runs_at_the_next_publish(tmp_path):
    wh = tmp_path / "wh.duckdb"
    record_failed_attempt(wh, {**run_row("failed-1", D1, "failed"), "error": "inbox missing"})
    assert not wh.exists()  # a failed batch never creates or touches the warehouse
    assert [r["run_id"] for r in pending_attempts(wh)] == ["failed-1"]
    publish_batch(
        make_work_db(tmp_path / "a.duckdb", D1, "a", ["buyer_favour"]),
        wh,
        D1,
        [*pending_attempts(wh), run_row("a", D1)],
    )
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT run_id, status, error FROM runs ORDER BY run_id").fetchall() == [
        ("a", "success", None),
        ("failed-1", "failed", "inbox missing"),
    ]
    con.close()


def test_reader_in_another_process_is_not_blocked_by_publish(tmp_path):
    wh = tmp_path / "wh.duckdb"
    publish_batch(make_work_db(tmp_path / "a.duckdb", D1, "a", ["buyer_favour"]), wh, D1, [run_row("a", D1)])
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(wh)!r}, read_only=True)
            print(con.execute("SELECT count(*) FROM rulings").fetchone()[0], flush=True)
            sys.stdin.readline()   # hold the connection open while the publish happens
            print(con.execute("SELECT count(*) FROM rulings").fetchone()[0], flush=True)
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "1"
    publish_batch(
        make_work_db(tmp_path / "b.duckdb", D2, "b", ["seller_favour", "manual_review"]),
        wh,
        D2,
        [run_row("b", D2)],
    )
    out, _ = reader.communicate("go\n", timeout=30)
    assert reader.returncode == 0
    assert out.strip() == "1"  # the open reader keeps its consistent snapshot
    assert len(rulings(wh)) == 3  # a new reader sees the new batch


def test_publish_adds_columns_appended_to_the_schema_since_the_warehouse_was_made(tmp_path):
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute(
        "CREATE TABLE rulings (batch_date DATE, run_id VARCHAR, case_id VARCHAR, case_kind VARCHAR, "
        "shop_id VARCHAR, market VARCHAR, decision VARCHAR, liable_party VARCHAR, remedy VARCHAR, "
        "policy_version VARCHAR)"
    )
    con.close()
    publish_batch(make_work_db(tmp_path / "a.duckdb", D1, "a", ["buyer_favour"]), wh, D1, [run_row("a", D1)])
    con = duckdb.connect(str(wh), read_only=True)
    cols = {r[0] for r in con.execute("DESCRIBE rulings").fetchall()}
    con.close()
    assert {"explanation_zh", "rule_ids", "confidence"} <= cols
    assert rulings(wh) == [(D1, "a", "R0", "buyer_favour")]


def test_publish_and_after_swap_copies_work_for_a_warehouse_whose_name_needs_quoting(tmp_path):
    """The catalog of `night-wh.duckdb` is `night-wh`: copies naming it (replay's) must quote it."""
    wh = tmp_path / "night-wh.duckdb"
    extra_db = make_work_db(tmp_path / "side-db.duckdb", D2, "side", ["seller_favour", "manual_review"])

    def copy_side_rulings(con) -> None:
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        assert "-" in catalog
        con.execute(f"ATTACH '{extra_db}' AS side (READ_ONLY)")
        insert_common_columns(con, f"{catalog}.rulings", "side.rulings", "WHERE case_id = ?", ["R1"])
        con.execute("DETACH side")

    make_work_db(tmp_path / "a.duckdb", D1, "a", ["buyer_favour"])
    publish_batch(tmp_path / "a.duckdb", wh, D1, [run_row("a", D1)], after_swap_in=copy_side_rulings)
    assert rulings(wh) == [(D1, "a", "R0", "buyer_favour"), (D2, "side", "R1", "manual_review")]
