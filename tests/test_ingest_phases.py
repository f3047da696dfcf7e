"""Ingest phases with values between them, and the Open API dump hook of the type phase.

Real files, real DuckDB, real Great Expectations: the discover phase on a small inbox, and an
inbox where a JSON dump and a CSV export of the same shop meet in the typed tables (rows typed,
validated, quarantined and staged exactly as CSV rows)."""

from __future__ import annotations

import json
from datetime import date

import duckdb

from aftersales.ingest import ingest_inbox
from aftersales.ingest.api_dump_typing import dump_reader
from aftersales.ingest.export_listing import discover_exports
from aftersales.ingest.ledger import LedgerEntry
from aftersales.settings import Settings

SETTINGS = Settings(pseudonym_key="6a" * 32)
BATCH = date(2026, 11, 27)
SHOPS = "Shop ID,Shop Name,Market,Program,Ship From,Timezone,Chatbots Enabled\nUS1,s,US,local,US,America/New_York,true\n"
CANCEL_HEADER = (
    "Cancellation ID,Order ID,Requested By,Cancel Reason,Request Time,Seller Response Time,Seller Decision"
)


def _cancellation_page(*cancel_ids: str) -> str:
    return json.dumps(
        {
            "code": 0,
            "message": "Success",
            "request_id": "r1",
            "data": {
                "cancellations": [
                    {
                        "cancel_id": cid,
                        "order_id": "576000000000000001",
                        "cancel_type": "BUYER_CANCEL",
                        "cancel_status": "CANCELLATION_REQUEST_PENDING",
                        "role": "BUYER",
                        "cancel_reason_text": "Changed my mind",
                        "create_time": 1764200000,
                        "update_time": 1764200000,
                    }
                    for cid in cancel_ids
                ],
                "next_page_token": "",
                "total_count": len(cancel_ids),
            },
        }
    )


def test_discover_sets_dumps_apart_per_shop_and_ledgers_the_rest(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "US1").mkdir(parents=True)
    (inbox / "XX9").mkdir()
    (inbox / "shops.csv").write_text(SHOPS)
    (inbox / "US1" / "c.csv").write_text(CANCEL_HEADER + "\n")
    (inbox / "US1" / "page.json").write_text(_cancellation_page("577000000000000001"))
    (inbox / "US1" / "same.csv").write_text(CANCEL_HEADER + "\n")  # same bytes as c.csv
    (inbox / "US1" / ".hidden.csv").write_text("x\n")
    (inbox / "XX9" / "c.csv").write_text("y\n")
    registry = LedgerEntry(0, "shops.csv", inbox / "shops.csv")

    found = discover_exports(inbox, registry, {"US1"}, dump_reader)

    assert found.entries[0] is registry
    status = {e.source_file: (e.status, e.reason) for e in found.entries[1:]}
    assert status["US1/same.csv"] == ("duplicate", "same bytes as US1/c.csv")
    assert status["US1/.hidden.csv"][0] == "skipped" and "hidden" in status["US1/.hidden.csv"][1]
    assert status["XX9/c.csv"] == ("skipped", "shop folder 'XX9' is not a Shop ID in shops.csv")
    assert [e.source_file for e in found.exports] == ["US1/c.csv"]
    assert {shop: [e.source_file for e in files] for shop, files in found.api_dumps.items()} == {
        "US1": ["US1/page.json"]
    }
    assert all(e.sha256 and e.size_bytes for e in found.entries[1:])


def test_dump_rows_take_the_csv_path_through_gates_quarantine_and_staging(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "US1").mkdir(parents=True)
    (inbox / "shops.csv").write_text(SHOPS)
    # The dump (earlier in path order) and the CSV export both hold cancellation ...02: the
    # uniqueness gate keeps the later file's version and quarantines the dump's, with masked raw.
    (inbox / "US1" / "a_page.json").write_text(_cancellation_page("577000000000000001", "577000000000000002"))
    (inbox / "US1" / "b_export.csv").write_text(
        CANCEL_HEADER + "\n577000000000000002,576000000000000001,Buyer,Changed my mind,11/20/2026 9:00 AM,,\n"
    )
    work = tmp_path / "work.duckdb"

    summary = ingest_inbox(inbox, work, BATCH, "run-1", SETTINGS, tmp_path / "reports")

    with duckdb.connect(str(work), read_only=True) as con:
        staged = con.execute(
            "SELECT cancellation_id, source_file FROM stg_cancellations ORDER BY 1"
        ).fetchall()
        ledger = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT source_file, file_kind, status, rows_read, rows_staged, rows_quarantined FROM file_ledger"
            ).fetchall()
        }
        gates = con.execute(
            """SELECT file_kind, expectation, success, element_count, unexpected_count FROM validation_results
               WHERE source_file = 'US1/a_page.json' AND NOT success"""
        ).fetchall()
        quarantined = con.execute(
            "SELECT source_file, line_number, expectation, raw FROM quarantine WHERE expectation IS NOT NULL"
        ).fetchall()
    assert staged == [
        ("577000000000000001", "US1/a_page.json"),
        ("577000000000000002", "US1/b_export.csv"),
    ]
    assert ledger["US1/a_page.json"] == ("openapi", "ingested", 2, 1, 1)
    assert ledger["US1/b_export.csv"] == ("cancellations", "ingested", 1, 1, 0)
    [(source, line, expectation, raw)] = quarantined
    assert source == "US1/a_page.json" and expectation.endswith("_to_be_unique")
    assert line is not None and "577000000000000002" in raw
    # The dump's rows were judged by the cancellations suite like the CSV's: 2 records, 1 duplicate.
    assert [(g[0], g[2], g[3], g[4]) for g in gates] == [("cancellations", False, 2, 1)]
    assert gates[0][1].endswith("_to_be_unique")
    assert summary.rows_staged == 3 and summary.rows_quarantined == 1  # shops.csv: one staged row
