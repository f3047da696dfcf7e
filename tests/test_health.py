"""Seller health end to end: threshold edges per market, windows, rule versions (policy.md §I)."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest
from test_sla_support import RULES_DIR, WorkDb, health_inputs

from aftersales.rulepack import RulePackError
from aftersales.sla import compute_seller_health
from aftersales.sla.health_rules import load_health_rules
from aftersales.warehouse_schema import RESULT_DDL

NY, LDN, BKK = "America/New_York", "Europe/London", "Asia/Bangkok"
BATCH = dt.date(2026, 12, 4)
# US orders: created Mon 23 Nov 10:00, dispatch due Wed 25 Nov 10:00 (2 business days)
CREATED, ON_TIME, LATE = "2026-11-23 10:00", "2026-11-24 10:00", "2026-11-27 10:00"


def shipped_orders(db, shop, n, *, late=0, created=CREATED, on_time=ON_TIME, late_at=LATE, rts=None):
    for i in range(n):
        db.order(shop, f"{shop}-{i}", created, rts=rts, shipped=late_at if i < late else on_time)


def waits(db, shop, n, *, late=0):
    for i in range(n):
        db.message(shop, f"{shop}-c{i}", f"{shop}-c{i}-b", "Buyer", "2026-12-01 10:00")
        db.message(
            shop,
            f"{shop}-c{i}",
            f"{shop}-c{i}-s",
            "Seller",
            "2026-12-02 11:00" if i < late else "2026-12-01 11:00",
        )


def health(db: WorkDb, batch=BATCH) -> dict:
    return {
        (r["shop_id"], r["metric"]): r
        for r in db.rows("SELECT * FROM seller_health WHERE batch_date = ?", [batch])
    }


@pytest.fixture(scope="module")
def us(tmp_path_factory):
    db = WorkDb(tmp_path_factory.mktemp("health-us") / "work.duckdb")
    shops = [
        "SFCR-EDGE",
        "SFCR-OVER",
        "LDR-OK",
        "LDR-WARN",
        "LDR-BREACH",
        "CHAT-OK",
        "CHAT-WARN",
        "CHAT-BREACH",
        "RR",
        "RR-EDGE",
    ]
    for s in shops:
        db.shop(s, "US", NY)
    with db.bulk():
        # SFCR (<= 2.5 %): 1 seller cancellation in 40 orders is exactly 2.5 % -> ok
        shipped_orders(db, "SFCR-EDGE", 39)
        db.order("SFCR-EDGE", "SE-cancel", CREATED, cancelled="2026-11-23 12:00", cancel_by="Seller")
        db.order("SFCR-EDGE", "SE-old", "2026-11-01 10:00", cancelled="2026-11-01 12:00", cancel_by="Seller")
        # SFCR-OVER: seller cancel, system cancel after the missed dispatch deadline, system cancel for
        # the seller's failure to ship (the platform's reason), seller-requested cancellation -> 4; a system cancel before any deadline and a buyer "Late shipment" (US) do not
        # count; an order cancelled before it was ever paid is no order at all
        shipped_orders(db, "SFCR-OVER", 37)
        db.order("SFCR-OVER", "SO-seller", CREATED, cancelled="2026-11-23 12:00", cancel_by="Seller")
        db.order("SFCR-OVER", "SO-system-late", CREATED, cancelled="2026-11-27 10:00", cancel_by="System")
        db.order(
            "SFCR-OVER",
            "SO-system-label",
            CREATED,
            cancelled="2026-11-23 20:00",
            cancel_by="System",
            cancel_reason="Seller did not ship in time",
        )
        db.order("SFCR-OVER", "SO-requested", CREATED, cancelled="2026-11-23 15:00")
        db.cancellation(
            "SFCR-OVER",
            "SO-C1",
            "SO-requested",
            "2026-11-23 14:00",
            by="Seller",
            cancelled="2026-11-23 15:00",
        )
        db.order(
            "SFCR-OVER",
            "SO-unpaid",
            "2026-11-30 10:00",
            cancelled="2026-11-30 11:00",
            cancel_by="System",
            unpaid=True,
        )
        db.order(
            "SFCR-OVER",
            "SO-system-early",
            "2026-11-30 10:00",
            cancelled="2026-11-30 11:00",
            cancel_by="System",
        )
        db.order(
            "SFCR-OVER",
            "SO-buyer",
            CREATED,
            cancelled="2026-11-23 11:00",
            cancel_by="Buyer",
            cancel_reason="Late shipment",
        )
        # LDR (Mar-2026: <= 4 % ok, > 10 % breach, between: warning)
        shipped_orders(db, "LDR-OK", 25, late=1)
        shipped_orders(db, "LDR-WARN", 10, late=1)
        shipped_orders(db, "LDR-BREACH", 9, late=1)
        # chat reply rate (>= 90 % ok, < 85 % breach)
        waits(db, "CHAT-OK", 10, late=1)
        db.message("CHAT-OK", "open", "open-b", "Buyer", "2026-12-04 20:00")  # not due yet: not counted
        db.message("CHAT-OK", "old", "old-b", "Buyer", "2026-10-01 10:00")  # due before the window
        waits(db, "CHAT-WARN", 20, late=3)
        waits(db, "CHAT-BREACH", 20, late=4)
        # SFRR (< 1.0 %): seller-fault reasons always; damaged/lost only when the seller is liable
        shipped_orders(db, "RR", 100)
        for rid, order, reason in [
            ("RR-1", "RR-0", "Wrong item sent"),
            ("RR-2", "RR-1", "No longer needed"),
            ("RR-3", "RR-2", "Package damaged"),
            ("RR-4", "RR-3", "Package not received"),
            ("RR-5", "RR-4", "Item doesn\u2019t match description"),
        ]:
            db.request(
                "RR",
                rid,
                "2026-12-01 10:00",
                price=20,
                order_id=order,
                reason=reason,
                response="2026-12-01 11:00",
            )
        shipped_orders(db, "RR-EDGE", 100)
        db.request(
            "RR-EDGE", "RE-1", "2026-12-01 10:00", price=20, order_id="RR-EDGE-0", reason="Poor quality"
        )
    con = duckdb.connect(str(db.path))
    con.execute(RESULT_DDL["rulings"])
    for case, party in [("RR-3", "seller"), ("RR-4", "carrier")]:
        con.execute(
            "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, "
            "liable_party, remedy, policy_version) VALUES (?, 'r', ?, 'return_refund', 'RR', 'US', "
            "'buyer_favour', ?, 'refund_only', 'v')",
            [BATCH, case, party],
        )
    con.close()
    health_inputs(db.path, BATCH)
    summary = compute_seller_health(db.path, BATCH, "run-h", RULES_DIR)
    return db, summary


def check(row, value, status, numerator, denominator):
    assert row["value"] == pytest.approx(value)
    assert (row["status"], row["numerator"], row["denominator"]) == (status, numerator, denominator)


def test_us_sfcr_at_the_threshold_is_ok(us):
    db, _ = us
    row = health(db)[("SFCR-EDGE", "sfcr")]
    check(row, 0.025, "ok", 1, 40)
    assert (row["threshold"], row["comparison"], row["window_days"]) == (0.025, "<=", 30)
    assert row["rule_id"] == "us_local.health.sfcr"


def test_us_sfcr_counts_seller_fault_only(us):
    db, _ = us
    check(health(db)[("SFCR-OVER", "sfcr")], 4 / 43, "breach", 4, 43)  # 37 + 6 paid orders; unpaid one out


def test_us_ldr_bands_of_the_march_2026_version(us):
    db, _ = us
    h = health(db)
    check(h[("LDR-OK", "ldr")], 0.04, "ok", 1, 25)
    check(h[("LDR-WARN", "ldr")], 0.10, "warning", 1, 10)  # enforcement starts *above* 10 %
    check(h[("LDR-BREACH", "ldr")], 1 / 9, "breach", 1, 9)
    assert (h[("LDR-WARN", "ldr")]["rule_version"], h[("LDR-WARN", "ldr")]["breach_threshold"]) == (2, 0.10)


def test_us_chat_reply_rate_bands(us):
    db, _ = us
    h = health(db)
    check(h[("CHAT-OK", "chat_reply_rate")], 0.9, "ok", 9, 10)
    check(h[("CHAT-WARN", "chat_reply_rate")], 0.85, "warning", 17, 20)
    check(h[("CHAT-BREACH", "chat_reply_rate")], 0.8, "breach", 16, 20)


def test_us_sfrr_reasons_and_liability(us):
    db, _ = us
    h = health(db)
    check(h[("RR", "sfrr")], 0.03, "breach", 3, 100)  # wrong item, damaged (seller liable), not as described
    check(h[("RR-EDGE", "sfrr")], 0.01, "breach", 1, 100)  # the target is strictly below 1 %


def test_every_shop_gets_every_metric_once(us):
    db, summary = us
    rows = db.rows("SELECT shop_id, metric, count(*) AS n FROM seller_health GROUP BY ALL")
    assert len(rows) == 10 * 4 and {r["n"] for r in rows} == {1}
    assert summary.rows == 40 and summary.shops == 10
    no_orders, no_waits = health(db)[("CHAT-OK", "sfrr")], health(db)[("LDR-OK", "chat_reply_rate")]
    for row in (no_orders, no_waits):  # nothing to measure: no rate, and the status says so
        assert (row["value"], row["status"], row["denominator"]) == (None, "no_data", 0)


def test_rerun_replaces_the_batch(us):
    db, _ = us
    compute_seller_health(db.path, BATCH, "run-h2", RULES_DIR)
    rows = db.rows("SELECT run_id FROM seller_health")
    assert len(rows) == 40 and {r["run_id"] for r in rows} == {"run-h2"}


def test_us_ldr_january_2026_version_breaches_above_4_percent(tmp_path):
    db = WorkDb(tmp_path / "w.duckdb").shop("LDR-JAN", "US", NY)
    with db.bulk():
        shipped_orders(
            db,
            "LDR-JAN",
            10,
            late=1,
            created="2026-02-02 10:00",
            on_time="2026-02-03 10:00",
            late_at="2026-02-06 10:00",
        )
    health_inputs(db.path, dt.date(2026, 2, 15))
    compute_seller_health(db.path, dt.date(2026, 2, 15), "r", RULES_DIR)
    row = health(db, dt.date(2026, 2, 15))[("LDR-JAN", "ldr")]
    check(row, 0.10, "breach", 1, 10)
    assert (row["rule_version"], row["breach_threshold"]) == (1, None)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    db = WorkDb(tmp_path_factory.mktemp("health-sea") / "work.duckdb")
    db.shop("UK-1", "UK", LDN).shop("TH-1", "TH", BKK).shop("MY-EMPTY", "MY", "Asia/Kuala_Lumpur")
    with db.bulk():
        shipped_orders(db, "UK-1", 39)
        db.order("UK-1", "UK-cancel", CREATED, cancelled="2026-11-23 12:00", cancel_by="Seller")
        # TH, 7-day window 28 Nov - 4 Dec: created Tue 1 Dec, RTS/hand-over well within the working days
        shipped_orders(
            db, "TH-1", 39, created="2026-12-01 10:00", rts="2026-12-01 12:00", on_time="2026-12-01 15:00"
        )
        db.order(
            "TH-1",
            "TH-late-buyer",
            "2026-12-01 10:00",
            cancelled="2026-12-02 10:00",
            cancel_by="Buyer",
            cancel_reason="Late Shipment",
        )
        db.order("TH-1", "TH-old", "2026-11-27 10:00", cancelled="2026-11-27 12:00", cancel_by="Seller")
        waits(db, "TH-1", 20, late=3)
    health_inputs(db.path, BATCH)
    compute_seller_health(db.path, BATCH, "run-w", RULES_DIR)
    return db


def test_uk_sfcr_is_strictly_below_2_5_percent(world):
    row = health(world)[("UK-1", "sfcr")]
    check(row, 0.025, "breach", 1, 40)
    assert (row["comparison"], row["window_days"]) == ("<", 30)
    # every shop reports all four contract metrics (UK SFRR by inference, firmness I)
    assert {m for (s, m) in health(world) if s == "UK-1"} == {"sfcr", "ldr", "chat_reply_rate", "sfrr"}


def test_th_seven_day_sfcr_counts_late_shipment_buyer_cancellations(world):
    row = health(world)[("TH-1", "sfcr")]
    check(row, 0.025, "breach", 1, 40)
    assert row["window_days"] == 7


def test_sea_chat_rate_must_exceed_85_percent(world):
    row = health(world)[("TH-1", "chat_reply_rate")]
    check(row, 0.85, "breach", 17, 20)
    assert (row["comparison"], row["window_days"]) == (">", 30)


def test_shop_without_activity_has_status_no_data(world):
    rows = {m: r for (s, m), r in health(world).items() if s == "MY-EMPTY"}
    assert set(rows) == {"sfcr", "ldr", "chat_reply_rate", "sfrr"}
    assert all(
        r["value"] is None and r["status"] == "no_data" and r["denominator"] == 0 for r in rows.values()
    )
    assert {m: r["window_days"] for m, r in rows.items()} == {
        "sfcr": 7,
        "ldr": 7,
        "chat_reply_rate": 30,
        "sfrr": 30,
    }


def test_health_rule_validation(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR / "us_local", rules / "us_local")
    shutil.copy(RULES_DIR / "sources.yaml", rules / "sources.yaml")
    path = rules / "us_local" / "health.yaml"
    good = path.read_text()
    path.write_text(good.replace('breach: {op: "<", value: 0.85}', 'breach: {op: ">", value: 0.95}'))
    with pytest.raises(RulePackError, match="failing side"):
        load_health_rules(rules)
    path.write_text(
        good.replace(
            'window_days: 30\n    target: {op: "<=", value: 0.025}',
            'window_days: 30\n    target: {op: "<=", value: 2.5}',
        )
    )
    with pytest.raises(RulePackError, match="fraction"):
        load_health_rules(rules)
    path.write_text(good.replace("effective_from: 2026-03-01", "effective_from: 2026-02-01"))
    with pytest.raises(RulePackError, match="overlap"):
        load_health_rules(rules)


def test_two_health_rules_may_not_set_the_same_metric_on_the_same_day(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR / "us_local", rules / "us_local")
    shutil.copy(RULES_DIR / "sources.yaml", rules / "sources.yaml")
    path = rules / "us_local" / "health.yaml"
    good = path.read_text()
    first_ldr = "  - id: us_local.health.ldr\n    version: 1\n    effective_from: 2024-01-01\n"
    assert first_ldr + "    effective_to: 2026-03-01\n" in good
    # another rule id, still in force when ldr v2 starts: two rules setting one metric, not two versions
    path.write_text(
        good.replace(
            first_ldr + "    effective_to: 2026-03-01\n",
            first_ldr.replace("health.ldr", "health.ldr_legacy") + "    effective_to: null\n",
        )
    )
    with pytest.raises(RulePackError, match="health rules .* both set ldr for US/local from 2026-03-01"):
        load_health_rules(rules)
