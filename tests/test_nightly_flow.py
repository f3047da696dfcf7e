"""End to end: the real Prefect flow over the committed sample inbox into a real warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from aftersales.generate import personal_values
from flows.nightly import nightly_batch

ROOT = Path(__file__).resolve().parent.parent
INBOX = ROOT / "data" / "sample" / "inbox"
REPORT = json.loads((ROOT / "data" / "sample" / "generation_report.json").read_text())
DAY = "2026-11-27"

DECISIONS = {"buyer_favour", "partial_refund", "seller_favour", "need_evidence", "manual_review"}
PARTIES = {"seller", "buyer", "carrier", "platform", "none"}
REMEDIES = {"refund_only", "return_and_refund", "replacement", "partial_refund", "cancel_order", "none"}
SLA_IDS = {
    "chat_reply",
    "aftersales_response",
    "cancellation_response",
    "return_inspection",
    "dispatch",
    "auto_cancel",
    "appeal_window",
    "dispute_window",
}


@pytest.fixture(scope="module")
def published(prefect_harness, tmp_path_factory):
    base = tmp_path_factory.mktemp("nightly")
    warehouse = base / "wh.duckdb"
    first = nightly_batch(
        inbox=str(INBOX), warehouse=str(warehouse), batch_date=DAY, report_dir=str(base / "reports")
    )
    snapshot = table_contents(warehouse)
    second = nightly_batch(
        inbox=str(INBOX), warehouse=str(warehouse), batch_date=DAY, report_dir=str(base / "reports")
    )
    return {"warehouse": warehouse, "first": first, "second": second, "first_snapshot": snapshot}


def query(db: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def table_contents(db: Path) -> dict[str, list[tuple]]:
    """Every result table's rows without run_id, sorted: what a rerun must reproduce exactly."""
    out = {}
    for table in (
        "rulings",
        "rule_hits",
        "evidence_gaps",
        "sla_breaches",
        "sla_open_clocks",
        "seller_health",
        "quarantine",
        "case_features",
    ):
        cols = [r[0] for r in query(db, f"DESCRIBE {table}") if r[0] != "run_id"]
        out[table] = query(db, f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL")
    return out


def test_every_case_gets_exactly_one_ruling_in_the_contract_vocabulary(published):
    wh = published["warehouse"]
    staged_cases = published["first"]["scoring"]
    rows = query(
        wh,
        "SELECT case_id, case_kind, decision, liable_party, remedy, explanation_en, explanation_zh, "
        "policy_version FROM rulings",
    )
    assert rows, staged_cases
    assert len({r[0] for r in rows}) == len(rows)
    assert {r[1] for r in rows} <= {"return_refund", "replacement", "cancellation", "appeal"}
    assert {r[2] for r in rows} <= DECISIONS
    assert {r[3] for r in rows} <= PARTIES
    assert {r[4] for r in rows} <= REMEDIES
    assert all(r[5] and r[6] for r in rows)
    kinds = {r[1] for r in rows}
    assert {"return_refund", "cancellation", "appeal"} <= kinds
    assert query(wh, "SELECT count(*) FROM rule_hits")[0][0] > len(rows)


def test_sla_breaches_and_seller_health_are_filled(published):
    wh = published["warehouse"]
    assert {r[0] for r in query(wh, "SELECT DISTINCT sla_id FROM sla_breaches")} <= SLA_IDS
    assert (
        query(wh, "SELECT count(*) FROM sla_breaches WHERE due_at >= started_at AND overdue_hours > 0")[0][0]
        > 0
    )
    metrics = query(wh, "SELECT shop_id, list(metric ORDER BY metric) FROM seller_health GROUP BY 1")
    assert len(metrics) == 7  # the sample's six export shops and its Open API shop
    assert all(set(m) >= {"sfcr", "ldr", "chat_reply_rate"} for _, m in metrics)


def test_each_generated_bad_row_is_quarantined_at_its_line(published):
    wh = published["warehouse"]
    quarantined = {(f, n) for f, n in query(wh, "SELECT source_file, line_number FROM quarantine")}
    for bad in REPORT["bad_rows"]:
        assert (bad["file"], bad["line"]) in quarantined, bad


def test_ledger_accounts_for_every_row_of_every_file(published):
    rows = query(
        published["warehouse"],
        "SELECT source_file, status, rows_read, rows_staged, rows_quarantined, "
        "rows_skipped_description, rows_superseded FROM file_ledger",
    )
    assert rows
    for source_file, _status, read, staged, quarantined, skipped, superseded in rows:
        assert read == staged + quarantined + skipped + superseded, source_file
    statuses = {r[1] for r in rows}
    assert {"ingested", "skipped", "duplicate"} <= statuses


def test_no_personal_value_from_the_inbox_is_stored_anywhere(published):
    wh = published["warehouse"]
    secrets = personal_values(INBOX)
    assert len(secrets) > 50
    text_columns = query(
        wh,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type IN ('VARCHAR', 'JSON') OR data_type LIKE 'VARCHAR%'",
    )
    con = duckdb.connect(str(wh), read_only=True)
    try:
        for table, column in text_columns:
            values = {
                str(v[0])
                for v in con.execute(
                    f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
                ).fetchall()
            }
            blob = "\n".join(values)
            leaked = [s for s in secrets if s in blob]
            assert not leaked, (table, column, leaked[:3])
    finally:
        con.close()


def test_rerun_of_the_same_batch_replaces_it_with_identical_results(published):
    wh = published["warehouse"]
    assert table_contents(wh) == published["first_snapshot"]
    runs = query(wh, "SELECT run_id, status, flow_run_id, stage_timings FROM runs ORDER BY started_at")
    assert [r[1] for r in runs] == ["success", "success"]
    assert runs[0][0] != runs[1][0]
    assert all(r[2] for r in runs)
    # the row is written inside the publish step, so it times every stage before it
    assert {"preflight", "ingest", "score", "sla", "health"} <= set(json.loads(runs[1][3]))
    assert query(wh, "SELECT count(DISTINCT run_id) FROM rulings")[0][0] == 1


def test_report_page_and_validation_report_are_written(published):
    result = published["second"]
    assert result["report_page"] and Path(result["report_page"]).is_file()
    assert Path(result["ingest"]["validation_report_path"]).is_file()
