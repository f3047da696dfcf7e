"""The SLA stage: write `sla_breaches`, `sla_open_clocks` and `sla_met_on_time` for one batch (contract §3).

`compute_sla` opens the work database, loads the clock rules and business calendar, runs the
stage's SQL models (`models/`, stage `sla`: obligations, then this batch's rows of each result
table; see `obligations`) and replaces this batch's rows of its tables in one transaction, so a
retried or re-run batch never duplicates rows. `sla_met_on_time` holds the obligations met by
their due time, which neither contract table holds: the input the analyst views use for on-time
rates. `breach_id` is the obligation's `clock_id`: a hash of (sla_id, shop_id, entity_id,
started_at[, stage]) that does not depend on run_id or batch_date, so the same breach keeps its id
from one run and one batch to the next, and an open clock that later breaches keeps its id too.
The stage also leaves `sla_obligations` and `sla_orders` in the work database for the health
stage (declared outputs, never published).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftersales.sla.clocks import load_clock_rules
from aftersales.sla.obligations import (
    LOADED_TABLES,
    OUTPUT_TABLES,
    check_due_times,
    connect_work_db,
    install_clock_inputs,
)
from aftersales.sla.work_tables import missing_inputs, replace_batch_tables
from aftersales.sql_models import run_models
from aftersales.staging import create_staging_tables
from aftersales.warehouse_schema import RESULT_DDL

SLA_TABLES = ("sla_breaches", "sla_open_clocks", "sla_met_on_time")  # result tables; publish copies them


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
        for table in OUTPUT_TABLES:  # a build that fails from here on leaves none for health to read
            con.execute(f"DROP TABLE IF EXISTS {table}")
        create_staging_tables(con)  # an export kind absent from the inbox is an empty table
        missing = missing_inputs(con, "sla", LOADED_TABLES)
        if missing:
            raise RuntimeError(f"{work_db} has no {', '.join(missing)}: the SLA stage runs after ingest")
        for table in SLA_TABLES:  # before the models, whose TEMP tables of the same names shadow them
            con.execute(RESULT_DDL[table])
        install_clock_inputs(con, batch_date, clocks)
        run_models(con, "sla", {"batch_date": batch_date, "run_id": run_id})
        obligations = check_due_times(con)
        replace_batch_tables(con, SLA_TABLES, batch_date)
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
        shops = con.execute("SELECT count(*) FROM stg_shops").fetchall()[0][0]
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
