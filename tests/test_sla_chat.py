"""chat_reply clocks: customer-initiated waits, greetings, chatbots, weekends, SEA 12 h (policy rows 68-72)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_sla_support import RULES_DIR, WorkDb, local

from aftersales.sla import compute_sla

NY, LA, BKK = "America/New_York", "America/Los_Angeles", "Asia/Bangkok"
BATCH = dt.date(2026, 12, 4)  # as of Sat 5 Dec 00:00 local


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    db = WorkDb(tmp_path_factory.mktemp("chat") / "work.duckdb")
    db.shop("NY", "US", NY, chatbots=True).shop("LA", "US", LA, chatbots=False).shop("TH", "TH", BKK)
    m = db.message
    m("NY", "late", "late-b1", "Buyer", "2026-12-01 10:00")
    m("NY", "late", "late-s1", "Seller", "2026-12-02 11:00")
    m("NY", "exact", "exact-b1", "Buyer", "2026-12-01 10:00")
    m("NY", "exact", "exact-s1", "Seller", "2026-12-02 10:00")
    m("NY", "greet", "greet-b1", "Buyer", "2026-12-01 10:00")
    m("NY", "greet", "greet-s1", "Seller", "2026-12-01 10:05", greeting=True)  # "hi": does not stop the clock
    m("NY", "greet", "greet-s2", "Seller", "2026-12-02 10:30")
    m("NY", "bot-only", "bot-b1", "Buyer", "2026-12-01 10:00")
    m("NY", "bot-only", "bot-c1", "Chatbot", "2026-12-01 10:00")
    m("NY", "bot-mixed", "mixed-b1", "Buyer", "2026-12-01 10:00")
    m("NY", "bot-mixed", "mixed-c1", "Chatbot", "2026-12-01 10:01")
    m("NY", "bot-mixed", "mixed-y1", "System", "2026-12-01 10:02", message_type="order_card")
    m("NY", "bot-mixed", "mixed-s1", "Seller", "2026-12-02 10:30")
    m("NY", "seller-first", "sf-s1", "Seller", "2026-11-30 09:00")
    m("NY", "seller-first", "sf-b1", "Buyer", "2026-11-30 10:00")
    m("NY", "no-order", "no-b1", "Buyer", "2026-12-01 09:00", order_id=None, message_type="image")
    # out of order in the file: two waits, the second made of two buyer messages
    m("NY", "shuffled", "sh-s2", "Seller", "2026-12-01 13:00")
    m("NY", "shuffled", "sh-b4", "Buyer", "2026-11-30 13:00")
    m("NY", "shuffled", "sh-s1", "Seller", "2026-11-30 10:00")
    m("NY", "shuffled", "sh-b3", "Buyer", "2026-11-30 12:00")
    m("NY", "shuffled", "sh-b1", "Buyer", "2026-11-30 09:00")
    # US weekend rule with chatbots on: Sat/Sun buyer messages are due Monday 12:00 local
    m("NY", "sat", "sat-b1", "Buyer", "2026-11-28 09:00")
    m("NY", "sat", "sat-s1", "Seller", "2026-11-30 11:59")
    m("NY", "sun", "sun-b1", "Buyer", "2026-11-29 23:00")
    m("NY", "sun", "sun-s1", "Seller", "2026-11-30 13:00")
    m("LA", "sat-nobot", "la-b1", "Buyer", "2026-11-28 09:00")
    m("LA", "sat-nobot", "la-s1", "Seller", "2026-11-30 09:00")
    m("LA", "dst", "dst-b1", "Buyer", "2026-10-31 10:00")
    m("LA", "dst", "dst-s1", "Seller", "2026-11-01 09:30")
    m("NY", "open", "open-b1", "Buyer", "2026-12-04 20:00")
    m("NY", "small-talk", "st-b1", "Buyer", "2026-12-01 09:00", greeting=True)
    m("NY", "hi-then-ask", "ha-b1", "Buyer", "2026-12-01 09:00", greeting=True)
    m("NY", "hi-then-ask", "ha-b2", "Buyer", "2026-12-01 09:05")
    m("NY", "hi-then-ask", "ha-s1", "Seller", "2026-12-02 09:30")
    m("NY", "after-asof", "aa-b1", "Buyer", "2026-12-03 09:00")
    m("NY", "after-asof", "aa-s1", "Seller", "2026-12-05 08:00")
    m("NY", "dup", "dup-b1", "Buyer", "2026-12-01 08:00")
    m("NY", "dup", "dup-b1", "Buyer", "2026-12-01 08:00")  # the same message in two exports
    # SEA: 12 elapsed hours, weekends included
    m("TH", "th-ok", "th-ok-b1", "Buyer", "2026-12-03 08:00", message_type="sticker")
    m("TH", "th-ok", "th-ok-s1", "Seller", "2026-12-03 20:00")
    m("TH", "th-late", "th-late-b1", "Buyer", "2026-12-05 08:00")  # after the batch: not seen
    m("TH", "th-late2", "th-late2-b1", "Buyer", "2026-12-03 08:00")
    m("TH", "th-late2", "th-late2-s1", "Seller", "2026-12-03 20:30")
    compute_sla(db.path, BATCH, "run-chat", RULES_DIR)
    return db


def chat_rows(db: WorkDb, table: str, tz: str, shop: str) -> dict:
    return {
        r["entity_id"]: r
        for r in db.rows(f"SELECT * FROM {table} WHERE sla_id = 'chat_reply' AND shop_id = ?", [shop], tz)
    }


@pytest.fixture(scope="module")
def ny(chat):
    return chat_rows(chat, "sla_breaches", NY, "NY")


def test_late_reply_is_a_breach_keyed_by_the_message_that_started_the_wait(ny):
    b = ny["late-b1"]
    assert (local(b["started_at"]), local(b["due_at"]), local(b["met_at"])) == (
        "2026-12-01 10:00",
        "2026-12-02 10:00",
        "2026-12-02 11:00",
    )
    assert b["overdue_hours"] == pytest.approx(1.0)
    assert b["rule_id"] == "us_local.sla.chat_reply"


def test_reply_exactly_at_24_hours_is_on_time(ny):
    assert "exact-b1" not in ny


def test_greeting_does_not_stop_the_clock_the_real_reply_does(ny):
    b = ny["greet-b1"]
    assert local(b["met_at"]) == "2026-12-02 10:30"
    assert b["overdue_hours"] == pytest.approx(0.5)


def test_chatbot_only_chat_is_excluded_but_a_bot_answer_does_not_stop_a_human_chat(chat, ny):
    assert "bot-b1" not in ny and "bot-b1" not in chat_rows(chat, "sla_open_clocks", NY, "NY")
    assert ny["mixed-b1"]["overdue_hours"] == pytest.approx(0.5)  # chatbot and system messages ignored


def test_seller_initiated_chat_is_excluded(ny):
    assert "sf-b1" not in ny


def test_message_without_an_order_still_counts(ny):
    b = ny["no-b1"]
    assert b["met_at"] is None
    assert b["overdue_hours"] == pytest.approx(63.0)  # due Wed 2 Dec 09:00, as of Sat 5 Dec 00:00


def test_messages_are_ordered_by_time_not_by_file_position(ny):
    assert "sh-b1" not in ny  # answered 1 h later
    b = ny["sh-b3"]  # the second wait starts at the first buyer message after the reply
    assert (local(b["started_at"]), local(b["met_at"])) == ("2026-11-30 12:00", "2026-12-01 13:00")
    assert b["overdue_hours"] == pytest.approx(1.0)
    assert "sh-b4" not in ny


def test_weekend_messages_are_due_monday_noon_when_chatbots_are_on(ny):
    assert "sat-b1" not in ny  # Sat 09:00 -> Mon 12:00, answered 11:59
    b = ny["sun-b1"]  # Sun 23:00 -> Mon 12:00 (not Mon 23:00)
    assert (local(b["due_at"]), b["overdue_hours"]) == ("2026-11-30 12:00", pytest.approx(1.0))


def test_weekend_rule_needs_chatbots(chat):
    la = chat_rows(chat, "sla_breaches", LA, "LA")
    b = la["la-b1"]
    assert (local(b["due_at"]), b["overdue_hours"]) == ("2026-11-29 09:00", pytest.approx(24.0))


def test_24_hours_are_elapsed_across_dst(chat):
    b = chat_rows(chat, "sla_breaches", LA, "LA")["dst-b1"]
    # Sat 31 Oct 10:00 PDT + 24 h = Sun 1 Nov 09:00 PST
    assert (local(b["due_at"]), b["overdue_hours"]) == ("2026-11-01 09:00", pytest.approx(0.5))


def test_unanswered_not_yet_due_is_open(chat):
    o = chat_rows(chat, "sla_open_clocks", NY, "NY")["open-b1"]
    assert (local(o["due_at"]), o["hours_left"]) == ("2026-12-05 20:00", pytest.approx(20.0))


def test_buyer_small_talk_alone_is_not_a_wait_but_starts_one_when_a_question_follows(chat, ny):
    assert "st-b1" not in ny and "st-b1" not in chat_rows(chat, "sla_open_clocks", NY, "NY")
    b = ny["ha-b1"]
    assert (local(b["started_at"]), b["overdue_hours"]) == ("2026-12-01 09:00", pytest.approx(0.5))


def test_reply_after_the_as_of_instant_is_not_seen(ny):
    assert ny["aa-b1"]["met_at"] is None


def test_a_message_seen_twice_is_one_wait(chat):
    rows = chat.rows("SELECT entity_id FROM sla_breaches WHERE entity_id = 'dup-b1'")
    assert len(rows) == 1


def test_sea_twelve_hours(chat):
    th = chat_rows(chat, "sla_breaches", BKK, "TH")
    assert "th-ok-b1" not in th
    assert "th-late-b1" not in th
    b = th["th-late2-b1"]
    assert (local(b["due_at"]), b["overdue_hours"], b["rule_version"]) == (
        "2026-12-03 20:00",
        pytest.approx(0.5),
        2,
    )
