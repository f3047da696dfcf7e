"""Business-day calendars per market, as a DuckDB table plus SQL macros (contract §4).

Contract §4 fixes the calendar, so it lives here rather than in the rule packs: business days
skip Saturdays, Sundays and the market's public holidays (US federal holidays, England and Wales
bank holidays for UK, national holidays for the SEA markets), taken from the `holidays` package
including its observed/substitute days. Time-zone handling is the caller's: every date here is a
shop-local calendar date.

Public API (stable; `aftersales.policy` builds on it):

- `market_holidays(market, years)`: {date: name} of the market's public holidays.
- `is_business_day(market, day)`: one date, for documentation and tests.
- `install_business_calendar(con, markets, start, end, table=...)`: creates the table
  ``(market, day, is_business_day, holiday, bd_index)`` on a DuckDB connection. ``bd_index`` is
  the running count of business days up to and including ``day``, so "the N-th business day
  after D" is the business day whose index is ``bd_index(D) + N``: deadlines become equi-joins
  over whole tables, never per-row Python. It also creates these SQL macros (TEMP, so nothing
  leaks into the work database):

  ``is_business_day(market, day) -> BOOLEAN``
  ``next_business_day(market, day) -> DATE``                first business day strictly after day
  ``add_business_days_local(market, local_ts, n) -> TIMESTAMP``
        contract §4: the same local clock time on the n-th business day after local_ts's date;
        a start on a non-business day counts from 00:00 of the next business day.
  ``add_business_days(market, tz, ts, n) -> TIMESTAMPTZ``   the same for an instant, in zone tz
  ``add_calendar_days(tz, ts, n) -> TIMESTAMPTZ``           same local clock time n days later
  ``business_days_between(market, d1, d2) -> BIGINT``       business days in (d1, d2]

  Macros look a date up in the calendar table, so it must span the dates used (a date outside
  it yields NULL); `calendar_span` gives a safe range for a set of start dates. They read the
  table of the latest install on that connection (one calendar per connection in practice).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

import holidays

# market -> (country code in `holidays`, subdivision). Contract §4.
MARKET_CALENDARS: dict[str, tuple[str, str | None]] = {
    "US": ("US", None),  # federal holidays (observed days included)
    "UK": ("GB", "ENG"),  # England and Wales bank holidays
    "TH": ("TH", None),
    "VN": ("VN", None),
    "ID": ("ID", None),
    "MY": ("MY", None),  # national holidays, no state holidays
    "PH": ("PH", None),
    "SG": ("SG", None),
}
WEEKEND_ISODOWS: tuple[int, ...] = (6, 7)  # Saturday, Sunday (contract §4, every market)
DEFAULT_TABLE = "business_calendar"
# Longest stretch of consecutive non-business days seen in any market (VN Tết + weekends is ~9),
# with a wide margin: a deadline N business days out lies within N * 7 / 5 + this many days.
_MAX_NON_BUSINESS_RUN = 21


def _calendar_key(market: str) -> tuple[str, str | None]:
    try:
        return MARKET_CALENDARS[market]
    except KeyError:
        raise ValueError(f"no business-day calendar for market {market!r}") from None


@lru_cache(maxsize=64)
def _holidays_for(market: str, years: tuple[int, ...]) -> dict[dt.date, str]:
    country, subdiv = _calendar_key(market)
    return dict(holidays.country_holidays(country, subdiv=subdiv, years=years))


def market_holidays(market: str, years: Iterable[int]) -> dict[dt.date, str]:
    """The market's public holidays for the given years, {date: name}."""
    return dict(_holidays_for(market, tuple(sorted(set(years)))))


def is_business_day(market: str, day: dt.date) -> bool:
    """True unless `day` is a Saturday, Sunday or one of the market's public holidays."""
    return day.isoweekday() not in WEEKEND_ISODOWS and day not in _holidays_for(market, (day.year,))


def calendar_span(first: dt.date, last: dt.date, max_business_days: int = 10) -> tuple[dt.date, dt.date]:
    """A date range that holds every start date in [first, last] and its deadline.

    A deadline up to `max_business_days` business days after `last` lies before the returned end
    even across the longest holiday run; the start is one day early so "the day before" exists.
    """
    margin = max_business_days * 7 // 5 + 2 + _MAX_NON_BUSINESS_RUN
    return first - dt.timedelta(days=1), last + dt.timedelta(days=margin)


def install_business_calendar(
    con,
    markets: Iterable[str],
    start: dt.date,
    end: dt.date,
    *,
    table: str = DEFAULT_TABLE,
    temporary: bool = True,
) -> int:
    """Create `table` for the markets over [start, end] and the SQL macros above; return its rows.

    Days come from `generate_series`, the holiday list from the `holidays` package, and
    `bd_index` from a running window sum: the whole calendar is built in SQL in one statement.
    """
    if end < start:
        raise ValueError(f"calendar end {end} is before start {start}")
    markets = sorted(set(markets))
    years = tuple(range(start.year, end.year + 1))
    holiday_rows = [
        (m, day, name)
        for m in markets
        for day, name in _holidays_for(m, years).items()
        if start <= day <= end
    ]
    temp = "TEMP " if temporary else ""
    con.execute(f"CREATE OR REPLACE {temp}TABLE {table}_holidays (market VARCHAR, day DATE, holiday VARCHAR)")
    if holiday_rows:
        con.executemany(f"INSERT INTO {table}_holidays VALUES (?, ?, ?)", holiday_rows)
    weekend = ", ".join(str(d) for d in WEEKEND_ISODOWS)
    con.execute(
        f"""
        CREATE OR REPLACE {temp}TABLE {table} AS
        WITH days AS (
            SELECT m.market, CAST(d.generate_series AS DATE) AS day
            FROM (SELECT unnest(?::VARCHAR[]) AS market) AS m
            CROSS JOIN generate_series(?::DATE, ?::DATE, INTERVAL 1 DAY) AS d
        ), flagged AS (
            SELECT days.market, days.day,
                   isodow(days.day) NOT IN ({weekend}) AND h.day IS NULL AS is_business_day,
                   h.holiday
            FROM days
            LEFT JOIN (SELECT market, day, string_agg(holiday, '; ' ORDER BY holiday) AS holiday
                       FROM {table}_holidays GROUP BY market, day) AS h
              ON h.market = days.market AND h.day = days.day
        )
        SELECT market, day, is_business_day, holiday,
               sum(CAST(is_business_day AS INTEGER)) OVER (PARTITION BY market ORDER BY day) AS bd_index
        FROM flagged
        ORDER BY market, day
        """,
        [markets, start, end],
    )
    _install_macros(con, table)
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def _install_macros(con, table: str) -> None:
    con.execute(
        f"""
        CREATE OR REPLACE TEMP MACRO is_business_day(mkt, d) AS (
            SELECT c.is_business_day FROM {table} AS c WHERE c.market = mkt AND c.day = CAST(d AS DATE));
        CREATE OR REPLACE TEMP MACRO next_business_day(mkt, d) AS (
            SELECT n.day FROM {table} AS s JOIN {table} AS n
              ON n.market = s.market AND n.is_business_day AND n.bd_index = s.bd_index + 1
            WHERE s.market = mkt AND s.day = CAST(d AS DATE));
        CREATE OR REPLACE TEMP MACRO add_business_days_local(mkt, local_ts, n) AS (
            SELECT e.day + CASE WHEN s.is_business_day THEN CAST(CAST(local_ts AS TIMESTAMP) AS TIME)
                                ELSE TIME '00:00:00' END
            FROM {table} AS s JOIN {table} AS e
              ON e.market = s.market AND e.is_business_day
             AND e.bd_index = s.bd_index + n + CAST(NOT s.is_business_day AS INTEGER)
            WHERE s.market = mkt AND s.day = CAST(local_ts AS DATE));
        CREATE OR REPLACE TEMP MACRO add_business_days(mkt, tz, ts, n) AS
            timezone(tz, add_business_days_local(mkt, timezone(tz, ts), n));
        CREATE OR REPLACE TEMP MACRO add_calendar_days(tz, ts, n) AS
            timezone(tz, timezone(tz, ts) + to_days(CAST(n AS INTEGER)));
        CREATE OR REPLACE TEMP MACRO business_days_between(mkt, d1, d2) AS (
            SELECT b.bd_index - a.bd_index FROM {table} AS a JOIN {table} AS b ON b.market = a.market
            WHERE a.market = mkt AND a.day = CAST(d1 AS DATE) AND b.day = CAST(d2 AS DATE));
        """
    )
