"""Analyst views: definitions checked against an independent computation over the sample rows."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import duckdb
import pytest
from test_views_sample import (
    BREACHES,
    CASES,
    D1,
    D2,
    D3,
    EVIDENCE_GAPS,
    HEALTH,
    OPEN_CLOCKS,
    RULINGS,
    RUN_IDS,
    SHOPS,
    build_sample_warehouse,
    local_day,
    sample_rows,
    ts,
)

from aftersales.analytics import VIEW_NAMES, create_views, open_warehouse
from aftersales.analytics.views import DECISIONS
from aftersales.commands.export import export_tables
from aftersales.publish import publish_batch
from aftersales.warehouse_schema import create_result_tables

STATUS_ORDER = {"ok": 0, "warning": 1, "breach": 2}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_sample_warehouse(tmp_path_factory.mktemp("views") / "wh.duckdb")


@pytest.fixture
def con(warehouse):
    c = duckdb.connect(str(warehouse), read_only=True)
    yield c
    c.close()


def records(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_views_are_idempotent_and_empty_on_a_fresh_warehouse(tmp_path):
    con = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    try:
        assert create_views(con) == list(VIEW_NAMES)  # creates the result tables it needs
        create_views(con)
        stored = {
            r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
        assert stored == set(VIEW_NAMES)
        for view in VIEW_NAMES:
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] == 0
    finally:
        con.close()


def test_rulings_latest_keeps_each_cases_newest_batch(con):
    latest: dict[str, date] = {}
    history: dict[str, list[date]] = defaultdict(list)
    for day, case_id in RULINGS:
        latest[case_id] = max(latest.get(case_id, day), day)
        history[case_id].append(day)
    rows = {r["case_id"]: r for r in records(con, "SELECT * FROM v_rulings_latest")}
    assert set(rows) == set(latest)
    for case_id, row in rows.items():
        day = latest[case_id]
        assert row["batch_date"] == day
        assert row["decision"] == RULINGS[(day, case_id)][0]
        assert row["first_batch_date"] == min(history[case_id])
        assert row["batches_seen"] == len(history[case_id])
        earlier = [d for d in history[case_id] if d < day]
        assert row["previous_decision"] == (RULINGS[(max(earlier), case_id)][0] if earlier else None)
    # closed before the last batch: keeps its last ruling; evidence arrived: decision moved on
    assert rows["RR-1002"]["batch_date"] == D2
    assert (rows["AP-3001"]["previous_decision"], rows["AP-3001"]["decision"]) == (
        "need_evidence",
        "seller_favour",
    )
    assert rows["CN-2002"]["request_reason"] == "Ordered by mistake"
    assert rows["AP-3001"]["request_reason"] == "return_not_received"


def test_rulings_latest_follows_a_republished_batch(tmp_path):
    db = build_sample_warehouse(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(db))
    try:
        con.execute("DELETE FROM rulings WHERE batch_date = ?", [D3])  # rerun of D3 without RR-1001
        con.execute(
            "INSERT INTO rulings SELECT * REPLACE ('20261127-r4' AS run_id) FROM rulings "
            "WHERE batch_date = ? AND case_id <> 'RR-1001'",
            [D2],
        )
        con.execute("UPDATE rulings SET batch_date = ? WHERE run_id = '20261127-r4'", [D3])
        row = records(con, "SELECT * FROM v_rulings_latest WHERE case_id = 'RR-1001'")[0]
        assert (row["batch_date"], row["batches_seen"]) == (D2, 2)
        assert (
            con.execute("SELECT count(*) FROM v_rulings_latest WHERE run_id = '20261127-r4'").fetchone()[0]
            == 8
        )
    finally:
        con.close()


def expected_sla_daily(day_of) -> dict[tuple, Counter]:
    """Latest state of each breach + the last batch's open clocks, per (shop, sla, due day)."""
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for sla_id, shop, _, _, due, states in BREACHES.values():
        met_at, _ = states[max(states)]
        counts[(shop, sla_id, day_of(shop, due))]["met_late" if met_at else "unmet"] += 1
    for sla_id, shop, _, _, due, states in OPEN_CLOCKS.values():
        if D3 in states:
            counts[(shop, sla_id, day_of(shop, due))]["pending"] += 1
    return counts


def assert_daily_counts(rows: list[dict], expected: dict[tuple, Counter]) -> None:
    assert {(r["shop_id"], r["sla_id"], r["day"]) for r in rows} == set(expected)
    for r in rows:
        want = expected[(r["shop_id"], r["sla_id"], r["day"])]
        assert (r["met_late"], r["unmet"], r["pending"]) == (want["met_late"], want["unmet"], want["pending"])
        assert r["breached"] == r["met_late"] + r["unmet"]


def test_sla_compliance_daily_counts_each_obligation_once_on_its_local_due_day(con):
    rows = records(con, "SELECT * FROM v_sla_compliance_daily")
    assert_daily_counts(rows, expected_sla_daily(local_day))
    # no obligation was met on time in this warehouse: everything due was breached
    assert all(r["met_on_time"] == 0 and r["due"] == r["breached"] for r in rows)
    assert all(r["rate"] == 0 for r in rows if r["due"])
    # unmet in the 2026-11-25 batch, met late by the next one: counted once, as met late
    us_chat = [r for r in rows if (r["shop_id"], r["sla_id"]) == ("US-7001", "chat_reply")]
    assert [(r["day"], r["met_late"], r["unmet"]) for r in us_chat] == [(date(2026, 11, 25), 1, 0)]
    # due 2026-11-27 20:00Z is 04:00 on the 28th for the Shenzhen cross-border shop
    cross_border = [
        (r["day"], r["unmet"]) for r in rows if (r["shop_id"], r["sla_id"]) == ("US-7002", "chat_reply")
    ]
    assert cross_border == [(date(2026, 11, 28), 1)]


def test_sla_compliance_daily_uses_the_utc_day_in_a_warehouse_without_local_dates(tmp_path):
    db = build_sample_warehouse(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(db))
    try:
        con.execute("ALTER TABLE sla_breaches DROP COLUMN due_local_date")
        con.execute("ALTER TABLE sla_open_clocks DROP COLUMN due_local_date")
        create_views(con)
        rows = records(con, "SELECT * FROM v_sla_compliance_daily")
    finally:
        con.close()
    assert_daily_counts(rows, expected_sla_daily(lambda shop, due: ts(due).date()))


def test_sla_compliance_daily_does_not_depend_on_the_session_time_zone(warehouse):
    def snapshot(zone: str) -> list[tuple]:
        c = duckdb.connect(str(warehouse), read_only=True)
        try:
            c.execute(f"SET TimeZone = '{zone}'")
            return c.execute(
                "SELECT shop_id, sla_id, day, met_late, unmet FROM v_sla_compliance_daily ORDER BY ALL"
            ).fetchall()
        finally:
            c.close()

    assert snapshot("Pacific/Auckland") == snapshot("America/Los_Angeles") == snapshot("UTC")


def test_sla_compliance_daily_computes_the_rate_once_on_time_obligations_are_published(tmp_path):
    db = build_sample_warehouse(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(db))
    try:
        # RR-1001's response clock, open in the first two batches, was met on time before the third;
        # a UK chat answered within the day is reported by both batches whose exports hold it
        met = [
            (
                D3,
                "SLA-ar-0002",
                "aftersales_response",
                "US-7001",
                "RR-1001",
                "2026-11-23 19:12",
                "2026-11-27 17:00",
                "2026-11-27 16:00",
            ),
            (
                D2,
                "SLA-cr-0020",
                "chat_reply",
                "UK-8001",
                "MSG-20",
                "2026-11-25 09:00",
                "2026-11-26 09:00",
                "2026-11-25 15:00",
            ),
            (
                D3,
                "SLA-cr-0020",
                "chat_reply",
                "UK-8001",
                "MSG-20",
                "2026-11-25 09:00",
                "2026-11-26 09:00",
                "2026-11-25 15:00",
            ),
        ]
        con.executemany(
            "INSERT INTO sla_met_on_time (batch_date, run_id, clock_id, sla_id, shop_id, entity_id, started_at, "
            "due_at, met_at, rule_id, due_local_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'r', ?)",
            [
                [
                    day,
                    RUN_IDS[day],
                    clock,
                    sla,
                    shop,
                    entity,
                    ts(start),
                    ts(due),
                    ts(done),
                    local_day(shop, due),
                ]
                for day, clock, sla, shop, entity, start, due, done in met
            ],
        )
        create_views(con)
        by_key = {
            (r["shop_id"], r["sla_id"], r["day"]): r
            for r in records(con, "SELECT * FROM v_sla_compliance_daily")
        }
    finally:
        con.close()
    on_time = by_key[("US-7001", "aftersales_response", date(2026, 11, 27))]
    assert (on_time["due"], on_time["met_on_time"], on_time["met_late"], on_time["rate"]) == (1, 1, 0, 1.0)
    late = by_key[("US-7001", "return_inspection", date(2026, 11, 26))]
    assert (late["due"], late["met_on_time"], late["met_late"], late["rate"]) == (1, 0, 1, 0.0)
    uk_chat = by_key[("UK-8001", "chat_reply", date(2026, 11, 26))]
    assert (uk_chat["due"], uk_chat["met_on_time"], uk_chat["rate"]) == (1, 1, 1.0)
    unmet = by_key[("US-7002", "chat_reply", date(2026, 11, 28))]
    assert (unmet["due"], unmet["unmet"], unmet["rate"]) == (1, 1, 0.0)


def test_seller_scorecard_pivots_health_and_counts_breaches_and_rulings(con):
    rows = {(r["batch_date"], r["shop_id"]): r for r in records(con, "SELECT * FROM v_seller_scorecard")}
    assert set(rows) == {(d, s) for s in HEALTH for d in (D1, D2, D3)}
    first_seen = {b: min(states) for b, (*_, states) in BREACHES.items()}
    for (day, shop), row in rows.items():
        statuses = []
        for metric, (threshold, _, _, states) in HEALTH[shop].items():
            value, status = states[day]
            assert (row[metric], row[f"{metric}_threshold"], row[f"{metric}_status"]) == (
                value,
                threshold,
                status,
            )
            statuses.append(status)
        assert row["health_status"] == max(statuses, key=STATUS_ORDER.get)
        assert row["metrics_in_breach"] == statuses.count("breach")
        reported = [(b, s[day]) for b, (_, sh, *_, s) in BREACHES.items() if sh == shop and day in s]
        assert row["breaches"] == len(reported)
        assert row["breaches_unmet"] == sum(1 for _, (met, _) in reported if met is None)
        assert row["breaches_new"] == sum(1 for b, _ in reported if first_seen[b] == day)
        assert row["overdue_hours"] == pytest.approx(sum(h for _, (_, h) in reported))
        cases = [v for (d, c), v in RULINGS.items() if d == day and CASES[c][1] == shop]
        assert row["cases"] == len(cases)
        for decision in DECISIONS:
            assert row[f"cases_{decision}"] == sum(1 for v in cases if v[0] == decision)
        seller = sum(1 for v in cases if v[1] == "seller")
        assert row["liable_seller_share"] == pytest.approx(seller / len(cases))
    assert rows[(D3, "US-7001")]["health_status"] == "breach"  # chat reply rate fell below 90%
    assert rows[(D2, "US-7001")]["liable_seller_share"] == 0.5


def test_evidence_gap_rates_divide_cases_with_the_gap_by_cases_in_the_market(con):
    market = {c: SHOPS[v[1]][0] for c, v in CASES.items()}
    cases = Counter((d, market[c]) for d, c in RULINGS)
    gap_cases: dict[tuple, set] = defaultdict(set)
    for (day, case_id), gaps in EVIDENCE_GAPS.items():
        for party, evidence, *_ in gaps:
            gap_cases[(day, market[case_id], party, evidence)].add(case_id)
    rows = records(con, "SELECT * FROM v_evidence_gap_rates")
    assert {(r["batch_date"], r["market"], r["party"], r["evidence_type"]) for r in rows} == set(gap_cases)
    for r in rows:
        key = (r["batch_date"], r["market"], r["party"], r["evidence_type"])
        assert r["cases_with_gap"] == len(gap_cases[key])
        assert r["cases"] == cases[(r["batch_date"], r["market"])]
        assert r["gap_rate"] == pytest.approx(len(gap_cases[key]) / cases[(r["batch_date"], r["market"])])
    us_photo = [r for r in rows if (r["batch_date"], r["market"], r["evidence_type"]) == (D1, "US", "photo")]
    assert [(r["cases_with_gap"], r["cases"], r["cases_decisive"]) for r in us_photo] == [(1, 4, 1)]


def test_rule_hit_rates_share_is_within_the_rules_pack_and_split_by_decision(con):
    data = sample_rows()
    decision = {(r["batch_date"], r["case_id"]): r["decision"] for r in data["rulings"]}
    pack_cases = Counter((r["batch_date"], r["pack_id"]) for r in data["rulings"])
    hits: dict[tuple, list] = defaultdict(list)
    for h in data["rule_hits"]:
        hits[(h["batch_date"], h["pack_id"], h["rule_id"], h["rule_version"])].append(h["case_id"])
    rows = records(con, "SELECT * FROM v_rule_hit_rates")
    assert {(r["batch_date"], r["pack_id"], r["rule_id"], r["rule_version"]) for r in rows} == set(hits)
    for r in rows:
        key = (r["batch_date"], r["pack_id"], r["rule_id"], r["rule_version"])
        hit_cases = set(hits[key])
        assert (r["hits"], r["cases"]) == (len(hits[key]), len(hit_cases))
        assert r["cases_in_scope"] == pack_cases[(r["batch_date"], r["pack_id"])]
        assert r["share_of_cases"] == pytest.approx(len(hit_cases) / r["cases_in_scope"])
        for d in DECISIONS:
            assert r[f"cases_{d}"] == sum(1 for c in hit_cases if decision[(r["batch_date"], c)] == d)
    versions = {r["rule_version"] for r in rows if r["rule_id"] == "us_local.ev.defect_photo"}
    assert versions == {1, 2}


def test_open_warehouse_adds_missing_views_without_writing_the_file(tmp_path):
    db = build_sample_warehouse(tmp_path / "bare.duckdb", views=False)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    con = open_warehouse(db)
    try:
        assert con.execute("SELECT count(*) FROM v_rulings_latest").fetchone()[0] == 12
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE scratch (a INTEGER)")
    finally:
        con.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_warehouse(tmp_path / "missing.duckdb")


def test_views_bind_when_result_tables_exist_but_are_empty(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        create_result_tables(con)
        con.execute(
            "INSERT INTO runs (run_id, batch_date, started_at, status) VALUES ('r', DATE '2026-11-27', now(), 'success')"
        )
        create_views(con)
        assert [con.execute(f"SELECT count(*) FROM {v}").fetchone()[0] for v in VIEW_NAMES] == [0] * len(
            VIEW_NAMES
        )
    finally:
        con.close()


def test_every_query_in_the_analyst_guide_runs(tmp_path, monkeypatch):
    guide = (Path(__file__).resolve().parent.parent / "docs" / "ANALYST_GUIDE.md").read_text(encoding="utf-8")
    statements = [
        s.strip() for block in re.findall(r"```sql\n(.*?)```", guide, re.S) for s in block.split(";")
    ]
    statements = [s for s in statements if s and "calibration_" not in s]  # those need `aftersales calibrate`
    assert len(statements) >= 10
    db = build_sample_warehouse(tmp_path / "wh.duckdb")
    monkeypatch.chdir(tmp_path)  # the export example reads exports/ relative to the working folder
    export_tables(db, Path("exports"), "parquet", ["rulings"])
    con = open_warehouse(db)
    try:
        results = [con.execute(sql).fetchall() for sql in statements]
    finally:
        con.close()
    assert sum(1 for rows in results if rows) >= len(statements) - 1  # the 30-day window may be empty


def test_every_query_in_the_analyst_guide_answers_on_the_demo_warehouse(
    demo_warehouse, tmp_path, monkeypatch
):
    """The guide's examples name ids and rules the demo data has: a newcomer's copy-paste returns rows."""
    guide = (Path(__file__).resolve().parent.parent / "docs" / "ANALYST_GUIDE.md").read_text(encoding="utf-8")
    statements = [
        s.strip() for block in re.findall(r"```sql\n(.*?)```", guide, re.S) for s in block.split(";")
    ]
    statements = [s for s in statements if s and "calibration_" not in s]  # those need `aftersales calibrate`
    monkeypatch.chdir(tmp_path)  # the export example reads exports/ relative to the working folder
    export_tables(demo_warehouse, Path("exports"), "parquet", ["rulings"])
    con = open_warehouse(demo_warehouse)
    try:
        empty = [
            sql for sql in statements if not con.execute(sql).fetchall() and "several batch dates" not in sql
        ]  # calibration queries: tests/test_calibration.py, on a calibrated warehouse
    finally:
        con.close()
    assert empty == [], empty


def test_publish_step_creates_the_views_in_the_new_warehouse(tmp_path):
    work = build_sample_warehouse(tmp_path / "work.duckdb", views=False)
    warehouse = tmp_path / "warehouse.duckdb"
    for day in (D3, D2):
        run = {
            "run_id": RUN_IDS[day],
            "batch_date": day.isoformat(),
            "status": "success",
            "started_at": "2026-11-28T02:00:00+00:00",
        }
        publish_batch(work, warehouse, day, [run], after_swap_in=create_views)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stored = {
            r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT temporary").fetchall()
        }
        assert set(VIEW_NAMES) <= stored
        latest = dict(con.execute("SELECT case_id, batch_date FROM v_rulings_latest").fetchall())
    finally:
        con.close()
    assert len(latest) == 11  # the nine cases of 2026-11-27 plus RR-1002 and CN-2002 last ruled on 11-26
    assert latest["RR-1002"] == D2 and latest["RR-1001"] == D3
