"""The score stage's cheaper formulations give the values of the plain ones they replaced (#14).

Each test builds the cheap form and the plain SQL it replaced on a real DuckDB file and asserts
identical values, edge cases included: business days from positional lists instead of a
correlated calendar join, shop-local times with the zones as constants, explanation clauses from
one numbered list instead of four ordered aggregates, and rule evaluation on the columns the rules read.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from test_policy_support import RULES_DIR

from aftersales.local_time import install_shop_local_macro
from aftersales.policy.business_days import CALENDAR_TABLE, create_calendar
from aftersales.policy.decide import ROLE_ORDER, ROLE_TABLE, clause_aggregates_sql
from aftersales.policy.evaluate import HIT_TABLE, META_TABLE, _read_columns
from aftersales.policy.features import FEATURE_NAMES
from aftersales.policy.score import validate_policy_packs
from aftersales.staging import create_staging_tables


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "work.duckdb"))
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


# The definition bd_elapsed had as a correlated join on the calendar (contract §4 semantics).
PLAIN_BD_ELAPSED = f"""
    SELECT (e.bd_index - s.bd_index - CAST(NOT s.is_business_day AS INTEGER))
           + CASE WHEN e.is_business_day
                  THEN (epoch(CAST(g.end_local AS TIMESTAMP)) - epoch(CAST(CAST(g.end_local AS DATE) AS TIMESTAMP))
                        - CASE WHEN s.is_business_day
                               THEN epoch(CAST(g.start_local AS TIMESTAMP))
                                    - epoch(CAST(CAST(g.start_local AS DATE) AS TIMESTAMP))
                               ELSE 0 END) / 86400.0
                  ELSE 0.5 END
    FROM {CALENDAR_TABLE} AS s, {CALENDAR_TABLE} AS e
    WHERE s.market = g.mkt AND s.day = CAST(g.start_local AS DATE)
      AND e.market = g.mkt AND e.day = CAST(g.end_local AS DATE)
"""


def test_bd_elapsed_from_lists_equals_the_calendar_join(con) -> None:
    # Christmas, Boxing Day and New Year in both markets, weekends, and days outside the calendar.
    create_calendar(con, ["US", "UK"], dt.date(2026, 12, 18), dt.date(2027, 1, 10))
    con.execute(
        """
        CREATE TABLE grid AS
        SELECT m.mkt, s.ts AS start_local, e.ts AS end_local
        FROM (VALUES ('US'), ('UK'), ('TH'), (NULL)) m(mkt),
             (SELECT unnest(range(TIMESTAMP '2026-12-15 07:30', TIMESTAMP '2027-01-14', INTERVAL 31 HOUR))
              UNION ALL SELECT NULL) s(ts),
             (SELECT unnest(range(TIMESTAMP '2026-12-16 18:45', TIMESTAMP '2027-01-14', INTERVAL 29 HOUR))
              UNION ALL SELECT NULL) e(ts)
        """
    )
    rows = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE fast IS NOT NULL),
                   count(*) FILTER (WHERE fast IS DISTINCT FROM plain)
            FROM (SELECT bd_elapsed(g.mkt, g.start_local, g.end_local) AS fast, ({PLAIN_BD_ELAPSED}) AS plain
                  FROM grid g)"""
    ).fetchone()
    total, known, differing = rows
    assert differing == 0
    assert 0 < known < total  # both found days and NULLs (no calendar, outside it, NULL) were compared
    # Friday 10:00 to Monday 10:00 is one business day.
    friday = "TIMESTAMP '2026-12-18 10:00'"
    assert con.execute(f"SELECT bd_elapsed('US', {friday}, TIMESTAMP '2026-12-21 10:00')").fetchone() == (
        1.0,
    )
    # Thursday 24 Dec to Monday 28 Dec in the UK: the 25th, the weekend and the 28th (Boxing Day's
    # substitute) are no business days, so the end lies inside the first business day: 0 < E <= 1.
    assert con.execute(
        "SELECT bd_elapsed('UK', TIMESTAMP '2026-12-24 09:00', TIMESTAMP '2026-12-28 09:00')"
    ).fetchone() == (0.5,)


def test_shop_local_equals_timezone_for_shop_zones_and_any_other(con) -> None:
    create_staging_tables(con)
    for shop_id, zone in (("US1", "America/New_York"), ("TH1", "Asia/Bangkok"), ("XX1", "Not/A_Zone")):
        con.execute(
            "INSERT INTO stg_shops VALUES (?, ?, 'US', 'local', 'US', ?, FALSE)", [shop_id, shop_id, zone]
        )
    install_shop_local_macro(con)
    definition = con.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'shop_local'"
    ).fetchone()[0]
    assert "'Asia/Bangkok'" in definition and "'America/New_York'" in definition
    assert "Not/A_Zone" not in definition  # only names the zone database knows become constants
    differing = con.execute(
        """
        SELECT count(*) FILTER (WHERE shop_local(z, ts) IS DISTINCT FROM timezone(z, ts)),
               count(*) FILTER (WHERE shop_local(z, ts::TIMESTAMP) IS DISTINCT FROM timezone(z, ts::TIMESTAMP)),
               count(*)
        FROM (VALUES ('America/New_York'), ('Asia/Bangkok'), ('UTC'), ('Europe/Paris'), (NULL)) zs(z),
             (SELECT unnest(range(TIMESTAMPTZ '2026-03-07 00:00:00+00', TIMESTAMPTZ '2026-11-03 00:00:00+00',
                                  INTERVAL 7 HOUR)) UNION ALL SELECT NULL) t(ts)
        """
    ).fetchone()
    assert differing[:2] == (0, 0) and differing[2] > 4000  # across both DST changes


def _explanation_tables(con) -> None:
    con.execute(
        f"""
        CREATE TEMP TABLE {META_TABLE} AS
        SELECT * FROM (VALUES (1, 'r.b', 1, 10, 'clause b', '条款b', NULL),
                              (2, 'r.a', 2, 10, 'clause a', '条款a', NULL),
                              (3, 'r.c', 1, NULL, 'clause c', '条款c', 'buyer_favour'),
                              (4, 'r.d', 1, 5, 'clause d', '条款d', NULL),
                              (5, 'r.e', 3, NULL, NULL, NULL, NULL))
            t(rule_index, rule_id, rule_version, priority, clause_en, clause_zh, decision);
        CREATE TEMP TABLE {HIT_TABLE} AS
        SELECT * FROM (VALUES ('C1', 1, 'fired', NULL), ('C1', 2, 'fired', NULL), ('C1', 3, 'fired', NULL),
                              ('C1', 4, 'fired', NULL), ('C1', 5, 'error', 'division by zero'),
                              ('C2', 2, 'fired', NULL), ('C2', 4, 'fired', NULL),
                              ('C3', 3, 'fired', NULL), ('C3', 1, 'fired', NULL))
            t(case_id, rule_index, status, reason);
        CREATE TEMP TABLE {ROLE_TABLE} AS
        SELECT * FROM (VALUES ('C1', 1, 'points'), ('C1', 2, 'points'), ('C1', 3, 'overruled'),
                              ('C1', 4, 'considered'), ('C1', 5, 'error'),
                              ('C2', 2, 'considered'), ('C2', 4, 'overruled'),
                              ('C3', 3, 'decided'), ('C3', 1, 'liability'))
            t(case_id, rule_index, role);
        CREATE TEMP TABLE policy_requirement (case_id VARCHAR, party VARCHAR, evidence_type VARCHAR,
                                              gap_kind VARCHAR, due_at TIMESTAMPTZ, req_id BIGINT);
        CREATE TEMP TABLE int_case_features (case_id VARCHAR, shop_timezone VARCHAR);
        CREATE TEMP TABLE policy_label (kind VARCHAR, code VARCHAR, en VARCHAR, zh VARCHAR);
        """
    )


def test_explanation_clauses_keep_the_order_of_the_ordered_aggregates(con) -> None:
    _explanation_tables(con)
    rank = " ".join(f"WHEN '{role}' THEN {i}" for i, role in enumerate(ROLE_ORDER))
    plain = f"""
        SELECT h.case_id,
               string_agg(CASE WHEN h.status = 'error' THEN 'Rule ' || m.rule_id || ' v' || m.rule_version
                               || ' could not be evaluated on this case (' || coalesce(h.reason, 'no reason recorded')
                               || '); the case goes to manual review.' ELSE m.clause_en END, ' '
                          ORDER BY CASE x.role {rank} END, m.priority NULLS LAST, m.rule_id)
                   FILTER (WHERE x.role IN {ROLE_ORDER}) AS clauses_en,
               string_agg(m.rule_id, ', ' ORDER BY m.priority NULLS LAST, m.rule_id)
                   FILTER (WHERE x.role NOT IN {ROLE_ORDER}) AS others,
               list(m.rule_id ORDER BY CASE x.role {rank} ELSE 9 END, m.priority NULLS LAST, m.rule_id) AS ids
        FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index)
        JOIN {ROLE_TABLE} x ON x.case_id = h.case_id AND x.rule_index = h.rule_index
        GROUP BY h.case_id ORDER BY h.case_id"""
    fast = con.execute(
        f"WITH {clause_aggregates_sql()} SELECT case_id, clauses_en, others, ids FROM t ORDER BY case_id"
    ).fetchall()
    assert fast == con.execute(plain).fetchall()
    assert fast[0] == (
        "C1",
        "Rule r.e v3 could not be evaluated on this case (division by zero); the case goes to manual review."
        " clause a clause b",
        "r.d, r.c",
        ["r.e", "r.a", "r.b", "r.d", "r.c"],
    )
    assert fast[1][1] is None  # no explaining role: NULL, as string_agg over no rows


def test_rule_evaluation_copies_only_the_columns_rules_read() -> None:
    rules = validate_policy_packs(RULES_DIR).rules
    columns = _read_columns(rules)
    assert columns == [c for c in FEATURE_NAMES if c in set(columns)]  # catalogue order, no strangers
    assert {"case_id", "pack_id", "market", "program", "case_kind", "request_local_date"} <= set(columns)
    for rule in rules:
        for name in FEATURE_NAMES:
            if f"{name} " in f"{rule.when} " or f"{name})" in rule.when:
                assert name in columns, (rule.key, name)
    assert len(columns) < len(FEATURE_NAMES)
