"""The publish-scale bench on a tiny seed: history made by shifted copies, real publishes into both kinds."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb

from aftersales.bench.publish_scale import run_publish_scale
from aftersales.lakehouse.connect import open_warehouse
from aftersales.warehouse_schema import create_result_tables

SEED_DAY = date(2026, 11, 27)


def _seed(path: Path) -> Path:
    con = duckdb.connect(str(path))
    create_result_tables(con)
    con.execute(
        "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, liable_party, "
        "remedy, policy_version) SELECT ?, 'night', 'R' || range, 'return_refund', 'S1', 'US', 'buyer_favour', "
        "'seller', 'refund_only', 'p1' FROM range(40)",
        [SEED_DAY],
    )
    con.execute(
        "INSERT INTO runs (run_id, batch_date, started_at, status) VALUES "
        "('night', ?, TIMESTAMPTZ '2026-11-28 02:00:00+00', 'success')",
        [SEED_DAY],
    )
    con.close()
    return path


def test_publish_scale_fills_history_and_measures_both_warehouse_kinds(tmp_path):
    result = run_publish_scale(
        tmp_path / "out", dates=(1, 2), seed_warehouse=_seed(tmp_path / "seed.duckdb"), repeats=1
    )
    assert json.loads((tmp_path / "out" / "publish_scale.json").read_text()) == result
    assert result["seed_rows"]["rulings"] == 40
    for kind in ("lake", "file"):
        points = result[kind]["points"]
        assert [p["dates"] for p in points] == [1, 2]
        assert all(p["publish_seconds"] > 0 and p["query_seconds"] > 0 for p in points)
        assert points[1]["size_bytes"] > 0
        assert result[kind]["ratio"] == round(points[1]["publish_seconds"] / points[0]["publish_seconds"], 3)
        con = open_warehouse(result[kind]["warehouse"])
        try:
            dates = [
                r[0] for r in con.execute("SELECT DISTINCT batch_date FROM rulings ORDER BY 1").fetchall()
            ]
            runs = con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone()
        finally:
            con.close()
        # history: the seed day and the day before (shifted copies); measured: two new days after it
        assert dates == [
            SEED_DAY - timedelta(days=1),
            SEED_DAY,
            SEED_DAY + timedelta(days=1),
            SEED_DAY + timedelta(days=2),
        ]
        assert runs == (4, 4)
    lake = result["lake"]["points"]
    assert lake[1]["size_bytes"] > lake[0]["size_bytes"]  # a lake grows by the new dates' files only
    assert result["met"] == (result["lake"]["ratio"] <= 1.5)
