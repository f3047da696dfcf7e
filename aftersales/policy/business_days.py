"""Business-day arithmetic for case features, on the shared calendar of `aftersales.sla.market_calendar`.

The calendar table (market, day, is_business_day, holiday, bd_index) and its deadline macros
come from `install_business_calendar`; the policy engine adds one macro on top:

`bd_elapsed(market, start_local, end_local)` returns a number E such that, for every integer N,
`E > N` exactly when `end` is later than "N business days after start" in the contract's sense
(§4: the same local clock time on the N-th business day after the start's date; a start on a
non-business day counts from 00:00 of the next business day), i.e. later than
`add_business_days_local(market, start_local, N)`. Rule conditions then say
`seller_response_bd > 2` whatever N the pack sets. Whole-table SQL, no per-case Python.

The macro reads the calendar as positional lists (one row, `policy_bd_lookup`) instead of a
correlated subquery on the calendar table: DuckDB decorrelates each call into a join over the
whole case table, and the five business-day features cost 5 of the 7.6 CPU-s of `int_case_facts`
at default benchmark scale (0.9 s with the lists; identical values: a day outside the calendar
or a market without one still gives NULL).
"""

from __future__ import annotations

import datetime as dt

from aftersales.sla.market_calendar import install_business_calendar

CALENDAR_TABLE = "policy_bd_calendar"
LOOKUP_TABLE = "policy_bd_lookup"


def create_calendar(con, markets: list[str], first: dt.date, last: dt.date) -> None:
    """Install the shared business-day calendar for [first, last] and the `bd_elapsed` macro."""
    install_business_calendar(con, markets, first, last, table=CALENDAR_TABLE, temporary=True)
    # Every market spans the same days (one generate_series), so (market, day) has the slot
    # (market position - 1) * days + (day - first_day) + 1 in the flattened lists.
    spans = con.execute(
        f"SELECT DISTINCT min(day), max(day), count(*) FROM {CALENDAR_TABLE} GROUP BY market"
    ).fetchall()
    if len(spans) != 1 or (spans[0][1] - spans[0][0]).days + 1 != spans[0][2]:
        raise RuntimeError(f"business calendar is not one gap-free span per market: {spans}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {LOOKUP_TABLE} AS
        SELECT min(first_day) AS first_day, max(days) AS days, list(market ORDER BY market) AS markets,
               flatten(list(bd_index ORDER BY market)) AS bd_index,
               flatten(list(is_business_day ORDER BY market)) AS is_business_day
        FROM (SELECT market, min(day) AS first_day, count(*) AS days,
                     list(bd_index ORDER BY day) AS bd_index,
                     list(is_business_day ORDER BY day) AS is_business_day
              FROM {CALENDAR_TABLE} GROUP BY market)
        """
    )
    lookup = f"(SELECT {{}} FROM {LOOKUP_TABLE})"
    first_day, days = lookup.format("first_day"), lookup.format("days")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP MACRO bd_slot(mkt, local_ts) AS
            CASE WHEN CAST(local_ts AS DATE) BETWEEN {first_day} AND {first_day} + CAST({days} - 1 AS INTEGER)
                 THEN (list_position({lookup.format("markets")}, mkt) - 1) * {days}
                      + date_diff('day', {first_day}, CAST(local_ts AS DATE)) + 1 END;
        CREATE OR REPLACE TEMP MACRO bd_index_on(mkt, local_ts) AS
            list_extract({lookup.format("bd_index")}, bd_slot(mkt, local_ts));
        CREATE OR REPLACE TEMP MACRO bd_open_on(mkt, local_ts) AS
            list_extract({lookup.format("is_business_day")}, bd_slot(mkt, local_ts));
        CREATE OR REPLACE TEMP MACRO bd_elapsed(mkt, start_local, end_local) AS
            (bd_index_on(mkt, end_local) - bd_index_on(mkt, start_local)
             - CAST(NOT bd_open_on(mkt, start_local) AS INTEGER))
            + CASE WHEN bd_open_on(mkt, end_local)
                   THEN (epoch(CAST(end_local AS TIMESTAMP))
                         - epoch(CAST(CAST(end_local AS DATE) AS TIMESTAMP))
                         - CASE WHEN bd_open_on(mkt, start_local)
                                THEN epoch(CAST(start_local AS TIMESTAMP))
                                     - epoch(CAST(CAST(start_local AS DATE) AS TIMESTAMP))
                                ELSE 0 END) / 86400.0
                   ELSE 0.5 END;
        """
    )
