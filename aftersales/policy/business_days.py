"""Business-day arithmetic for case features, on the shared calendar of `aftersales.sla.market_calendar`.

The calendar table (market, day, is_business_day, holiday, bd_index) and its deadline macros
come from `install_business_calendar`; the policy engine adds one macro on top:

`bd_elapsed(market, start_local, end_local)` returns a number E such that, for every integer N,
`E > N` exactly when `end` is later than "N business days after start" in the contract's sense
(§4: the same local clock time on the N-th business day after the start's date; a start on a
non-business day counts from 00:00 of the next business day), i.e. later than
`add_business_days_local(market, start_local, N)`. Rule conditions then say
`seller_response_bd > 2` whatever N the pack sets. Whole-table SQL, no per-case Python.
"""

from __future__ import annotations

import datetime as dt

from aftersales.sla.market_calendar import install_business_calendar

CALENDAR_TABLE = "policy_bd_calendar"


def create_calendar(con, markets: list[str], first: dt.date, last: dt.date) -> None:
    """Install the shared business-day calendar for [first, last] and the `bd_elapsed` macro."""
    install_business_calendar(con, markets, first, last, table=CALENDAR_TABLE, temporary=True)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP MACRO bd_elapsed(mkt, start_local, end_local) AS (
            SELECT (e.bd_index - s.bd_index - CAST(NOT s.is_business_day AS INTEGER))
                   + CASE WHEN e.is_business_day
                          THEN (epoch(CAST(end_local AS TIMESTAMP))
                                - epoch(CAST(CAST(end_local AS DATE) AS TIMESTAMP))
                                - CASE WHEN s.is_business_day
                                       THEN epoch(CAST(start_local AS TIMESTAMP))
                                            - epoch(CAST(CAST(start_local AS DATE) AS TIMESTAMP))
                                       ELSE 0 END) / 86400.0
                          ELSE 0.5 END
            FROM {CALENDAR_TABLE} AS s, {CALENDAR_TABLE} AS e
            WHERE s.market = mkt AND s.day = CAST(start_local AS DATE)
              AND e.market = mkt AND e.day = CAST(end_local AS DATE)
        )
        """
    )
