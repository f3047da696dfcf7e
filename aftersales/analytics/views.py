"""Analyst views over the warehouse result tables (definitions: docs/ANALYST_GUIDE.md).

The publish step calls `create_views` inside the new warehouse snapshot (swapped file or lake
transaction) after every publish, so the views always match the code that wrote the batch.
Readers open the warehouse with `aftersales.lakehouse.connect.open_warehouse` (re-exported
here as `aftersales.analytics.open_warehouse`), which adds the views as temporary views of its
session when the warehouse does not carry them (an older warehouse).

Every view is plain SQL over the tables of `aftersales.warehouse_schema`; all aggregate views
return no rows on empty tables and divide with NULLIF, so a rate is NULL (not an error) when its
denominator is zero. Days are the shop-local dates the SLA stage wrote, or dates taken in UTC
explicitly: never the reader's session time zone.
"""

from __future__ import annotations

import duckdb

from aftersales.vocabulary import DECISIONS, HEALTH_METRICS
from aftersales.warehouse_schema import create_result_tables

STATUS_RANK = (
    "CASE status WHEN 'breach' THEN 2 WHEN 'warning' THEN 1 WHEN 'ok' THEN 0 WHEN 'no_data' THEN -1 END"
)

# Inputs a warehouse may lack (see docs/ANALYST_GUIDE.md, "SLA compliance"): a warehouse created
# before the SLA stage added `due_local_date` keeps its old columns (publish copies only the
# columns the warehouse has), and `sla_met_on_time` is still to come from the SLA stage. The view
# uses them when present, so publishing into any warehouse binds.
ON_TIME_TABLE = "sla_met_on_time"
LOCAL_DAY_COLUMN = "due_local_date"


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = ? AND table_catalog = current_database() AND table_schema = 'main'",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


def _due_day(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The shop-local due date where the SLA stage wrote one, else the UTC date of `due_at`."""
    utc_day = "CAST(timezone('UTC', due_at) AS DATE)"
    if LOCAL_DAY_COLUMN in _columns(con, table):
        return f"coalesce({LOCAL_DAY_COLUMN}, {utc_day})"
    return utc_day


def _decision_counts(count_expr: str, prefix: str) -> str:
    return ",\n        ".join(
        f"{count_expr} FILTER (WHERE decision = '{d}') AS {prefix}{d}" for d in DECISIONS
    )


def _rulings_latest_sql(con: duckdb.DuckDBPyConnection) -> str:
    return """
    WITH history AS (
        SELECT r.*,
               min(batch_date) OVER (PARTITION BY case_id) AS first_batch_date,
               count(*) OVER (PARTITION BY case_id) AS batches_seen,
               lead(decision) OVER (PARTITION BY case_id ORDER BY batch_date DESC, run_id DESC)
                   AS previous_decision,
               row_number() OVER (PARTITION BY case_id ORDER BY batch_date DESC, run_id DESC) AS recency
        FROM rulings AS r
    )
    SELECT h.* EXCLUDE (recency),
           coalesce(f.return_reason, f.cancel_reason, f.appeal_type) AS request_reason,
           f.request_time
    FROM history AS h
    LEFT JOIN case_features AS f ON f.batch_date = h.batch_date AND f.case_id = h.case_id
    WHERE h.recency = 1
    QUALIFY row_number() OVER (PARTITION BY h.case_id ORDER BY f.request_time NULLS LAST) = 1
    """


def _sla_compliance_daily_sql(con: duckdb.DuckDBPyConnection) -> str:
    has_on_time = bool(_columns(con, ON_TIME_TABLE))
    on_time = (
        f"""
        UNION ALL
        SELECT shop_id, market, sla_id, {_due_day(con, ON_TIME_TABLE)} AS day, 'met_on_time' AS outcome
        FROM {ON_TIME_TABLE}
        QUALIFY row_number() OVER (PARTITION BY clock_id ORDER BY batch_date DESC, run_id DESC) = 1"""
        if has_on_time
        else ""
    )
    met_on_time = "count(*) FILTER (WHERE outcome = 'met_on_time')" if has_on_time else "CAST(NULL AS BIGINT)"
    return f"""
    WITH outcomes AS (
        SELECT shop_id, market, sla_id, {_due_day(con, "sla_breaches")} AS day,
               CASE WHEN met_at IS NULL THEN 'unmet' ELSE 'met_late' END AS outcome
        FROM sla_breaches
        QUALIFY row_number() OVER (PARTITION BY breach_id ORDER BY batch_date DESC, run_id DESC) = 1
        {on_time}
        UNION ALL
        SELECT shop_id, market, sla_id, {_due_day(con, "sla_open_clocks")} AS day, 'pending' AS outcome
        FROM sla_open_clocks
        WHERE batch_date = (SELECT max(batch_date) FROM runs WHERE status = 'success')
    ),
    daily AS (
        SELECT shop_id, sla_id, day,
               any_value(market) AS market,
               {met_on_time} AS met_on_time,
               count(*) FILTER (WHERE outcome = 'met_late') AS met_late,
               count(*) FILTER (WHERE outcome = 'unmet') AS unmet,
               count(*) FILTER (WHERE outcome = 'pending') AS pending
        FROM outcomes
        GROUP BY shop_id, sla_id, day
    )
    SELECT shop_id, market, sla_id, day,
           met_on_time + met_late + unmet AS due,
           met_on_time, met_late, unmet,
           met_late + unmet AS breached,
           pending,
           met_on_time / NULLIF(met_on_time + met_late + unmet, 0) AS rate
    FROM daily
    """


def _seller_scorecard_sql(con: duckdb.DuckDBPyConnection) -> str:
    metric_cols = ",\n               ".join(
        f"any_value(value) FILTER (WHERE metric = '{m}') AS {m},\n"
        f"               any_value(threshold) FILTER (WHERE metric = '{m}') AS {m}_threshold,\n"
        f"               any_value(status) FILTER (WHERE metric = '{m}') AS {m}_status"
        for m in HEALTH_METRICS
    )
    metric_names = ", ".join(f"h.{m}, h.{m}_threshold, h.{m}_status" for m in HEALTH_METRICS)
    decision_names = ", ".join(f"coalesce(r.cases_{d}, 0) AS cases_{d}" for d in DECISIONS)
    return f"""
    WITH health AS (
        SELECT batch_date, shop_id, any_value(market) AS market,
               {metric_cols},
               max({STATUS_RANK}) AS worst_rank,
               count(*) FILTER (WHERE status = 'breach') AS metrics_in_breach,
               count(*) FILTER (WHERE status = 'warning') AS metrics_in_warning
        FROM seller_health
        GROUP BY batch_date, shop_id
    ),
    breaches AS (
        SELECT batch_date, shop_id, any_value(market) AS market,
               count(*) AS breaches,
               count(*) FILTER (WHERE met_at IS NULL) AS breaches_unmet,
               count(*) FILTER (WHERE first_reported) AS breaches_new,
               sum(overdue_hours) AS overdue_hours
        FROM (SELECT *, batch_date = min(batch_date) OVER (PARTITION BY breach_id) AS first_reported
              FROM sla_breaches)
        GROUP BY batch_date, shop_id
    ),
    open_clocks AS (
        SELECT batch_date, shop_id, count(*) AS open_clocks
        FROM sla_open_clocks
        GROUP BY batch_date, shop_id
    ),
    mix AS (
        SELECT batch_date, shop_id, any_value(market) AS market,
               count(*) AS cases,
               {_decision_counts("count(*)", "cases_")},
               count(*) FILTER (WHERE liable_party = 'seller') AS cases_liable_seller
        FROM rulings
        GROUP BY batch_date, shop_id
    ),
    spine AS (
        SELECT batch_date, shop_id FROM health
        UNION SELECT batch_date, shop_id FROM breaches
        UNION SELECT batch_date, shop_id FROM open_clocks
        UNION SELECT batch_date, shop_id FROM mix
    )
    SELECT s.batch_date, s.shop_id,
           coalesce(h.market, r.market, b.market) AS market,
           CASE h.worst_rank WHEN 2 THEN 'breach' WHEN 1 THEN 'warning' WHEN 0 THEN 'ok' WHEN -1 THEN 'no_data' END AS health_status,
           coalesce(h.metrics_in_breach, 0) AS metrics_in_breach,
           coalesce(h.metrics_in_warning, 0) AS metrics_in_warning,
           {metric_names},
           coalesce(b.breaches, 0) AS breaches,
           coalesce(b.breaches_unmet, 0) AS breaches_unmet,
           coalesce(b.breaches_new, 0) AS breaches_new,
           coalesce(b.overdue_hours, 0) AS overdue_hours,
           coalesce(o.open_clocks, 0) AS open_clocks,
           coalesce(r.cases, 0) AS cases,
           {decision_names},
           coalesce(r.cases_liable_seller, 0) AS cases_liable_seller,
           r.cases_liable_seller / NULLIF(r.cases, 0) AS liable_seller_share
    FROM spine AS s
    LEFT JOIN health AS h USING (batch_date, shop_id)
    LEFT JOIN breaches AS b USING (batch_date, shop_id)
    LEFT JOIN open_clocks AS o USING (batch_date, shop_id)
    LEFT JOIN mix AS r USING (batch_date, shop_id)
    """


def _evidence_gap_rates_sql(con: duckdb.DuckDBPyConnection) -> str:
    return """
    WITH cases AS (
        SELECT batch_date, market, count(*) AS cases
        FROM rulings
        GROUP BY batch_date, market
    ),
    gaps AS (
        SELECT g.batch_date, r.market, g.party, g.evidence_type,
               count(DISTINCT g.case_id) AS cases_with_gap,
               count(DISTINCT g.case_id) FILTER (WHERE g.decisive) AS cases_decisive,
               count(*) AS gap_items
        FROM evidence_gaps AS g
        LEFT JOIN rulings AS r ON r.batch_date = g.batch_date AND r.case_id = g.case_id
        GROUP BY g.batch_date, r.market, g.party, g.evidence_type
    )
    SELECT g.batch_date, g.market, g.party, g.evidence_type,
           g.cases_with_gap, c.cases,
           g.cases_with_gap / NULLIF(c.cases, 0) AS gap_rate,
           g.cases_decisive, g.gap_items
    FROM gaps AS g
    LEFT JOIN cases AS c ON c.batch_date = g.batch_date AND c.market = g.market
    """


def _rule_hit_rates_sql(con: duckdb.DuckDBPyConnection) -> str:
    return f"""
    WITH batch_cases AS (
        SELECT batch_date, count(*) AS cases FROM rulings GROUP BY batch_date
    ),
    pack_cases AS (
        SELECT batch_date, pack_id, count(*) AS cases
        FROM rulings WHERE pack_id IS NOT NULL
        GROUP BY batch_date, pack_id
    ),
    hits AS (
        SELECT h.batch_date, h.pack_id, h.rule_id, h.rule_version, h.case_id, h.effect, r.decision
        FROM rule_hits AS h
        LEFT JOIN rulings AS r ON r.batch_date = h.batch_date AND r.case_id = h.case_id
    ),
    per_rule AS (
        SELECT batch_date, pack_id, rule_id, rule_version,
               string_agg(DISTINCT effect, ', ' ORDER BY effect) AS effects,
               count(*) AS hits,
               count(DISTINCT case_id) AS cases,
               {_decision_counts("count(DISTINCT case_id)", "cases_")}
        FROM hits
        GROUP BY batch_date, pack_id, rule_id, rule_version
    )
    SELECT p.batch_date, p.pack_id, p.rule_id, p.rule_version, p.effects, p.hits, p.cases,
           coalesce(pc.cases, bc.cases) AS cases_in_scope,
           p.cases / NULLIF(coalesce(pc.cases, bc.cases), 0) AS share_of_cases,
           p.* EXCLUDE (batch_date, pack_id, rule_id, rule_version, effects, hits, cases)
    FROM per_rule AS p
    LEFT JOIN pack_cases AS pc ON pc.batch_date = p.batch_date AND pc.pack_id = p.pack_id
    LEFT JOIN batch_cases AS bc ON bc.batch_date = p.batch_date
    """


VIEWS = {
    "v_rulings_latest": _rulings_latest_sql,
    "v_sla_compliance_daily": _sla_compliance_daily_sql,
    "v_seller_scorecard": _seller_scorecard_sql,
    "v_evidence_gap_rates": _evidence_gap_rates_sql,
    "v_rule_hit_rates": _rule_hit_rates_sql,
}
VIEW_NAMES: tuple[str, ...] = tuple(VIEWS)


def create_views(con: duckdb.DuckDBPyConnection, *, temporary: bool = False) -> list[str]:
    """Create (or replace) every analyst view; idempotent. Returns the view names.

    The result tables are created first if missing (IF NOT EXISTS), so the views bind on a
    fresh warehouse. `temporary=True` creates session-only views, which a read-only connection
    allows; the tables are then left alone.
    """
    if not temporary:
        create_result_tables(con)
    kind = "TEMP VIEW" if temporary else "VIEW"
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql(con)}")
    return list(VIEWS)
