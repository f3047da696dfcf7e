"""Obligations: every clock that started, with its due time, how it ended and its status as of.

Joins whole tables: the start events (`sla_events`) with the clock rules in force at the start's
shop-local date (`sla_clock_rules`, one row per band), picks the first matching band, computes
the due time (business days through two equi-joins on `business_calendar.bd_index`), then the
earliest end and void events. Result: TEMP table `sla_obligations`, one row per clock.

Status (as of the end of batch_date in the shop's zone, contract §1):

  obligation (the seller must act)        right_window (a party may act until it closes)
  met_on_time   met at or before due       exercised at or before the close
  met_late      met after due   -> breach  exercised after the close -> breach (late appeal or
                                           dispute, outside the acceptance period)
  unmet_overdue unmet, due < as_of -> breach
  lapsed        -                          not exercised and closed: the party's choice, no breach
  open          unmet, due >= as_of -> sla_open_clocks (for a window: still open)
  void          ended without fault before due: a void event (order cancelled, request decided
                by the platform, cancellation auto-approved) came first and nothing met it before

Exactly at the due instant counts as met. overdue_hours = (coalesce(met_at, as_of) - due_at) in
hours; hours_left = (due_at - as_of) in hours. clock_id is a hash of (sla_id, shop_id,
entity_id, started_at[, stage]): the same obligation keeps its id across reruns and batches.
"""

from __future__ import annotations

import datetime as dt

from aftersales.sla.calendar import calendar_span, install_business_calendar
from aftersales.sla.clocks import ClockRule, install_clock_rules, max_business_days
from aftersales.sla.subjects import install_subjects
from aftersales.staging import create_staging_tables

OBLIGATIONS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_obligations AS
WITH start_events AS (
    SELECT e.shop_id, e.entity_kind, e.entity_id, e.event, e.event_at AS started_at,
           s.market, s.program, s.timezone, s.chatbots_enabled, s.as_of,
           timezone(s.timezone, e.event_at) AS start_local,
           sub.item_price, sub.order_type
    FROM sla_events AS e
    JOIN sla_shops AS s USING (shop_id)
    JOIN sla_subjects AS sub USING (shop_id, entity_kind, entity_id)
    WHERE e.event IN (SELECT DISTINCT start_event FROM sla_clock_rules)
), starts AS (
    SELECT *, CAST(start_local AS DATE) AS start_date FROM start_events
), clocks AS (
    SELECT st.*, r.rule_id, r.rule_version, r.pack_id, r.sla_id, r.semantics, r.stage,
           r.end_events, r.void_events, r.band_rank, r.amount, r.unit, r.at_time, r.weekday
    FROM starts AS st
    JOIN sla_clock_rules AS r
      ON r.market = st.market AND r.program = st.program AND r.entity_kind = st.entity_kind
     AND r.start_event = st.event
     AND r.effective_from <= st.start_date AND (r.effective_to IS NULL OR st.start_date < r.effective_to)
    WHERE (r.order_types IS NULL
           OR list_contains(r.order_types, lower(coalesce(nullif(trim(st.order_type), ''), 'normal'))))
      -- an unknown price satisfies no price condition: such rows fall through to the default band
      AND coalesce((r.price_lt IS NULL OR st.item_price < r.price_lt)
                   AND (r.price_lte IS NULL OR st.item_price <= r.price_lte)
                   AND (r.price_gt IS NULL OR st.item_price > r.price_gt)
                   AND (r.price_gte IS NULL OR st.item_price >= r.price_gte), FALSE)
      AND (r.start_isodows IS NULL OR list_contains(r.start_isodows, isodow(st.start_date)))
      AND (r.chatbots_enabled IS NULL OR r.chatbots_enabled = st.chatbots_enabled)
    -- one clock per entity and (sla_id, stage): the first matching band of the newest version (an
    -- entity can meet two versions through different start events, e.g. VN appeal v1 from the
    -- refund and v2 from the appeal's availability, when the two fall either side of the change)
    QUALIFY row_number() OVER (PARTITION BY st.shop_id, st.entity_kind, st.entity_id, r.sla_id, r.stage
                               ORDER BY r.effective_from DESC, r.band_rank) = 1
), due AS (
    SELECT c.*,
           CASE c.unit
             WHEN 'hours' THEN c.started_at + to_microseconds(CAST(round(c.amount * 3600000000) AS BIGINT))
             WHEN 'calendar_days' THEN timezone(c.timezone, (c.start_date + CAST(c.amount AS INTEGER))
                                                 + coalesce(c.at_time, CAST(c.start_local AS TIME)))
             WHEN 'business_days' THEN timezone(c.timezone, bd.day + CASE
                                                 WHEN c.at_time IS NOT NULL THEN c.at_time
                                                 WHEN bs.is_business_day THEN CAST(c.start_local AS TIME)
                                                 ELSE TIME '00:00:00' END)
             WHEN 'next_business_day' THEN timezone(c.timezone, bd.day + c.at_time)
             WHEN 'next_weekday' THEN timezone(c.timezone, (c.start_date + CAST(
                                                 (c.weekday - isodow(c.start_date) + 6) % 7 + 1 AS INTEGER))
                                                 + c.at_time)
           END AS due_at
    FROM clocks AS c
    LEFT JOIN business_calendar AS bs
      ON bs.market = c.market AND bs.day = c.start_date AND c.unit IN ('business_days', 'next_business_day')
    LEFT JOIN business_calendar AS bd
      ON bd.market = c.market AND bd.is_business_day
     AND bd.bd_index = bs.bd_index + CASE WHEN c.unit = 'business_days'
                                          THEN CAST(c.amount AS INTEGER) + CAST(NOT bs.is_business_day AS INTEGER)
                                          ELSE 1 END
), ends AS (   -- earliest end and void event of each clock (one clock per entity, sla_id, stage)
    SELECT d.shop_id, d.entity_kind, d.entity_id, d.sla_id, coalesce(d.stage, '') AS stage_key,
           min(e.event_at) FILTER (WHERE list_contains(d.end_events, e.event)) AS met_at,
           min(e.event_at) FILTER (WHERE list_contains(d.void_events, e.event)) AS void_at
    FROM due AS d
    JOIN sla_events AS e
      ON e.shop_id = d.shop_id AND e.entity_kind = d.entity_kind AND e.entity_id = d.entity_id
    GROUP BY d.shop_id, d.entity_kind, d.entity_id, d.sla_id, coalesce(d.stage, '')
), ended AS (
    SELECT d.*, n.met_at, n.void_at
    FROM due AS d
    LEFT JOIN ends AS n
      ON n.shop_id = d.shop_id AND n.entity_kind = d.entity_kind AND n.entity_id = d.entity_id
     AND n.sla_id = d.sla_id AND n.stage_key = coalesce(d.stage, '')
)
SELECT left(sha256(concat_ws('|', sla_id, shop_id, entity_id, CAST(epoch_us(started_at) AS VARCHAR), stage)), 32)
           AS clock_id,
       sla_id, stage, semantics, shop_id, market, program, timezone, entity_kind, entity_id,
       started_at, due_at, CAST(timezone(timezone, due_at) AS DATE) AS due_local_date,
       met_at, void_at, as_of, rule_id, rule_version, pack_id, end_events, amount, unit,
       CASE
         WHEN void_at IS NOT NULL AND void_at < due_at AND (met_at IS NULL OR met_at > void_at) THEN 'void'
         WHEN met_at IS NOT NULL AND met_at <= due_at THEN 'met_on_time'
         WHEN met_at IS NOT NULL THEN 'met_late'
         WHEN due_at < as_of THEN CASE semantics WHEN 'right_window' THEN 'lapsed' ELSE 'unmet_overdue' END
         ELSE 'open'
       END AS status,
       (epoch_us(coalesce(met_at, as_of)) - epoch_us(due_at)) / 3600000000.0 AS overdue_hours,
       (epoch_us(due_at) - epoch_us(as_of)) / 3600000000.0 AS hours_left
FROM ended
"""

BREACH_STATUSES = ("met_late", "unmet_overdue")


def install_obligations(con) -> int:
    """Create TEMP table `sla_obligations`; needs sla_events/subjects/shops, clock rules, calendar.

    Raises RuntimeError when a deadline could not be computed (a calendar too short would
    otherwise drop obligations silently).
    """
    con.execute(OBLIGATIONS_SQL)
    missing = con.execute(
        "SELECT count(*), any_value(rule_id), any_value(entity_id) FROM sla_obligations WHERE due_at IS NULL"
    ).fetchall()[0]
    if missing[0]:
        raise RuntimeError(
            f"{missing[0]} SLA clock(s) have no due time (e.g. rule {missing[1]}, entity {missing[2]}): "
            "the business calendar does not cover their dates"
        )
    return con.execute("SELECT count(*) FROM sla_obligations").fetchall()[0][0]


def prepare_obligations(con, batch_date: dt.date, clocks: list[ClockRule]) -> int:
    """Build everything `sla_obligations` needs on `con` (staging tables present), then it.

    Order: shops/as-of and entity events, the business calendar for the markets present and the
    dates the events span, the flattened clock rules, the obligations. Returns obligations.
    """
    con.execute("SET TimeZone = 'UTC'")
    create_staging_tables(con)  # an export kind absent from the inbox is an empty table
    install_subjects(con, batch_date)
    markets, first, last = con.execute(
        """SELECT list(DISTINCT s.market), min(CAST(timezone(s.timezone, e.event_at) AS DATE)),
                  max(CAST(timezone(s.timezone, e.event_at) AS DATE))
           FROM sla_shops AS s LEFT JOIN sla_events AS e USING (shop_id)"""
    ).fetchall()[0]
    first = min(first or batch_date, batch_date)
    last = max(last or batch_date, batch_date)
    start, end = calendar_span(first, last, max_business_days(clocks))
    install_business_calendar(con, [m for m in markets or [] if m is not None], start, end)
    install_clock_rules(con, clocks)
    return install_obligations(con)
