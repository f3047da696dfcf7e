"""The obligations are built once per run: the SLA stage keeps them in the work database, the health
stage reads them, and rebuilds them whenever they were not built for its batch date, rules and
staging rows (or a build did not finish). Real DuckDB files, real stage functions, real publish.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from test_sla_support import RULES_DIR, WorkDb

from aftersales.publish import publish_batch
from aftersales.sla import compute_seller_health, compute_sla
from aftersales.sla.clocks import SLA_CATALOGUE
from aftersales.sla.obligations import BUILD_TABLE, WORK_TABLES, connect_work_db
from aftersales.sla.subjects import SUBJECT_EVENTS, install_subjects
from aftersales.warehouse_schema import BATCH_TABLES

NY, LA = "America/New_York", "America/Los_Angeles"
BATCH = dt.date(2026, 12, 4)  # as of Sat 2026-12-05 00:00 local


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
    return db


def rows(db: WorkDb, table: str, batch: dt.date = BATCH) -> list[tuple]:
    """The batch's rows of a result table, run_id left out, in a stable order."""
    found = db.rows(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE batch_date = ? ORDER BY ALL", [batch])
    return [tuple(r.values()) for r in found]


def marker(db: WorkDb) -> list[dict]:
    return db.rows(f"SELECT batch_date, run_id, obligations FROM {BUILD_TABLE}")


def regular_tables(path: Path) -> dict[str, bool]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT table_name, temporary FROM duckdb_tables()").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def fresh_health(tmp_path_factory):
    """seller_health of the world computed by the health stage alone (it builds the obligations)."""
    db = world(tmp_path_factory.mktemp("fresh") / "work.duckdb")
    summary = compute_seller_health(db.path, BATCH, "fresh", RULES_DIR)
    assert not summary.obligations_reused and summary.obligations > 0
    return rows(db, "seller_health")


def test_sla_stage_keeps_the_obligations_and_health_reads_them(tmp_path, fresh_health):
    db = world(tmp_path / "work.duckdb")
    sla = compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    tables = regular_tables(db.path)
    assert all(tables.get(t) is False for t in WORK_TABLES)  # regular tables, not TEMP
    assert marker(db) == [{"batch_date": BATCH, "run_id": "run-1", "obligations": sla.obligations}]
    assert db.rows("SELECT count(*) AS n FROM sla_work_obligations")[0]["n"] == sla.obligations

    health = compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert health.obligations_reused and health.obligations == sla.obligations
    assert rows(db, "seller_health") == fresh_health  # reading them gives what rebuilding gives
    ldr = db.rows("SELECT numerator, denominator FROM seller_health WHERE shop_id = 'NY' AND metric = 'ldr'")
    assert ldr == [{"numerator": 1, "denominator": 2}]


def test_reruns_and_retries_give_the_same_results(tmp_path):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    first = {t: rows(db, t) for t in ("sla_breaches", "sla_open_clocks", "sla_met_on_time", "seller_health")}
    assert all(first.values())
    # a retried health task reuses the build, a retried SLA task rebuilds it, then health again
    assert compute_seller_health(db.path, BATCH, "run-1", RULES_DIR).obligations_reused
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    assert compute_seller_health(db.path, BATCH, "run-1", RULES_DIR).obligations_reused
    assert {t: rows(db, t) for t in first} == first


def test_health_rebuilds_for_another_batch_date(tmp_path):
    later = BATCH + dt.timedelta(days=3)
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    summary = compute_seller_health(db.path, later, "run-2", RULES_DIR)
    assert not summary.obligations_reused
    assert marker(db)[0]["batch_date"] == later
    alone = world(tmp_path / "alone.duckdb")
    compute_seller_health(alone.path, later, "run-2", RULES_DIR)
    assert rows(db, "seller_health", later) == rows(alone, "seller_health", later)
    assert compute_seller_health(db.path, later, "run-3", RULES_DIR).obligations_reused


def test_health_rebuilds_when_the_clock_rules_changed(tmp_path, fresh_health):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    pack = rules / "us_local" / "sla.yaml"
    text = pack.read_text()
    two_days = "    duration: {amount: 2, unit: business_days}\n\n  - id: us_local.sla.auto_cancel"
    assert two_days in text
    pack.write_text(text.replace(two_days, two_days.replace("amount: 2", "amount: 4")))
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    summary = compute_seller_health(db.path, BATCH, "run-1", rules)
    assert not summary.obligations_reused
    # four business days from Mon 11-30 09:00 is Fri 12-04 09:00: O-LATE shipped Thu is on time now
    ldr = db.rows("SELECT numerator, denominator FROM seller_health WHERE shop_id = 'NY' AND metric = 'ldr'")
    assert ldr == [{"numerator": 0, "denominator": 2}]
    assert rows(db, "seller_health") != fresh_health


def test_health_rebuilds_when_staging_rows_changed_after_the_sla_stage(tmp_path, fresh_health):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    db.order("NY", "O-LATE-2", "2026-12-01 09:00", shipped="2026-12-04 09:30")  # due Thu 12-03 09:00
    summary = compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert not summary.obligations_reused
    ldr = db.rows("SELECT numerator, denominator FROM seller_health WHERE shop_id = 'NY' AND metric = 'ldr'")
    assert ldr == [{"numerator": 2, "denominator": 3}]


def test_a_build_that_did_not_finish_is_never_reused(tmp_path, fresh_health):
    db = world(tmp_path / "work.duckdb")
    compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    # a shop in a market without a business calendar makes the next build fail half-way
    db.shop("ZZ-1", "ZZ", NY)
    with pytest.raises(ValueError, match="no business-day calendar for market 'ZZ'"):
        compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert BUILD_TABLE not in regular_tables(db.path)
    con = duckdb.connect(str(db.path))
    con.execute("DELETE FROM stg_shops WHERE shop_id = 'ZZ-1'")
    con.close()
    # the inputs are those of the SLA stage's build again, but its tables were being replaced
    summary = compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    assert not summary.obligations_reused
    assert rows(db, "seller_health") == fresh_health


def test_work_tables_are_not_published(tmp_path):
    db = world(tmp_path / "work.duckdb")
    sla = compute_sla(db.path, BATCH, "run-1", RULES_DIR)
    compute_seller_health(db.path, BATCH, "run-1", RULES_DIR)
    warehouse = tmp_path / "warehouse.duckdb"
    summary = publish_batch(db.path, warehouse, BATCH, [])
    assert summary.rows["sla_breaches"] == sla.breaches and summary.rows["seller_health"] == 8
    tables = regular_tables(warehouse)
    assert not set(WORK_TABLES) & set(tables)
    assert not set(WORK_TABLES) & set(BATCH_TABLES)


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


def test_subjects_carry_every_event_of_the_clock_vocabulary(tmp_path):
    vocabulary = {e for kind in SLA_CATALOGUE.values() for e in (*kind.starts, *kind.ends, *kind.voids)}
    assert set(SUBJECT_EVENTS) == vocabulary
    db = world(tmp_path / "work.duckdb")
    con = duckdb.connect(str(db.path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        install_subjects(con, BATCH)
        columns = {r[0] for r in con.execute("DESCRIBE sla_subjects").fetchall()}
        kinds = dict(con.execute("SELECT entity_kind, count(*) FROM sla_subjects GROUP BY ALL").fetchall())
    finally:
        con.close()
    assert set(SUBJECT_EVENTS) <= columns
    assert kinds == {"order": 4, "request": 1, "message": 2}
