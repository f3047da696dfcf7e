"""Obligations: every clock that started, with its due time, how it ended and its status as of.

Built once per run by the SLA stage and kept in the run's work database, so the health stage
reads them instead of recomputing them (see "Work tables" below). Steps, all whole-table SQL:

1. `sla_subjects` (see `subjects`): one row per entity, one column per event.
2. `sla_clocks` (TEMP, narrow): each start event of an entity joined with the clock rules in
   force at the start's shop-local date (`sla_clock_rules`, one row per band); the first matching
   band of the newest version wins. Only integers and instants travel through the window.
3. `sla_rule_days` (TEMP, small): for every non-hour rule row and every calendar day of its
   market, the local due day (through `business_calendar.bd_index` for business days) and the
   local clock time it falls at, so the 1.8M clocks need one small equi-join instead of two
   calendar joins each.
4. `sla_work_obligations`: per clock its shop, entity, rule row (`rule_idx`), start, due instant
   and local due date, and the earliest end and void event (read from the entity's row).
   `OBLIGATIONS_READ_SQL` joins the rule's and the shop's columns back and derives the status;
   `CLOCK_ID_SQL` gives the stable id.

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

Work tables (regular tables of the work database, never published: publish copies only
`warehouse_schema.BATCH_TABLES`):

  sla_work_obligations  one row per clock (step 4)
  sla_work_orders       order-level facts the health metrics count (see `subjects.ORDERS_SQL`)
  sla_work_build        one row: the fingerprint of what they were built from

The fingerprint covers the batch date, the flattened clock rules, the SQL that builds them and
the row counts of the staging tables read. `build_obligations` always rebuilds (the SLA stage);
`ensure_obligations` reuses the tables when the fingerprint matches and rebuilds them otherwise
(the health stage, e.g. on a work database where the SLA stage has not run, or ran for another
batch date or rule set). The marker row is removed before and written after a build, so a build
killed half-way is never reused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aftersales import database
from aftersales.sla import chat, subjects
from aftersales.sla.clocks import ClockRule, clock_rule_rows, install_clock_rules, max_business_days
from aftersales.sla.market_calendar import calendar_span, install_business_calendar
from aftersales.sla.subjects import SUBJECT_EVENTS, install_shops, install_subjects
from aftersales.staging import create_staging_tables

OBLIGATIONS_TABLE = "sla_work_obligations"
ORDERS_TABLE = "sla_work_orders"
BUILD_TABLE = "sla_work_build"
WORK_TABLES = (OBLIGATIONS_TABLE, ORDERS_TABLE, BUILD_TABLE)

# Staging tables the build reads; their row counts are part of the fingerprint.
SOURCE_TABLES = (
    "stg_shops",
    "stg_order_lines",
    "stg_aftersales_requests",
    "stg_cancellations",
    "stg_appeals",
    "stg_messages",
)

CLOCKS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_clocks AS
WITH starts AS (
    SELECT u.subject_id, u.entity_kind, u.event, u.started_at, u.item_price, u.order_type,
           s.market, s.program, s.chatbots_enabled, timezone(s.timezone, u.started_at) AS start_local
    FROM (UNPIVOT (SELECT subject_id, shop_id, entity_kind, item_price, order_type, {start_columns}
                   FROM sla_subjects WHERE entity_id IS NOT NULL)
          ON {start_columns} INTO NAME event VALUE started_at) AS u
    JOIN sla_shops AS s USING (shop_id)
), dated AS (
    SELECT *, CAST(start_local AS DATE) AS start_date FROM starts
)
SELECT st.subject_id, r.rule_idx, st.started_at, st.start_local, st.start_date
FROM dated AS st
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
QUALIFY row_number() OVER (PARTITION BY st.subject_id, r.clock_key
                           ORDER BY r.effective_from DESC, r.band_rank) = 1
"""

NO_CLOCKS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_clocks (
    subject_id INTEGER, rule_idx INTEGER, started_at TIMESTAMPTZ, start_local TIMESTAMP, start_date DATE
)"""

# Local due day and clock time per (rule row, start date). due_time NULL = the start's local time.
#   calendar_days      start date + amount, at `at` or the start's time
#   business_days      the amount-th business day after the start date (counted from the next
#                      business day when the start is on a non-business day, then at 00:00), at `at`
#                      or the start's time (contract §4)
#   next_business_day  the first business day after the start date, at `at`
#   next_weekday       the first `weekday` after the start date, at `at`
RULE_DAYS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_rule_days AS
SELECT r.rule_idx, bs.day AS start_date,
       CASE r.unit
         WHEN 'calendar_days' THEN bs.day + CAST(r.amount AS INTEGER)
         WHEN 'next_weekday' THEN bs.day + CAST((r.weekday - isodow(bs.day) + 6) % 7 + 1 AS INTEGER)
         ELSE bd.day
       END AS due_day,
       CASE WHEN r.at_time IS NOT NULL THEN r.at_time
            WHEN r.unit = 'business_days' AND NOT bs.is_business_day THEN TIME '00:00:00'
       END AS due_time
FROM sla_clock_rules AS r
JOIN business_calendar AS bs ON bs.market = r.market
LEFT JOIN business_calendar AS bd
  ON r.unit IN ('business_days', 'next_business_day') AND bd.market = r.market AND bd.is_business_day
 AND bd.bd_index = bs.bd_index + CASE WHEN r.unit = 'business_days'
                                      THEN CAST(r.amount AS INTEGER) + CAST(NOT bs.is_business_day AS INTEGER)
                                      ELSE 1 END
WHERE r.unit <> 'hours'
"""

# The work table keeps what varies per clock; everything a rule row or a shop determines (sla_id,
# stage, entity kind, rule id and version, end events, market, program, as_of) is joined back on
# read (`OBLIGATIONS_READ_SQL`), which keeps the one large write of the build narrow.
OBLIGATIONS_SQL = """
CREATE OR REPLACE TABLE {table} AS
WITH rules AS (
    SELECT rule_idx, unit, amount{flag_columns}
    FROM sla_clock_rules
), timed AS (
    SELECT sub.shop_id, sub.entity_id, c.rule_idx, c.started_at, s.timezone,
           CASE WHEN r.unit = 'hours'
                THEN c.started_at + to_microseconds(CAST(round(r.amount * 3600000000) AS BIGINT))
                ELSE timezone(s.timezone, d.due_day + coalesce(d.due_time, CAST(c.start_local AS TIME)))
           END AS due_at,
           {met_at} AS met_at,
           {void_at} AS void_at
    FROM sla_clocks AS c
    JOIN sla_subjects AS sub USING (subject_id)
    JOIN sla_shops AS s ON s.shop_id = sub.shop_id
    JOIN rules AS r ON r.rule_idx = c.rule_idx
    LEFT JOIN sla_rule_days AS d ON d.rule_idx = c.rule_idx AND d.start_date = c.start_date
)
SELECT shop_id, entity_id, rule_idx, started_at, due_at,
       CAST(timezone(timezone, due_at) AS DATE) AS due_local_date, met_at, void_at
FROM timed
"""

# Every obligation with its rule's and shop's columns and its status; needs the TEMP tables
# sla_clock_rules and sla_shops of the same rules and batch date (`install_readers`).
OBLIGATIONS_READ_SQL = f"""
SELECT ob.shop_id, r.entity_kind, ob.entity_id, r.sla_id, r.stage, r.semantics, s.market, s.program,
       ob.started_at, ob.due_at, ob.due_local_date, ob.met_at, ob.void_at, s.as_of,
       r.rule_id, r.rule_version, r.end_events,
       CASE
         WHEN ob.void_at IS NOT NULL AND ob.void_at < ob.due_at
              AND (ob.met_at IS NULL OR ob.met_at > ob.void_at) THEN 'void'
         WHEN ob.met_at IS NOT NULL AND ob.met_at <= ob.due_at THEN 'met_on_time'
         WHEN ob.met_at IS NOT NULL THEN 'met_late'
         WHEN ob.due_at < s.as_of
           THEN CASE r.semantics WHEN 'right_window' THEN 'lapsed' ELSE 'unmet_overdue' END
         ELSE 'open'
       END AS status
FROM {OBLIGATIONS_TABLE} AS ob
JOIN sla_clock_rules AS r USING (rule_idx)
JOIN sla_shops AS s ON s.shop_id = ob.shop_id
"""

# Stable id of a clock (and of its breach): a function of what the clock is, never of the run.
CLOCK_ID_SQL = (
    "left(sha256(concat_ws('|', sla_id, shop_id, entity_id, "
    "CAST(epoch_us(started_at) AS VARCHAR), stage)), 32)"
)
OVERDUE_HOURS_SQL = "(epoch_us(coalesce(met_at, as_of)) - epoch_us(due_at)) / 3600000000.0"
HOURS_LEFT_SQL = "(epoch_us(due_at) - epoch_us(as_of)) / 3600000000.0"

WORK_ORDERS_SQL = f"""
CREATE OR REPLACE TABLE {ORDERS_TABLE} AS
SELECT shop_id, order_id, created_at, was_paid, cancelled_at FROM sla_orders
"""

BUILD_DDL = f"""
CREATE OR REPLACE TABLE {BUILD_TABLE} (
    fingerprint VARCHAR, batch_date DATE, run_id VARCHAR, obligations BIGINT, built_at TIMESTAMPTZ
)"""

BREACH_STATUSES = ("met_late", "unmet_overdue")


@dataclass(frozen=True)
class ObligationsBuild:
    """What `build_obligations` / `ensure_obligations` left in the work database."""

    obligations: int
    reused: bool
    fingerprint: str


def connect_work_db(work_db: Path) -> duckdb.DuckDBPyConnection:
    """A connection for an SLA or health stage: the batch's memory bound (aftersales.database), plus
    insertion order not preserved (every statement that needs an order says ORDER BY), which lets
    DuckDB stream and spill more freely. At default scale the build's working set is ~1 GB."""
    con = database.connect(work_db)
    con.execute("SET preserve_insertion_order = false")
    return con


def _events_sql(names: list[str]) -> str:
    """Quoted identifiers of event columns, refusing any name outside the vocabulary."""
    unknown = sorted(set(names) - set(SUBJECT_EVENTS))
    if unknown:
        raise ValueError(f"events {unknown} are not columns of sla_subjects")
    return ", ".join(f'"{n}"' for n in names)


def clocks_sql(clocks: list[ClockRule]) -> str:
    """CLOCKS_SQL for the start events the rules use (NO_CLOCKS_SQL when there is no rule)."""
    starts = sorted({c.start for c in clocks})
    return CLOCKS_SQL.format(start_columns=_events_sql(starts)) if starts else NO_CLOCKS_SQL


def obligations_sql(clocks: list[ClockRule], table: str = OBLIGATIONS_TABLE) -> str:
    """OBLIGATIONS_SQL with met_at / void_at as the earliest of the rule's end / void event columns.

    Per rule row a boolean says whether each event ends (voids) the clock, so a clock's met_at is
    `least(CASE WHEN <rule ends with e> THEN <entity's e> END, ...)` over the events any rule uses.
    """
    flags, met, void = [], [], []
    for kind, events, terms in (
        ("end", sorted({e for c in clocks for e in c.ends}), met),
        ("void", sorted({e for c in clocks for e in c.voids}), void),
    ):
        _events_sql(events)
        for e in events:
            flags.append(f"list_contains({kind}_events, '{e}') AS {kind}_{e}")
            terms.append(f'CASE WHEN r.{kind}_{e} THEN sub."{e}" END')

    def earliest(terms: list[str]) -> str:
        return f"least({', '.join(terms)})" if terms else "NULL::TIMESTAMPTZ"

    return OBLIGATIONS_SQL.format(
        table=table,
        flag_columns="".join(f",\n           {f}" for f in flags),
        met_at=earliest(met),
        void_at=earliest(void),
    )


def build_fingerprint(con, batch_date: dt.date, clocks: list[ClockRule]) -> str:
    """Hash of everything the work tables depend on (staging tables must exist on `con`)."""
    counts = con.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in SOURCE_TABLES)
    ).fetchone()
    payload = {
        "batch_date": batch_date.isoformat(),
        "staging_rows": dict(zip(SOURCE_TABLES, counts, strict=True)),
        "clock_rules": clock_rule_rows(clocks),
        "sql": [
            subjects.SHOPS_SQL,
            subjects.ORDERS_SQL,
            subjects.REQUESTS_SQL,
            subjects.CANCELLATIONS_SQL,
            subjects.APPEALS_SQL,
            chat.CHAT_WAITS_SQL,
            subjects.SUBJECTS_SQL,
            clocks_sql(clocks),
            RULE_DAYS_SQL,
            obligations_sql(clocks),
            WORK_ORDERS_SQL,
        ],
    }
    return hashlib.sha256(json.dumps(payload, default=str, sort_keys=True).encode()).hexdigest()


def _install_calendar(con, batch_date: dt.date, clocks: list[ClockRule]) -> None:
    """Business calendar of the shops' markets from the first start date to the last deadline."""
    markets, first, last = con.execute(
        "SELECT (SELECT list(DISTINCT market) FROM sla_shops), min(start_date), max(start_date) "
        "FROM sla_clocks"
    ).fetchall()[0]
    first = min(first or batch_date, batch_date)
    last = max(last or batch_date, batch_date)
    start, end = calendar_span(first, last, max_business_days(clocks))
    install_business_calendar(con, [m for m in markets or [] if m is not None], start, end)


def build_obligations(con, batch_date: dt.date, clocks: list[ClockRule], run_id: str) -> ObligationsBuild:
    """(Re)build the work tables on `con` from its staging tables; returns the obligation count.

    Leaves TEMP tables sla_shops, sla_orders, sla_subjects, sla_clocks, ... on `con`. Raises
    RuntimeError when a deadline could not be computed (a calendar too short would otherwise drop
    obligations silently); the work tables are then left without a marker, so nothing reuses them.
    """
    create_staging_tables(con)  # an export kind absent from the inbox is an empty table
    return _build(con, batch_date, clocks, run_id, build_fingerprint(con, batch_date, clocks))


def _build(
    con, batch_date: dt.date, clocks: list[ClockRule], run_id: str, fingerprint: str
) -> ObligationsBuild:
    con.execute(f"DROP TABLE IF EXISTS {BUILD_TABLE}")
    install_subjects(con, batch_date)
    install_clock_rules(con, clocks)
    con.execute(clocks_sql(clocks))
    _install_calendar(con, batch_date, clocks)
    con.execute(RULE_DAYS_SQL)
    con.execute(obligations_sql(clocks))
    count, missing, rule_id, entity_id = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE ob.due_at IS NULL),
                   any_value(r.rule_id) FILTER (WHERE ob.due_at IS NULL),
                   any_value(ob.entity_id) FILTER (WHERE ob.due_at IS NULL)
            FROM {OBLIGATIONS_TABLE} AS ob JOIN sla_clock_rules AS r USING (rule_idx)"""
    ).fetchall()[0]
    if missing:
        raise RuntimeError(
            f"{missing} SLA clock(s) have no due time (e.g. rule {rule_id}, entity {entity_id}): "
            "the business calendar does not cover their dates"
        )
    con.execute(WORK_ORDERS_SQL)
    con.execute(BUILD_DDL)
    con.execute(
        f"INSERT INTO {BUILD_TABLE} VALUES (?, ?, ?, ?, now())", [fingerprint, batch_date, run_id, count]
    )
    return ObligationsBuild(obligations=count, reused=False, fingerprint=fingerprint)


def ensure_obligations(con, batch_date: dt.date, clocks: list[ClockRule], run_id: str) -> ObligationsBuild:
    """The work tables for this batch date and rule set: reused when built so, else rebuilt.

    Either way the TEMP tables `OBLIGATIONS_READ_SQL` joins (sla_shops, sla_clock_rules) are
    installed on `con`.
    """
    create_staging_tables(con)
    fingerprint = build_fingerprint(con, batch_date, clocks)
    marker = None
    if set(WORK_TABLES) <= _tables(con):
        marker = con.execute(
            f"SELECT obligations FROM {BUILD_TABLE} WHERE fingerprint = ?", [fingerprint]
        ).fetchall()
    if not marker:
        return _build(con, batch_date, clocks, run_id, fingerprint)
    install_shops(con, batch_date)
    install_clock_rules(con, clocks)  # same rows, same rule_idx: the fingerprint covers them
    return ObligationsBuild(obligations=marker[0][0], reused=True, fingerprint=fingerprint)


def _tables(con) -> set[str]:
    """Regular tables of the connection's own database (TEMP tables excluded)."""
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT temporary"
        ).fetchall()
    }
