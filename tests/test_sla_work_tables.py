"""The SLA stage's declared outputs: it leaves `sla_obligations` and `sla_orders` in the work database,
the health stage reads them (never the SLA stage's intermediates) and refuses, naming the table,
when one of its inputs is missing or belongs to another batch. Real DuckDB files, real stage
functions, real SQL models, real publish.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from test_sla_support import RULES_DIR, WorkDb

from aftersales.actions import build_action_queue
from aftersales.actions.queue import ActionQueueError
from aftersales.publish import publish_batch
from aftersales.sla import compute_seller_health, compute_sla
from aftersales.sla.clocks import SLA_CATALOGUE, load_clock_rules
from aftersales.sla.health import HealthInputError
from aftersales.sla.obligations import OUTPUT_TABLES, connect_work_db, install_clock_inputs
from aftersales.sla.work_tables import stage_inputs
from aftersales.sql_models import MODELS_DIR, load_models, run_models
from aftersales.warehouse_schema import BATCH_TABLES, RESULT_DDL

NY, LA = "America/New_York", "America/Los_Angeles"
BATCH = dt.date(2026, 12, 4)  # as of Sat 2026-12-05 00:00 local
MODEL_STAGES = ("sla", "health", "action_queue")


def world(path: Path) -> WorkDb:
    """Two US shops with a late and an on-time dispatch, a system cancel after a missed deadline,
    a request and two chat waits: every health metric has something to count."""
    db = WorkDb(path).shop("NY", "US", NY).shop("LA", "US", LA)
    with db.bulk():
        db.order("NY", "O-LATE", "2026-11-30 09:00", shipped="2026-12-03 15:00")  # due Wed 12-02 09:00
        db.order("NY", "O-ONTIME", "2026-12-01 09:00", shipped="2026-12-01 15:00")
        db.order("NY", "O-SYS", "2026-11-20 09:00", cancelled="2026-11-30 10:00", cancel_by="System")
        db.order("LA", "O-LA", "2026-12-02 09:00")
        db.request(
            "NY", "R-1", "2026-12-01 10:00", price=20, response="2026-12-01 11:00", order_id="O-ONTIME"
        )
        db.message("NY", "C-1", "M-1", "Buyer", "2026-12-01 10:00")
        db.message("NY", "C-1", "M-2", "Seller", "2026-12-01 10:30")
        db.message("LA", "C-2", "M-3", "Buyer", "2026-12-02 10:00")
    con = duckdb.connect(str(db.path))
    con.execute(RESULT_DDL["rulings"])  # what scoring leaves: no case in this world
    con.close()
    return db


def rows(db: WorkDb, table: str, batch: dt.date = BATCH) -> list[tuple]:
    """The batch's rows of a result table, run_id left out, in a stable order."""
    found = db.rows(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE batch_date = ? ORDER BY ALL", [batch])
    return [tuple(r.values()) for r in found]


def regular_tables(path: Path) -> dict[str, bool]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT table_name, temporary FROM duckdb_tables()").fetchall())
    finally:
        con.close()


def drop(db: WorkDb, table: str) -> None:
    con = duckdb.connect(str(db.path))
    con.execute(f"DROP TABLE {table}")
    con.close()


def test_sla_stage_leaves_its_declared_outputs_and_health_reads_them(tmp_path):
    db = world(tmp_path / "work.duckdb")
    sla = compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    tables = regular_tables(db.path)
    assert all(tables.get(t) is False for t in OUTPUT_TABLES)  # regular tables, not TEMP
    assert not [t for t in tables if t.startswith("int_")]  # intermediates never reach the work db
    obligations = db.rows("SELECT batch_date, count(*) AS n FROM sla_obligations GROUP BY ALL")
    assert obligations == [{"batch_date": BATCH, "n": sla.obligations}]
    statuses = {r["status"] for r in db.rows("SELECT status FROM sla_obligations")}
    assert {"met_on_time", "met_late", "open"} <= statuses
    # the result tables are the obligations' rows of the matching statuses, ids included
    late = db.rows("SELECT clock_id FROM sla_obligations WHERE status IN ('met_late', 'unmet_overdue')")
    assert sorted(r["clock_id"] for r in late) == sorted(
        r["breach_id"] for r in db.rows("SELECT breach_id FROM sla_breaches")
    )

    health = compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert health.obligations == sla.obligations and health.rows == 8
    ldr = db.rows("SELECT numerator, denominator FROM seller_health WHERE shop_id = 'NY' AND metric = 'ldr'")
    assert ldr == [{"numerator": 1, "denominator": 2}]
    sfcr = db.rows(
        "SELECT numerator, denominator FROM seller_health WHERE shop_id = 'NY' AND metric = 'sfcr'"
    )
    # O-SYS: cancelled by the system after its dispatch clock (due Tue 11-24) had passed unmet
    assert sfcr == [{"numerator": 1, "denominator": 3}]


@pytest.mark.parametrize("table", ["sla_obligations", "sla_orders", "rulings"])
def test_health_without_an_input_names_the_missing_table(tmp_path, table):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    drop(db, table)
    with pytest.raises(HealthInputError, match=rf"has no {table}: the health stage reads"):
        compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert "seller_health" not in regular_tables(db.path)


def test_action_queue_without_an_input_names_the_missing_table(tmp_path):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    with pytest.raises(
        ActionQueueError, match="has no evidence_gaps: the action queue runs after scoring and SLA"
    ):
        build_action_queue(db.path, BATCH, "run-1", RULES_DIR)
    con = duckdb.connect(str(db.path))
    con.execute(RESULT_DDL["evidence_gaps"])
    con.close()
    summary = build_action_queue(db.path, BATCH, "run-1", RULES_DIR)
    # every clock still open is due beyond the 48 h horizon: nothing to act on yet
    assert db.rows("SELECT count(*) AS n FROM sla_open_clocks")[0]["n"] > 0
    assert summary.actions == len(db.rows("SELECT 1 FROM action_queue")) == 0


def test_health_refuses_obligations_built_for_another_batch_date(tmp_path):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    later = BATCH + dt.timedelta(days=3)
    with pytest.raises(HealthInputError, match=f"sla_obligations was built for batch {BATCH}, not {later}"):
        compute_seller_health(db.path, later, "run-2", RULES_DIR)
    compute_sla(db.path, later, "run-2", RULES_DIR)
    assert compute_seller_health(db.path, later, "run-2", RULES_DIR).rows == 8


def test_reruns_and_retries_give_the_same_results(tmp_path):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    first = {t: rows(db, t) for t in ("sla_breaches", "sla_open_clocks", "sla_met_on_time", "seller_health")}
    assert all(first.values())
    compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert {t: rows(db, t) for t in first} == first


def test_health_sees_the_clock_rules_the_sla_stage_used(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    pack = rules / "us_local" / "sla.yaml"
    text = pack.read_text()
    two_days = "    duration: {amount: 2, unit: business_days}\n\n  - id: us_local.sla.auto_cancel"
    assert two_days in text
    pack.write_text(text.replace(two_days, two_days.replace("amount: 2", "amount: 4")))
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", rules)
    compute_seller_health(db.path, BATCH, "run-1", rules)
    # four business days from Mon 11-30 09:00 is Fri 12-04 09:00: O-LATE shipped Thu is on time now
    ldr = db.rows("SELECT numerator, denominator FROM seller_health WHERE shop_id = 'NY' AND metric = 'ldr'")
    assert ldr == [{"numerator": 0, "denominator": 2}]


def test_a_failed_sla_stage_leaves_no_obligations_for_health(tmp_path):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    db.shop("ZZ-1", "ZZ", NY)  # a market without a business calendar makes the rebuild fail
    with pytest.raises(ValueError, match="no business-day calendar for market 'ZZ'"):
        compute_sla(db.path, BATCH, "run-2", RULES_DIR)
    assert not set(OUTPUT_TABLES) & set(regular_tables(db.path))
    with pytest.raises(HealthInputError, match="has no sla_obligations, sla_orders"):
        compute_seller_health(db.path, BATCH, "run-2", RULES_DIR)


def test_declared_outputs_are_not_published(tmp_path):
    db = world(tmp_path / "work.duckdb")
    sla = compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    warehouse = tmp_path / "warehouse.duckdb"
    summary = publish_batch(db.path, warehouse, BATCH, [])
    assert summary.rows["sla_breaches"] == sla.breaches and summary.rows["seller_health"] == 8
    assert not set(OUTPUT_TABLES) & set(regular_tables(warehouse))
    assert not set(OUTPUT_TABLES) & set(BATCH_TABLES)


def test_stage_connection_bounds_memory_and_spills_inside_the_work_folder(tmp_path):
    work_db = tmp_path / "run" / "work.duckdb"
    work_db.parent.mkdir()
    con = connect_work_db(work_db)
    try:
        limit, temp, ordered, tz = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('preserve_insertion_order'), current_setting('TimeZone')"
        ).fetchone()
    finally:
        con.close()
    assert limit.endswith("GiB") and float(limit.split()[0]) < 2.5
    assert Path(temp).parent == work_db.parent
    assert (ordered, tz) == (False, "UTC")


def test_stages_read_no_other_stage_intermediates():
    models = load_models()
    for stage in MODEL_STAGES:
        for name in stage_inputs(stage):
            assert not (name in models and name.startswith("int_")), (stage, name)
    assert {"sla_obligations", "sla_orders", "rulings"} <= set(stage_inputs("health", ("health_rules",)))


def test_due_times_are_computed_in_sla_obligations_only():
    """A newcomer finds the due-time expression in one model; the other models only read due_at."""
    defining = [
        p.name for p in sorted(MODELS_DIR.glob("*.sql")) if re.search(r"END AS due_at\b", p.read_text())
    ]
    assert defining == ["sla_obligations.sql"]


def test_models_cover_every_event_of_the_clock_vocabulary(tmp_path):
    vocabulary = {e for kind in SLA_CATALOGUE.values() for e in (*kind.starts, *kind.ends, *kind.voids)}
    db = world(tmp_path / "work.duckdb")
    con = connect_work_db(db.path)
    try:
        install_clock_inputs(con, BATCH, load_clock_rules(RULES_DIR))
        run_models(con, "sla", {"batch_date": BATCH, "run_id": "r"})
        columns = {r[0] for r in con.execute("DESCRIBE int_sla_subjects").fetchall()}
        kinds = dict(
            con.execute("SELECT entity_kind, count(*) FROM int_sla_subjects GROUP BY ALL").fetchall()
        )
    finally:
        con.close()
    assert vocabulary <= columns
    assert kinds == {"order": 4, "request": 1, "message": 2}
    clocks_sql = (MODELS_DIR / "int_sla_clocks.sql").read_text()
    unpivoted = re.search(r"\bON ([a-z_,\s]+?)\s+INTO NAME", clocks_sql).group(1)
    assert {e.strip() for e in unpivoted.split(",")} == {s for k in SLA_CATALOGUE.values() for s in k.starts}
    obligations_sql = (MODELS_DIR / "sla_obligations.sql").read_text()
    assert set(re.findall(r"THEN sub\.(\w+) END", obligations_sql)) == {
        e for k in SLA_CATALOGUE.values() for e in (*k.ends, *k.voids)
    }
