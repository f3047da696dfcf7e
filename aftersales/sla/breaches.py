"""The SLA stage: write `sla_breaches` and `sla_open_clocks` for one batch (contract §3).

`compute_sla` opens the work database, builds the obligations (see `obligations`; they stay in
the work database for the health stage) and replaces this batch's rows of its tables in one
transaction, so a retried or re-run batch never duplicates rows. It also writes `sla_met_on_time`
(obligations met by their due time, which neither contract table holds), the input the analyst
views use for on-time rates. `breach_id` is the obligation's `clock_id`: a hash of (sla_id, shop_id,
entity_id, started_at[, stage]) that does not depend on run_id or batch_date, so the same breach
keeps its id from one run and one batch to the next, and an open clock that later breaches keeps
its id too.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftersales.sla.clocks import load_clock_rules
from aftersales.sla.obligations import (
    BREACH_STATUSES,
    CLOCK_ID_SQL,
    HOURS_LEFT_SQL,
    OBLIGATIONS_READ_SQL,
    OVERDUE_HOURS_SQL,
    build_obligations,
    connect_work_db,
)
from aftersales.warehouse_schema import RESULT_DDL

SLA_TABLES = ("sla_breaches", "sla_open_clocks", "sla_met_on_time")  # result tables; publish copies them

INSERT_BREACHES = f"""
INSERT INTO sla_breaches BY NAME
SELECT CAST(? AS DATE) AS batch_date, CAST(? AS VARCHAR) AS run_id, {CLOCK_ID_SQL} AS breach_id,
       sla_id, shop_id, entity_id, started_at, due_at, met_at, {OVERDUE_HOURS_SQL} AS overdue_hours,
       rule_id, rule_version, market, program, stage, due_local_date
FROM ({OBLIGATIONS_READ_SQL}) AS ob
WHERE status IN {BREACH_STATUSES!r}
ORDER BY shop_id, sla_id, due_at, entity_id
"""

INSERT_OPEN = f"""
INSERT INTO sla_open_clocks BY NAME
SELECT CAST(? AS DATE) AS batch_date, CAST(? AS VARCHAR) AS run_id, {CLOCK_ID_SQL} AS clock_id,
       sla_id, shop_id, entity_id, started_at, due_at, {HOURS_LEFT_SQL} AS hours_left,
       rule_id, rule_version, market, program, stage, due_local_date
FROM ({OBLIGATIONS_READ_SQL}) AS ob
WHERE status = 'open'
ORDER BY shop_id, sla_id, due_at, entity_id
"""

INSERT_MET_ON_TIME = f"""
INSERT INTO sla_met_on_time BY NAME
SELECT CAST(? AS DATE) AS batch_date, CAST(? AS VARCHAR) AS run_id, {CLOCK_ID_SQL} AS clock_id,
       sla_id, shop_id, entity_id, started_at, due_at, met_at,
       rule_id, rule_version, market, program, stage, due_local_date
FROM ({OBLIGATIONS_READ_SQL}) AS ob
WHERE status = 'met_on_time'
ORDER BY shop_id, sla_id, due_at, entity_id
"""


@dataclass(frozen=True)
class SlaSummary:
    batch_date: str
    run_id: str
    shops: int
    obligations: int
    breaches: int
    open_clocks: int
    met_on_time: int = 0
    breaches_by_sla: dict[str, int] = field(default_factory=dict)
    open_by_sla: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def compute_sla(work_db: Path, batch_date: dt.date, run_id: str, rules_dir: Path) -> SlaSummary:
    """Compute every SLA clock of the batch and write this batch's breaches and open clocks.

    Reads the `stg_*` tables of `work_db` and the sla.yaml rules of `rules_dir`; raises
    RulePackError for an invalid pack before touching the database.
    """
    started = time.perf_counter()
    clocks = load_clock_rules(rules_dir)
    con = connect_work_db(work_db)
    try:
        obligations = build_obligations(con, batch_date, clocks, run_id).obligations
        con.execute("BEGIN TRANSACTION")
        for table in SLA_TABLES:
            con.execute(RESULT_DDL[table])
            con.execute(f"DELETE FROM {table} WHERE batch_date = ?", [batch_date])
        con.execute(INSERT_BREACHES, [batch_date, run_id])
        con.execute(INSERT_OPEN, [batch_date, run_id])
        con.execute(INSERT_MET_ON_TIME, [batch_date, run_id])
        con.execute("COMMIT")
        met_on_time = con.execute(
            "SELECT count(*) FROM sla_met_on_time WHERE batch_date = ?", [batch_date]
        ).fetchall()[0][0]
        breaches = dict(
            con.execute(
                "SELECT sla_id, count(*) FROM sla_breaches WHERE batch_date = ? GROUP BY ALL ORDER BY ALL",
                [batch_date],
            ).fetchall()
        )
        open_clocks = dict(
            con.execute(
                "SELECT sla_id, count(*) FROM sla_open_clocks WHERE batch_date = ? GROUP BY ALL ORDER BY ALL",
                [batch_date],
            ).fetchall()
        )
        shops = con.execute("SELECT count(*) FROM sla_shops").fetchall()[0][0]
    finally:
        con.close()  # an uncommitted transaction (a failure mid-write) is rolled back here
    return SlaSummary(
        batch_date=batch_date.isoformat(),
        run_id=run_id,
        shops=shops,
        obligations=obligations,
        breaches=sum(breaches.values()),
        open_clocks=sum(open_clocks.values()),
        met_on_time=met_on_time,
        breaches_by_sla=breaches,
        open_by_sla=open_clocks,
        seconds=round(time.perf_counter() - started, 3),
    )
