"""SLA clocks end to end: hand rows in a real work database -> compute_sla -> sla_breaches / open clocks.

Each world is one DuckDB file with many entities, computed once; every test reads the rows of
its own entities. Expected due times are worked out by hand from the policy rows and contract §4
(comments give the counting), never recomputed with the code under test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from test_sla_support import RULES_DIR, WorkDb, local

from aftersales.rulepack import RulePackError
from aftersales.sla import compute_sla

NY, LA = "America/New_York", "America/Los_Angeles"
US_BATCH = dt.date(2026, 12, 4)  # as of Sat 2026-12-05 00:00 local


def breaches(db: WorkDb, tz: str, batch=None, **where) -> dict:
    sql = "SELECT * FROM sla_breaches" + (" WHERE batch_date = ?" if batch else "")
    return {
        (r["sla_id"], r["entity_id"], r["stage"]): r
        for r in db.rows(sql, [batch] if batch else None, tz)
        if all(r[k] == v for k, v in where.items())
    }


def open_clocks(db: WorkDb, tz: str) -> dict:
    return {
        (r["sla_id"], r["entity_id"], r["stage"]): r for r in db.rows("SELECT * FROM sla_open_clocks", tz=tz)
    }


@pytest.fixture(scope="module")
def us(tmp_path_factory):
    db = WorkDb(tmp_path_factory.mktemp("us") / "work.duckdb")
    db.shop("NY", "US", NY, chatbots=True).shop("LA", "US", LA)
    # -- aftersales_response: <= $100 -> 2 business days, > $100 -> 4 (row 10)
    db.request("NY", "R-HOLIDAY", "2026-11-25 10:00", price=80, response="2026-11-30 10:30")
    db.request("NY", "R-EXACT", "2026-11-25 10:00", price=100, response="2026-11-30 10:00")
    db.request("NY", "R-OVERBAND", "2026-11-25 10:00", price=100.01)
    db.request("NY", "R-NOPRICE", "2026-11-25 10:00", price=None, response="2026-12-01 10:00")
    db.request("NY", "R-SATURDAY", "2026-11-28 15:00", price=20, response="2026-12-01 18:00")
    db.request("NY", "R-SATURDAY-LATE", "2026-11-28 15:00", price=20, response="2026-12-02 00:01")
    db.request("LA", "R-DST", "2026-10-30 10:00", price=50, response="2026-11-03 09:30")
    db.request("LA", "R-DST-LATE", "2026-10-30 10:00", price=50, response="2026-11-03 10:30")
    db.request("NY", "R-OPEN", "2026-12-03 09:00", price=30)
    db.request("NY", "R-PLATFORM", "2026-11-30 09:00", price=30, refund="2026-11-30 12:00")
    db.request("NY", "R-AFTER-ASOF", "2026-12-01 09:00", price=20, response="2026-12-05 10:00")
    db.request("NY", "R-FUTURE", "2026-12-05 09:00", price=20)
    # -- return_inspection: same bands, from the parcel's delivery back to the seller (row 11)
    db.request(
        "NY",
        "RI-HOLIDAY",
        "2026-11-10 09:00",
        price=150,
        response="2026-11-10 10:00",
        decision="Approved",
        return_delivered="2026-11-20 16:00",
        inspected="2026-11-27 15:00",
    )
    db.request(
        "NY",
        "RI-UNMET",
        "2026-11-20 09:00",
        price=60,
        response="2026-11-20 10:00",
        decision="Approved",
        return_delivered="2026-11-30 09:00",
    )
    # -- dispute_window: buyer has 10 calendar days after the seller's rejection (row 51)
    db.request(
        "NY",
        "R-DISPUTE-LATE",
        "2026-11-02 09:00",
        price=20,
        response="2026-11-03 09:00",
        decision="Rejected",
        dispute="2026-11-14 09:00",
    )
    db.request(
        "NY",
        "R-DISPUTE-OK",
        "2026-11-02 09:00",
        price=20,
        response="2026-11-03 09:00",
        decision="Rejected",
        dispute="2026-11-13 09:00",
    )
    db.request(
        "NY", "R-DISPUTE-OPEN", "2026-11-30 09:00", price=20, response="2026-12-01 10:00", decision="Rejected"
    )
    # -- cancellation_response: 24 elapsed hours (row 39)
    db.cancellation(
        "NY", "C-EXACT", "O-C1", "2026-12-01 10:00", response="2026-12-02 10:00", decision="Approved"
    )
    db.cancellation(
        "NY", "C-LATE", "O-C2", "2026-12-01 10:00", response="2026-12-02 11:00", decision="Approved"
    )
    db.cancellation("NY", "C-SELLER", "O-C3", "2026-11-20 10:00", by="Seller", cancelled="2026-11-20 10:00")
    db.cancellation("NY", "C-FREE-WINDOW", "O-C4", "2026-12-01 10:00", cancelled="2026-12-01 10:20")
    db.cancellation(
        "LA", "C-DST", "O-C5", "2026-10-31 12:00", response="2026-11-01 11:30", decision="Rejected"
    )
    db.order("NY", "O-C6", "2026-11-30 09:00", rts="2026-12-01 20:00", shipped="2026-12-02 08:00")
    db.cancellation("NY", "C-TRACKING", "O-C6", "2026-12-01 10:00")
    # -- dispatch (2 business days from paid time, row 41) and auto_cancel (7 business days, row 42)
    db.order("NY", "O-THANKSGIVING", "2026-11-25 14:00", shipped="2026-11-30 13:00")
    db.order("NY", "O-LATE", "2026-11-30 09:00", shipped="2026-12-02 15:00")
    db.order("NY", "O-UNSHIPPED", "2026-12-01 08:00")
    db.order("NY", "O-CANCELLED", "2026-12-01 08:00", cancelled="2026-12-01 12:00", cancel_by="Buyer")
    db.order("NY", "O-PREORDER", "2026-11-20 08:00", order_type="Pre-order")
    db.order("NY", "O-OLD-RULE", "2025-09-26 10:00", shipped="2025-10-01 12:00")
    db.order("NY", "O-MULTI", "2026-11-30 09:00", shipped="2026-12-01 09:00", sku="A")
    db.order("NY", "O-MULTI", "2026-11-30 09:00", shipped="2026-12-03 10:00", sku="B")
    db.order("NY", "O-ABANDONED", "2026-11-16 10:00")
    # -- appeal_window: seller has 21 days after the outcome (row 52)
    db.appeal("NY", "A-LATE", "R-X1", "2026-11-02 10:00", submitted="2026-11-24 09:00")
    db.appeal("NY", "A-INTIME", "R-X2", "2026-11-02 10:00", submitted="2026-11-20 10:00")
    db.appeal("NY", "A-OPEN", "R-X3", "2026-11-20 10:00")
    db.appeal("NY", "A-LAPSED", "R-X4", "2026-10-01 10:00")
    summary = compute_sla(db.path, US_BATCH, "run-1", RULES_DIR)
    return db, summary


def test_aftersales_response_skips_thanksgiving_and_the_weekend(us):
    db, _ = us
    b = breaches(db, NY)[("aftersales_response", "R-HOLIDAY", None)]
    # Wed 25 Nov 10:00 + 2 BD: Thu 26 is Thanksgiving -> Fri 27 (1), Mon 30 (2)
    assert local(b["started_at"]) == "2026-11-25 10:00"
    assert local(b["due_at"]) == "2026-11-30 10:00"
    assert local(b["met_at"]) == "2026-11-30 10:30"
    assert b["overdue_hours"] == pytest.approx(0.5)
    assert (b["rule_id"], b["rule_version"], b["market"]) == ("us_local.sla.aftersales_response", 1, "US")


def test_met_exactly_at_the_deadline_is_not_a_breach(us):
    db, _ = us
    found = breaches(db, NY)
    assert ("aftersales_response", "R-EXACT", None) not in found  # $100.00 is in the <= $100 band
    assert ("cancellation_response", "C-EXACT", None) not in found


def test_price_just_over_the_band_gets_four_business_days(us):
    db, _ = us
    b = breaches(db, NY)[("aftersales_response", "R-OVERBAND", None)]
    # > $100: Fri 27 (1), Mon 30 (2), Tue 1 (3), Wed 2 Dec (4) at 10:00; unmet as of Sat 5 Dec 00:00
    assert local(b["due_at"]) == "2026-12-02 10:00"
    assert b["met_at"] is None
    assert b["overdue_hours"] == pytest.approx(62.0)


def test_unknown_price_gets_the_longer_band(us):
    db, _ = us
    assert ("aftersales_response", "R-NOPRICE", None) not in breaches(db, NY)  # due Wed 2 Dec, met Tue


def test_request_on_saturday_counts_from_monday_midnight(us):
    db, _ = us
    found = breaches(db, NY)
    # Sat 28 Nov -> counts from Mon 30 Nov 00:00 -> + 2 BD = Wed 2 Dec 00:00
    assert ("aftersales_response", "R-SATURDAY", None) not in found
    late = found[("aftersales_response", "R-SATURDAY-LATE", None)]
    assert local(late["due_at"]) == "2026-12-02 00:00"
    assert late["overdue_hours"] == pytest.approx(1 / 60)


def test_business_days_keep_the_local_clock_time_across_us_dst(us):
    db, _ = us
    found = breaches(db, LA)
    # Fri 30 Oct 10:00 PDT + 2 BD = Tue 3 Nov 10:00 PST (DST ended Sun 1 Nov): 49 elapsed hours
    assert ("aftersales_response", "R-DST", None) not in found
    late = found[("aftersales_response", "R-DST-LATE", None)]
    assert local(late["due_at"]) == "2026-11-03 10:00"
    assert late["overdue_hours"] == pytest.approx(0.5)


def test_elapsed_hours_run_across_us_dst(us):
    db, _ = us
    b = breaches(db, LA)[("cancellation_response", "C-DST", None)]
    # Sat 31 Oct 12:00 PDT + 24 h = Sun 1 Nov 11:00 PST
    assert local(b["due_at"]) == "2026-11-01 11:00"
    assert b["overdue_hours"] == pytest.approx(0.5)


def test_not_yet_due_goes_to_open_clocks_with_hours_left(us):
    db, _ = us
    assert ("aftersales_response", "R-OPEN", None) not in breaches(db, NY)
    o = open_clocks(db, NY)[("aftersales_response", "R-OPEN", None)]
    # Thu 3 Dec 09:00 + 2 BD = Mon 7 Dec 09:00; as of Sat 5 Dec 00:00 -> 57 h left
    assert local(o["due_at"]) == "2026-12-07 09:00"
    assert o["hours_left"] == pytest.approx(57.0)
    assert o["rule_id"] == "us_local.sla.aftersales_response"


def test_events_after_the_as_of_instant_do_not_exist_yet(us):
    db, _ = us
    b = breaches(db, NY)[("aftersales_response", "R-AFTER-ASOF", None)]
    assert b["met_at"] is None  # the reply on 5 Dec is after the batch's end of day
    assert b["overdue_hours"] == pytest.approx(39.0)  # due Thu 3 Dec 09:00
    assert not any(k[1] == "R-FUTURE" for k in [*breaches(db, NY), *open_clocks(db, NY)])


def test_platform_decision_before_due_voids_the_response_clock(us):
    db, _ = us
    assert not any(k[1] == "R-PLATFORM" for k in [*breaches(db, NY), *open_clocks(db, NY)])


def test_return_inspection_counts_from_delivery_back_to_the_seller(us):
    db, _ = us
    found = breaches(db, NY)
    # > $100, delivered Fri 20 Nov 16:00: Mon 23, Tue 24, Wed 25, (Thanksgiving) Fri 27 16:00
    assert ("return_inspection", "RI-HOLIDAY", None) not in found
    b = found[("return_inspection", "RI-UNMET", None)]
    assert local(b["started_at"]) == "2026-11-30 09:00"
    assert local(b["due_at"]) == "2026-12-02 09:00"
    assert b["met_at"] is None


def test_cancellation_response(us):
    db, _ = us
    found = breaches(db, NY)
    late = found[("cancellation_response", "C-LATE", None)]
    assert late["overdue_hours"] == pytest.approx(1.0)
    assert (late["sla_id"], late["entity_id"]) == ("cancellation_response", "C-LATE")  # the case id
    assert not any(
        k[1] in ("C-SELLER", "C-FREE-WINDOW", "C-TRACKING") for k in [*found, *open_clocks(db, NY)]
    )


def test_dispatch_skips_thanksgiving(us):
    db, _ = us
    found = breaches(db, NY)
    # paid Wed 25 Nov 14:00 + 2 BD = Mon 30 Nov 14:00; shipped 13:00
    assert ("dispatch", "O-THANKSGIVING", None) not in found
    late = found[("dispatch", "O-LATE", None)]
    assert local(late["due_at"]) == "2026-12-02 09:00"
    assert late["overdue_hours"] == pytest.approx(6.0)
    assert late["rule_version"] == 2


def test_unshipped_order_breaches_dispatch_and_keeps_auto_cancel_open(us):
    db, _ = us
    b = breaches(db, NY)[("dispatch", "O-UNSHIPPED", None)]
    assert local(b["due_at"]) == "2026-12-03 08:00" and b["met_at"] is None
    o = open_clocks(db, NY)[("auto_cancel", "O-UNSHIPPED", None)]
    # Tue 1 Dec 08:00 + 7 BD: 2, 3, 4, 7, 8, 9, 10 Dec
    assert local(o["due_at"]) == "2026-12-10 08:00"
    assert o["hours_left"] == pytest.approx(128.0)


def test_auto_cancel_breach(us):
    db, _ = us
    b = breaches(db, NY)[("auto_cancel", "O-ABANDONED", None)]
    # Mon 16 Nov 10:00 + 7 BD: 17, 18, 19, 20, 23, 24, 25 Nov
    assert local(b["due_at"]) == "2026-11-25 10:00"
    assert b["overdue_hours"] == pytest.approx(9 * 24 + 14)


def test_cancelled_or_pre_order_has_no_dispatch_clock(us):
    db, _ = us
    entities = {k[1] for k in [*breaches(db, NY), *open_clocks(db, NY)]}
    assert "O-CANCELLED" not in entities and "O-PREORDER" not in entities


def test_dispatch_waits_for_the_last_live_line(us):
    db, _ = us
    b = breaches(db, NY)[("dispatch", "O-MULTI", None)]
    assert local(b["met_at"]) == "2026-12-03 10:00"
    assert b["overdue_hours"] == pytest.approx(25.0)


def test_rule_version_in_force_at_the_clock_start(us):
    db, _ = us
    b = breaches(db, NY)[("dispatch", "O-OLD-RULE", None)]
    # paid Fri 26 Sep 2025: version 1 (3 BD) -> Wed 1 Oct 10:00, not version 2's Tue 30 Sep
    assert (b["rule_version"], local(b["due_at"])) == (1, "2025-10-01 10:00")
    assert b["overdue_hours"] == pytest.approx(2.0)


def test_appeal_window_is_a_right_late_appeals_breach_it(us):
    db, _ = us
    found, still_open = breaches(db, NY), open_clocks(db, NY)
    late = found[("appeal_window", "A-LATE", None)]
    assert local(late["due_at"]) == "2026-11-23 10:00"  # 21 days after Mon 2 Nov 10:00
    assert local(late["met_at"]) == "2026-11-24 09:00"
    assert late["overdue_hours"] == pytest.approx(23.0)
    assert still_open[("appeal_window", "A-OPEN", None)]["hours_left"] == pytest.approx(6 * 24 + 10)
    for quiet in ("A-INTIME", "A-LAPSED"):  # not appealing is the seller's choice
        assert not any(k[1] == quiet for k in [*found, *still_open])


def test_dispute_window(us):
    db, _ = us
    found = breaches(db, NY)
    late = found[("dispute_window", "R-DISPUTE-LATE", None)]
    assert (local(late["due_at"]), late["overdue_hours"]) == ("2026-11-13 09:00", pytest.approx(24.0))
    assert ("dispute_window", "R-DISPUTE-OK", None) not in found
    assert open_clocks(db, NY)[("dispute_window", "R-DISPUTE-OPEN", None)]["hours_left"] == pytest.approx(
        154.0
    )


def test_met_on_time_obligations_are_kept_for_on_time_rates(us):
    db, summary = us
    met = {(r["sla_id"], r["entity_id"]): r for r in db.rows("SELECT * FROM sla_met_on_time", tz=NY)}
    exact = met[("aftersales_response", "R-EXACT")]
    assert local(exact["met_at"]) == local(exact["due_at"]) == "2026-11-30 10:00"
    assert ("dispatch", "O-THANKSGIVING") in met and ("appeal_window", "A-INTIME") in met
    assert ("aftersales_response", "R-HOLIDAY") not in met and ("dispatch", "O-CANCELLED") not in met
    assert summary.met_on_time == len(met)
    ids = db.rows(
        "SELECT clock_id AS id FROM sla_met_on_time WHERE batch_date = $d UNION ALL "
        "SELECT breach_id FROM sla_breaches WHERE batch_date = $d UNION ALL "
        "SELECT clock_id FROM sla_open_clocks WHERE batch_date = $d",
        {"d": US_BATCH},
    )
    assert len(ids) == len({r["id"] for r in ids})


def test_summary_counts_what_was_written(us):
    db, summary = us
    rows = db.rows("SELECT sla_id, count(*) AS n FROM sla_breaches GROUP BY sla_id")
    assert summary.breaches_by_sla == {r["sla_id"]: r["n"] for r in rows}
    assert summary.open_clocks == len(open_clocks(db, NY))
    assert json.loads(json.dumps(dataclasses.asdict(summary)))["breaches"] == summary.breaches


def test_rerun_replaces_the_batch_with_identical_breach_ids(us, tmp_path):
    db, _ = us
    first = db.rows("SELECT breach_id, sla_id, entity_id FROM sla_breaches ORDER BY breach_id")
    compute_sla(db.path, US_BATCH, "run-2", RULES_DIR)
    again = db.rows("SELECT breach_id, sla_id, entity_id, run_id FROM sla_breaches ORDER BY breach_id")
    assert [(r["breach_id"], r["sla_id"], r["entity_id"]) for r in again] == [
        (r["breach_id"], r["sla_id"], r["entity_id"]) for r in first
    ]
    assert {r["run_id"] for r in again} == {"run-2"}
    assert len({r["breach_id"] for r in again}) == len(again)
    # the next batch keeps the ids of breaches still reported and leaves this batch's rows alone
    compute_sla(db.path, US_BATCH + dt.timedelta(days=1), "run-3", RULES_DIR)
    nxt = {
        r["breach_id"]
        for r in db.rows(
            "SELECT breach_id FROM sla_breaches WHERE batch_date = ?", [US_BATCH + dt.timedelta(days=1)]
        )
    }
    assert {r["breach_id"] for r in first} <= nxt
    assert len(db.rows("SELECT 1 FROM sla_breaches WHERE batch_date = ?", [US_BATCH])) == len(first)


def test_open_clock_keeps_its_id_when_it_breaches(us):
    db, _ = us
    opened = db.rows(
        "SELECT clock_id FROM sla_open_clocks WHERE batch_date = ? AND entity_id = 'O-UNSHIPPED' "
        "AND sla_id = 'auto_cancel'",
        [US_BATCH],
    )[0]["clock_id"]
    compute_sla(db.path, dt.date(2026, 12, 10), "run-4", RULES_DIR)
    later = db.rows(
        "SELECT breach_id FROM sla_breaches WHERE batch_date = '2026-12-10' "
        "AND entity_id = 'O-UNSHIPPED' AND sla_id = 'auto_cancel'"
    )
    assert [r["breach_id"] for r in later] == [opened]


UK = "Europe/London"


@pytest.fixture(scope="module")
def uk(tmp_path_factory):
    db = WorkDb(tmp_path_factory.mktemp("uk") / "work.duckdb").shop("UK-1", "UK", UK)
    # row 14: < £100 -> 2 BD, >= £100 -> 4 BD; UK DST ended Sun 25 Oct 2026
    db.request("UK-1", "UK-100", "2026-10-23 15:00", price=100, response="2026-10-28 12:00")
    db.request("UK-1", "UK-99", "2026-10-23 15:00", price=99.99, response="2026-10-27 15:30")
    db.request("UK-1", "UK-XMAS", "2026-12-24 09:00", price=10)
    compute_sla(db.path, dt.date(2026, 10, 30), "run-uk", RULES_DIR)
    compute_sla(db.path, dt.date(2026, 12, 31), "run-uk2", RULES_DIR)
    return db


def test_uk_band_edges_are_encoded_as_written(uk):
    found = breaches(uk, UK, batch=dt.date(2026, 10, 30))
    assert ("aftersales_response", "UK-100", None) not in found  # £100 is in the 4-BD band (>= £100)
    b = found[("aftersales_response", "UK-99", None)]
    # Fri 23 Oct 15:00 BST + 2 BD = Tue 27 Oct 15:00 GMT
    assert local(b["due_at"]) == "2026-10-27 15:00"
    assert b["overdue_hours"] == pytest.approx(0.5)
    assert b["rule_id"] == "uk_local.sla.aftersales_response"


def test_uk_bank_holidays_and_as_of_per_batch(uk):
    assert not any(k[1] == "UK-XMAS" for k in breaches(uk, UK, batch=dt.date(2026, 10, 30)))
    o = {
        r["entity_id"]: r
        for r in uk.rows("SELECT * FROM sla_open_clocks WHERE batch_date = '2026-12-31'", tz=UK)
    }
    # Thu 24 Dec + 2 BD: Christmas, weekend, Boxing Day substitute (Mon 28) -> Tue 29 (1), Wed 30 (2)
    assert "UK-XMAS" not in o
    b = breaches(uk, UK, batch=dt.date(2026, 12, 31))[("aftersales_response", "UK-XMAS", None)]
    assert local(b["due_at"]) == "2026-12-30 09:00"


SEA = {"TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh", "ID": "Asia/Jakarta", "MY": "Asia/Kuala_Lumpur"}


@pytest.fixture(scope="module")
def sea(tmp_path_factory):
    db = WorkDb(tmp_path_factory.mktemp("sea") / "work.duckdb")
    for market, tz in SEA.items():
        db.shop(market, market, tz)
    db.shop("TH-CB", "TH", SEA["TH"], program="cross_border")
    # TH/VN: 1 working day (row 15)
    db.request("TH", "TH-LATE", "2026-12-03 14:00", price=500, response="2026-12-04 16:00")
    db.request("TH", "TH-WEEKEND", "2026-11-27 10:00", price=500, response="2026-11-30 09:00")
    db.request("TH", "TH-OPEN", "2026-12-04 10:00", price=500)
    # ID: 48 h (v1) until 2025-11-01, then 2 calendar days (v2) (row 16)
    db.request("ID", "ID-OLD", "2025-10-20 10:00", price=50, response="2025-10-22 11:00")
    db.request("ID", "ID-NEW", "2026-12-01 10:00", price=50, response="2026-12-03 10:30")
    # MY: legacy 48 h
    db.request("MY", "MY-1", "2026-11-30 10:00", price=50, response="2026-12-02 10:00")
    # SEA dispatch: RTS by 23:59 on the 2nd working day, hand-over by 23:59 on the 3rd (row 44)
    db.order("TH", "TH-O1", "2026-11-30 10:00", rts="2026-12-02 23:59", shipped="2026-12-04 08:00")
    db.order("TH", "TH-O-SAT", "2026-11-28 10:00", rts="2026-12-03 00:30", shipped="2026-12-03 00:30")
    # SEA cross-border from 2026-06-18: 48 h to RTS, 3 calendar days to 23:59:59 to hand over (row 47)
    db.order("TH-CB", "CB-BEFORE", "2026-06-17 10:00")
    db.order("TH-CB", "CB-1", "2026-06-18 10:00", rts="2026-06-20 11:00", shipped="2026-06-21 23:59:59")
    # VN appeal: 15 days from refund (v1, to 2026-01-01), then 7 days from availability (v2)
    db.request(
        "VN", "VN-R1", "2025-11-20 10:00", price=9, response="2025-11-20 11:00", refund="2025-12-01 10:00"
    )
    db.appeal("VN", "VN-A1", "VN-R1", "2025-12-01 10:00", submitted="2025-12-20 10:00")
    db.appeal("VN", "VN-A2", "VN-R2", "2026-01-05 10:00", submitted="2026-01-13 10:00")
    # refunded under v1, appeal available under v2: only the newer clock runs
    db.request(
        "VN", "VN-R3", "2025-12-20 10:00", price=9, response="2025-12-20 11:00", refund="2025-12-28 10:00"
    )
    db.appeal("VN", "VN-A3", "VN-R3", "2026-01-02 10:00", submitted="2026-01-10 10:00")
    compute_sla(db.path, dt.date(2026, 12, 4), "run-sea", RULES_DIR)
    return db


def test_th_one_working_day(sea):
    found = breaches(sea, SEA["TH"], shop_id="TH")
    assert found[("aftersales_response", "TH-LATE", None)]["overdue_hours"] == pytest.approx(2.0)
    assert ("aftersales_response", "TH-WEEKEND", None) not in found  # Fri -> Mon 10:00
    o = open_clocks(sea, SEA["TH"])[("aftersales_response", "TH-OPEN", None)]
    # Fri 4 Dec -> Sat, Sun, Mon 7 Dec (Father's Day in lieu) -> Tue 8 Dec 10:00
    assert local(o["due_at"]) == "2026-12-08 10:00"


def test_id_response_versions(sea):
    found = breaches(sea, SEA["ID"], shop_id="ID")
    old, new = found[("aftersales_response", "ID-OLD", None)], found[("aftersales_response", "ID-NEW", None)]
    assert (old["rule_version"], local(old["due_at"]), old["overdue_hours"]) == (1, "2025-10-22 10:00", 1.0)
    assert (new["rule_version"], local(new["due_at"]), new["overdue_hours"]) == (2, "2026-12-03 10:00", 0.5)
    assert ("aftersales_response", "MY-1", None) not in breaches(sea, SEA["MY"])  # exactly 48 h


def test_sea_dispatch_has_two_steps_to_23_59(sea):
    found = breaches(sea, SEA["TH"], shop_id="TH")
    assert ("dispatch", "TH-O1", "ready_to_ship") not in found  # RTS exactly at Wed 2 Dec 23:59
    h = found[("dispatch", "TH-O1", "handover")]
    assert local(h["due_at"]) == "2026-12-03 23:59"
    assert h["overdue_hours"] == pytest.approx(8 + 1 / 60)
    assert h["rule_id"] == "sea_local.sla.dispatch.handover"
    # Saturday order counts from Monday: RTS due Wed 2 Dec 23:59, done Thu 00:30
    sat = found[("dispatch", "TH-O-SAT", "ready_to_ship")]
    assert (local(sat["due_at"]), sat["overdue_hours"]) == ("2026-12-02 23:59", pytest.approx(31 / 60))
    assert ("dispatch", "TH-O-SAT", "handover") not in found
    ids = [r["breach_id"] for r in sea.rows("SELECT breach_id FROM sla_breaches")]
    assert len(ids) == len(set(ids))


def test_sea_cross_border_dispatch_from_18_june_2026(sea):
    found = breaches(sea, SEA["TH"], shop_id="TH-CB")
    assert not any(k[1] == "CB-BEFORE" for k in found)
    rts = found[("dispatch", "CB-1", "ready_to_ship")]
    assert (local(rts["due_at"]), rts["overdue_hours"]) == ("2026-06-20 10:00", pytest.approx(1.0))
    assert ("dispatch", "CB-1", "handover") not in found  # shipped at 23:59:59 on day 3: on time


def test_vn_appeal_window_versions(sea):
    found = breaches(sea, SEA["VN"], shop_id="VN")
    v1, v2 = found[("appeal_window", "VN-A1", None)], found[("appeal_window", "VN-A2", None)]
    assert (v1["rule_version"], local(v1["started_at"]), local(v1["due_at"])) == (
        1,
        "2025-12-01 10:00",
        "2025-12-16 10:00",
    )
    assert (v2["rule_version"], local(v2["due_at"]), v2["overdue_hours"]) == (2, "2026-01-12 10:00", 24.0)
    straddling = [k for k in found if k[1] == "VN-A3"]
    assert straddling == [("appeal_window", "VN-A3", None)]
    assert (found[straddling[0]]["rule_version"], local(found[straddling[0]]["due_at"])) == (
        2,
        "2026-01-09 10:00",
    )


def test_invalid_rule_pack_fails_before_touching_the_database(tmp_path):
    rules = tmp_path / "rules"
    (rules / "p").mkdir(parents=True)
    (rules / "sources.yaml").write_text("sources: {X: {citation: x, firmness: I}}\n")
    (rules / "p" / "pack.yaml").write_text("id: p\nversion: 1\nmarkets: [US]\nprograms: [local]\n")
    (rules / "p" / "sla.yaml").write_text(
        "rules:\n  - {id: a, version: 1, effective_from: 2026-01-01, clause_en: a, clause_zh: a, source: X,\n"
        "     firmness: I, sla_id: dispatch, start: order_paid, end: order_shipped,\n"
        "     duration: {amount: 2, unit: fortnights}}\n"
    )
    db = WorkDb(tmp_path / "w.duckdb").shop("US-1", "US", NY)
    with pytest.raises(RulePackError, match="unit must be one of"):
        compute_sla(db.path, US_BATCH, "r", rules)
    assert (
        db.rows("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'sla_breaches'")[0][
            "n"
        ]
        == 0
    )


def test_custom_pack_with_a_local_clock_time_deadline(tmp_path):
    rules = tmp_path / "rules"
    (rules / "p").mkdir(parents=True)
    (rules / "sources.yaml").write_text("sources: {X: {citation: x, firmness: I}}\n")
    (rules / "p" / "pack.yaml").write_text("id: p\nversion: 1\nmarkets: [US]\nprograms: [local]\n")
    (rules / "p" / "sla.yaml").write_text(
        "rules:\n  - {id: p.chat, version: 1, effective_from: 2026-01-01, clause_en: a, clause_zh: a, source: X,\n"
        "     firmness: I, sla_id: chat_reply, start: buyer_wait_started, end: seller_reply,\n"
        '     duration: {unit: next_business_day, at: "12:00"}}\n'
    )
    db = WorkDb(tmp_path / "w.duckdb").shop("US-1", "US", NY)
    db.message("US-1", "c", "b1", "Buyer", "2026-11-25 10:00")  # Wed before Thanksgiving
    db.message("US-1", "c", "s1", "Seller", "2026-11-27 12:30")
    summary = compute_sla(db.path, US_BATCH, "r", rules)
    b = breaches(db, NY)[("chat_reply", "b1", None)]
    assert (local(b["due_at"]), b["overdue_hours"], b["rule_id"]) == (
        "2026-11-27 12:00",
        pytest.approx(0.5),
        "p.chat",
    )
    assert (summary.obligations, summary.breaches, summary.open_clocks) == (1, 1, 0)


def test_inbox_with_only_shops_writes_nothing_and_succeeds(tmp_path):
    db = WorkDb(tmp_path / "w.duckdb").shop("US-1", "US", NY).shop("TH-1", "TH", "Asia/Bangkok")
    summary = compute_sla(db.path, US_BATCH, "r", RULES_DIR)
    assert (summary.shops, summary.obligations, summary.breaches, summary.open_clocks) == (2, 0, 0, 0)
    assert db.rows("SELECT count(*) AS n FROM sla_breaches")[0]["n"] == 0
