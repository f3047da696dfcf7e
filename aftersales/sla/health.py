"""The health stage: SFCR, LDR, chat reply rate and SFRR per shop for one batch (policy.md §I).

Every metric is a ratio over a trailing window of shop-local days ending with the batch date, as
of 24:00 local (contract §1), computed by the SQL models of stage `health`:

  models/int_health_windows.sql          shop x metric, with the rule in force and its window
  models/int_health_placed_orders.sql    orders placed in the window (sfcr and sfrr denominators)
  models/int_health_sfcr.sql             seller-fault cancellation rate
  models/int_health_ldr.sql              late dispatch rate
  models/int_health_chat_reply_rate.sql  chat reply rate
  models/int_health_sfrr.sql             seller-fault return rate
  models/seller_health.sql               value and status per shop and metric

The models read the SLA stage's declared outputs (`sla_obligations`, `sla_orders`), the scoring
stage's `rulings` and the staging tables; a missing one is an error naming it (HealthInputError),
as is an obligations table built for another batch date. Thresholds come from
`rules/<pack>/health.yaml` (see `health_rules`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftersales.local_time import install_shop_local_macro
from aftersales.rulepack import load_rulebook
from aftersales.sla.health_rules import install_health_rules, load_health_rules
from aftersales.sla.obligations import OBLIGATIONS_TABLE, ORDERS_TABLE, connect_work_db
from aftersales.sla.work_tables import missing_inputs, replace_batch_tables
from aftersales.sql_models import run_models
from aftersales.staging import create_staging_tables
from aftersales.warehouse_schema import RESULT_DDL

HEALTH_TABLE = "seller_health"
LOADED_TABLES = ("health_rules",)  # loaded from rules/ before the models run


class HealthInputError(RuntimeError):
    """A table the health models read is missing or belongs to another batch; the message names it."""


@dataclass(frozen=True)
class HealthSummary:
    batch_date: str
    run_id: str
    shops: int
    rows: int
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    obligations: int = 0  # rows of sla_obligations the clock-based metrics read


def _check_inputs(con, work_db: Path, batch_date: dt.date) -> int:
    """Raise HealthInputError unless every input is there, for this batch; return the obligations."""
    missing = missing_inputs(con, "health", LOADED_TABLES)
    if missing:
        raise HealthInputError(
            f"{work_db} has no {', '.join(missing)}: the health stage reads them from the stages before it"
        )
    for table in (OBLIGATIONS_TABLE, ORDERS_TABLE):
        other = con.execute(
            f"SELECT DISTINCT batch_date FROM {table} WHERE batch_date IS DISTINCT FROM ? ORDER BY 1 LIMIT 1",
            [batch_date],
        ).fetchall()
        if other:
            raise HealthInputError(
                f"{work_db}: {table} was built for batch {other[0][0]}, not {batch_date}: "
                "run the SLA stage of this batch first"
            )
    return con.execute(f"SELECT count(*) FROM {OBLIGATIONS_TABLE}").fetchall()[0][0]


def compute_seller_health(work_db: Path, batch_date: dt.date, run_id: str, rules_dir: Path) -> HealthSummary:
    """Compute the four health metrics of every shop and replace this batch's seller_health rows."""
    started = time.perf_counter()
    health_rules = load_health_rules(load_rulebook(rules_dir))
    con = connect_work_db(work_db)
    try:
        create_staging_tables(con)  # an export kind absent from the inbox is an empty table
        obligations = _check_inputs(con, work_db, batch_date)
        con.execute(RESULT_DDL[HEALTH_TABLE])  # before the models: the TEMP model shadows it
        install_health_rules(con, health_rules, batch_date)
        install_shop_local_macro(con)
        run_models(con, "health", {"batch_date": batch_date, "run_id": run_id})
        replace_batch_tables(con, [HEALTH_TABLE], batch_date)
        by_status = dict(
            con.execute(
                f"SELECT status, count(*) FROM {HEALTH_TABLE} WHERE batch_date = ? GROUP BY ALL ORDER BY ALL",
                [batch_date],
            ).fetchall()
        )
        shops = con.execute(
            f"SELECT count(DISTINCT shop_id) FROM {HEALTH_TABLE} WHERE batch_date = ?", [batch_date]
        ).fetchall()[0][0]
    finally:
        con.close()  # an uncommitted transaction (a failure mid-write) is rolled back here
    return HealthSummary(
        batch_date=batch_date.isoformat(),
        run_id=run_id,
        shops=shops,
        rows=sum(by_status.values()),
        by_status=by_status,
        seconds=round(time.perf_counter() - started, 3),
        obligations=obligations,
    )
