"""Obligations: what the SLA stage loads before its models run, and what it checks after them.

The obligations themselves are SQL models (`models/`, stage `sla`, run by `aftersales.sql_models`):

  int_sla_shops, sla_orders, int_sla_requests, int_sla_cancellations, int_sla_appeals,
  int_sla_chat_waits   the dated events of every entity, as of the end of the batch date locally
  int_sla_subjects     one row per entity, one column per event
  int_sla_clocks       each start event joined with the clock rule in force (first band wins)
  int_sla_rule_days    local due day and time per (day-based rule row, start date)
  sla_obligations      every clock with its due time (THE due-time expression), end and status
  sla_breaches, sla_open_clocks, sla_met_on_time   this batch's rows of the result tables

`sla_obligations` and `sla_orders` are the SLA stage's declared outputs for the health stage
(regular tables of the work database, never published). Before the models run, this module
loads what they read from rules/: the flattened clock rules (`sla_clock_rules`, see `clocks`)
and the business calendar of the shops' markets (`business_calendar`, see `market_calendar`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from aftersales import database
from aftersales.local_time import install_shop_local_macro
from aftersales.sla.clocks import ClockRule, install_clock_rules, max_business_days
from aftersales.sla.market_calendar import DEFAULT_TABLE, calendar_span, install_business_calendar

OBLIGATIONS_TABLE = "sla_obligations"
ORDERS_TABLE = "sla_orders"
# The SLA stage's declared outputs for the health stage (work database only, never published).
OUTPUT_TABLES = (OBLIGATIONS_TABLE, ORDERS_TABLE)
CLOCK_RULES_TABLE = "sla_clock_rules"
# Tables the SLA stage loads from rules/ before its models run (TEMP: they never reach the work db).
LOADED_TABLES = (CLOCK_RULES_TABLE, DEFAULT_TABLE)


def connect_work_db(work_db: Path) -> duckdb.DuckDBPyConnection:
    """A connection for an SLA or health stage: the batch's memory bound (aftersales.database), plus
    insertion order not preserved (every statement that needs an order says ORDER BY), which lets
    DuckDB stream and spill more freely. At default scale the build's working set is ~1 GB."""
    con = database.connect(work_db)
    con.execute("SET preserve_insertion_order = false")
    return con


def calendar_range(batch_date: dt.date, clocks: list[ClockRule]) -> tuple[dt.date, dt.date]:
    """Days the business calendar must cover for any clock of the batch.

    A clock starts on a shop-local date on or after its rule's `effective_from` and by the end of
    the batch date (an event exactly at 24:00 local falls on the next day), so the range runs from
    the earliest rule to the day after the batch date, plus the longest business-day deadline.
    It depends on the rules and the date only, so it is known before the models run.
    """
    first = min([c.rule.effective_from for c in clocks if c.rule.effective_from] + [batch_date])
    return calendar_span(first, batch_date + dt.timedelta(days=1), max_business_days(clocks))


def install_clock_inputs(con, batch_date: dt.date, clocks: list[ClockRule]) -> None:
    """Load `sla_clock_rules`, the shops' markets' `business_calendar` (TEMP) and the
    `shop_local` macro (aftersales.local_time) on `con`.

    Raises ValueError naming a shop market without a business-day calendar.
    """
    install_clock_rules(con, clocks, CLOCK_RULES_TABLE)
    install_shop_local_macro(con)
    markets = [
        r[0] for r in con.execute("SELECT DISTINCT market FROM stg_shops WHERE market IS NOT NULL").fetchall()
    ]
    start, end = calendar_range(batch_date, clocks)
    install_business_calendar(con, markets, start, end)


def check_due_times(con) -> int:
    """The number of obligations; raises RuntimeError when one has no due time.

    A calendar too short would otherwise drop obligations silently. The obligations table is
    dropped first, so the health stage never reads a build that failed.
    """
    count, missing, rule_id, entity_id = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE due_at IS NULL),
                   any_value(rule_id) FILTER (WHERE due_at IS NULL),
                   any_value(entity_id) FILTER (WHERE due_at IS NULL)
            FROM {OBLIGATIONS_TABLE}"""
    ).fetchall()[0]
    if missing:
        con.execute(f"DROP TABLE {OBLIGATIONS_TABLE}")
        raise RuntimeError(
            f"{missing} SLA clock(s) have no due time (e.g. rule {rule_id}, entity {entity_id}): "
            "the business calendar does not cover their dates"
        )
    return count
