"""Business-day calendars: holidays per market, the DuckDB table and the SQL macros (contract §4)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from aftersales.sla.market_calendar import (
    calendar_span,
    install_business_calendar,
    is_business_day,
    market_holidays,
)

D = dt.date


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    install_business_calendar(con, ["US", "UK", "VN", "TH"], D(2026, 1, 1), D(2027, 1, 31))
    yield con
    con.close()


def one(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()[0][0]


def test_market_holidays_follow_the_contract_calendars():
    us = market_holidays("US", [2026])
    assert us[D(2026, 11, 26)] == "Thanksgiving Day"
    assert D(2026, 7, 3) in us  # Independence Day observed (4 July is a Saturday)
    uk = market_holidays("UK", [2026])
    assert D(2026, 4, 6) in uk  # Easter Monday: England & Wales, not Scotland
    assert D(2026, 1, 2) not in uk  # 2 January is a Scottish bank holiday only
    assert D(2026, 12, 28) in uk  # Boxing Day substitute
    assert D(2026, 2, 17) in market_holidays("VN", [2026])  # Tết
    with pytest.raises(ValueError, match="no business-day calendar"):
        market_holidays("FR", [2026])


def test_table_marks_weekends_and_holidays_and_counts_business_days(con):
    rows = con.execute(
        "SELECT day, is_business_day, bd_index FROM business_calendar "
        "WHERE market = 'US' AND day BETWEEN '2026-11-25' AND '2026-11-30' ORDER BY day"
    ).fetchall()
    flags = [(r[0].isoformat(), r[1]) for r in rows]
    assert flags == [
        ("2026-11-25", True),
        ("2026-11-26", False),
        ("2026-11-27", True),
        ("2026-11-28", False),
        ("2026-11-29", False),
        ("2026-11-30", True),
    ]
    idx = [r[2] for r in rows]
    assert idx[1] == idx[0] and idx[2] == idx[0] + 1 and idx[3] == idx[4] == idx[2] and idx[5] == idx[2] + 1


def test_table_agrees_with_the_python_predicate_for_a_whole_year(con):
    rows = con.execute(
        "SELECT market, day, is_business_day FROM business_calendar WHERE year(day) = 2026"
    ).fetchall()
    assert len(rows) == 4 * 365
    assert all(is_business_day(m, d) == flag for m, d, flag in rows)


@pytest.mark.parametrize(
    ("market", "start", "n", "expected"),
    [
        ("US", "2026-11-25 10:00", 2, "2026-11-30 10:00"),  # Thanksgiving and a weekend skipped
        ("US", "2026-11-28 10:00", 2, "2026-12-02 00:00"),  # Saturday: counts from Monday 00:00
        ("US", "2026-11-26 16:00", 1, "2026-11-30 00:00"),  # on the holiday itself
        ("US", "2026-11-27 23:59", 4, "2026-12-03 23:59"),
        ("UK", "2026-12-24 09:00", 2, "2026-12-30 09:00"),  # Christmas, Boxing Day substitute
        ("VN", "2026-02-13 11:00", 1, "2026-02-23 11:00"),  # Tết week
    ],
)
def test_add_business_days_local(con, market, start, n, expected):
    due = one(con, "SELECT add_business_days_local(?, CAST(? AS TIMESTAMP), ?)", [market, start, n])
    assert due == dt.datetime.fromisoformat(expected)


def test_business_days_keep_the_local_clock_time_across_dst(con):
    # US: Fri 30 Oct 10:00 PDT + 2 business days = Tue 3 Nov 10:00 PST (DST ended 1 Nov)
    due = one(
        con,
        "SELECT add_business_days('US', 'America/Los_Angeles', ?::TIMESTAMPTZ, 2)",
        ["2026-10-30 17:00:00+00"],
    )
    assert due == dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC)
    # UK: Fri 23 Oct 15:00 BST + 2 business days = Tue 27 Oct 15:00 GMT (DST ended 25 Oct)
    due = one(
        con, "SELECT add_business_days('UK', 'Europe/London', ?::TIMESTAMPTZ, 2)", ["2026-10-23 14:00:00+00"]
    )
    assert due == dt.datetime(2026, 10, 27, 15, 0, tzinfo=dt.UTC)


def test_calendar_days_keep_the_local_clock_time_across_dst(con):
    due = one(
        con, "SELECT add_calendar_days('America/New_York', ?::TIMESTAMPTZ, 1)", ["2026-10-31 14:00:00+00"]
    )
    assert due == dt.datetime(2026, 11, 1, 15, 0, tzinfo=dt.UTC)  # 25 elapsed hours


def test_next_business_day_and_counting_between(con):
    assert one(con, "SELECT next_business_day('US', DATE '2026-11-25')") == D(2026, 11, 27)
    # TH: 5 Dec (Father's Day) is a Saturday in 2026; its substitute Monday 7 Dec is off too
    assert one(con, "SELECT next_business_day('TH', DATE '2026-12-04')") == D(2026, 12, 8)
    assert one(con, "SELECT business_days_between('US', DATE '2026-11-25', DATE '2026-11-30')") == 2
    assert one(con, "SELECT is_business_day('UK', DATE '2026-12-28')") is False


def test_macros_work_over_whole_tables(con):
    con.execute(
        "CREATE TEMP TABLE starts AS SELECT * FROM (VALUES ('US', TIMESTAMP '2026-11-25 10:00'), "
        "('UK', TIMESTAMP '2026-12-24 09:00'), ('US', TIMESTAMP '2026-11-28 10:00')) AS t(market, ts)"
    )
    got = con.execute(
        "SELECT market, add_business_days_local(market, ts, 2) FROM starts ORDER BY ts"
    ).fetchall()
    assert got == [
        ("US", dt.datetime(2026, 11, 30, 10)),
        ("US", dt.datetime(2026, 12, 2)),
        ("UK", dt.datetime(2026, 12, 30, 9)),
    ]


def test_span_covers_long_holiday_runs():
    start, end = calendar_span(D(2026, 2, 10), D(2026, 2, 13), max_business_days=7)
    assert start == D(2026, 2, 9)
    con = duckdb.connect()
    install_business_calendar(con, ["VN"], start, end)
    assert one(con, "SELECT add_business_days_local('VN', TIMESTAMP '2026-02-13 09:00', 7)") is not None
    con.close()
