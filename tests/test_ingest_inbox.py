"""`ingest_inbox` end to end: tiny hand-made inboxes (every quirk, every encoding, XLSX, every bad
input class) ingested into a real DuckDB work database with real Great Expectations gates.

Two inboxes are built once per module (ingestion takes about a second each): one clean inbox full
of export quirks, and one of bad inputs. Batch-level failures (InboxError) use their own tiny
inboxes. When the generator's sample inbox exists, it is ingested too and must quarantine exactly
its deliberate bad rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from aftersales.export_kinds import KINDS, PERSONAL_TYPES, header_key
from aftersales.ingest import InboxError, ingest_inbox
from aftersales.ingest.pseudonyms import buyer_pseudonym
from aftersales.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
KEY_HEX = "5f" * 32
SETTINGS = Settings(pseudonym_key=KEY_HEX)
KEY = bytes.fromhex(KEY_HEX)
BATCH = date(2026, 11, 27)

SHOPS_HEADER = ["Shop ID", "Shop Name", "Market", "Program", "Ship From", "Timezone", "Chatbots Enabled"]
SHOPS = [
    ["US1", "Sunny US", "US", "local", "US", "America/Los_Angeles", "true"],
    ["UK1", "Tea UK", "UK", "local", "GB", "Europe/London", "false"],
    ["TH1", "Siam TH", "TH", "local", "TH", "Asia/Bangkok", "yes"],
    ["VN1", "Saigon VN", "VN", "local", "VN", "Asia/Ho_Chi_Minh", "false"],
    ["MY1", "Dragon MY", "MY", "cross_border", "CN", "Asia/Kuala_Lumpur", "true"],
]


# -- builders ------------------------------------------------------------------------------------


def _cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    bom: bytes = b"",
    newline: str = "\n",
    delimiter: str = ",",
) -> Path:
    text = newline.join(delimiter.join(_cell(c) for c in row) for row in [header, *rows]) + newline
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bom + text.encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("OrderSKUList")
    stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, stamp)
            else:
                sheet.write(r, c, value)
    book.close()
    return path


def ingest(inbox: Path, tmp: Path, run_id: str = "run-1"):
    return ingest_inbox(inbox, tmp / "work.duckdb", BATCH, run_id, SETTINGS, tmp / "reports")


def query(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def records(db: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def assert_ledger_balances(db: Path) -> None:
    """rows_read = staged + quarantined + description rows + superseded API versions, on every file."""
    for row in records(db, "SELECT * FROM file_ledger"):
        assert row["rows_read"] == (
            row["rows_staged"]
            + row["rows_quarantined"]
            + row["rows_skipped_description"]
            + row["rows_superseded"]
        ), row
        if row["status"] != "ingested":
            assert row["rows_read"] == 0, row


def assert_no_personal_data(db: Path, personal: set[str], extra_texts: list[str] = ()) -> int:
    """Scan every text column of every table (and extra texts such as the report) for any
    personal value of the input. Returns the number of cells scanned."""
    long_values = {p for p in personal if len(p) >= 8 or not p.isascii()}  # shorter: whole-cell match
    short_values = personal - long_values
    con = duckdb.connect(str(db), read_only=True)
    scanned = 0
    try:
        columns = con.execute(
            """SELECT table_name, column_name FROM duckdb_columns()
               WHERE NOT internal AND schema_name = 'main' AND data_type IN ('VARCHAR', 'JSON')"""
        ).fetchall()
        for table, column in columns:
            for (value,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall():
                scanned += 1
                texts = [value]
                if value.startswith("{"):
                    texts += [str(v) for v in json.loads(value).values() if v is not None]
                for text in texts:
                    assert text not in short_values, (table, column, text)
                    leaked = [p for p in long_values if p in text]
                    assert not leaked, (table, column, leaked)
    finally:
        con.close()
    for text in extra_texts:
        leaked = [p for p in long_values if p in text]
        assert not leaked, leaked
    return scanned


# -- the quirks inbox -----------------------------------------------------------------------------

US_ORDERS_HEADER = [
    "Order ID", "Order Status", "Cancellation/Return Type", "SKU ID", "Product Name", "Quantity",
    "SKU Unit Original Price", "Order Amount", "Order Refund Amount", "Created Time", "Paid Time",
    "Shipped Time", "Delivered Time", "Buyer Username", "Recipient", "Phone #", "Zipcode", "Province",
    "District", "Detail Address", "Additional address information", "Buyer Message", "Buyer Email",
]  # fmt: skip
US_DESCRIPTION = [
    "Platform unique order ID.", "Order status", "Cancellation or return type", "Platform unique SKU ID.",
    "Product name", "Number of units", "Unit price before discount", "Total amount paid", "Amount refunded",
    "Order creation time", "Payment time", "Shipping time", "Delivery time", "Buyer nickname", "Recipient name",
    "Phone number", "Zip code", "Province", "District", "Detailed address", "Extra address", "Message", "Email",
]  # fmt: skip
ALICE = ["Alice_Wonder", "Alice Liddell", "+1 415 555 0199", "94110", "California", "San Francisco",
         "742 Evergreen Terrace", "Apt 12B", "Please gift wrap, Alice", "alice.liddell@example.com"]  # fmt: skip
US_ORDERS = [
    ["\t577100000000000001", "Delivered", "", "'1729000000000000001", "Mug, blue", "1", "$1,299.00", "$1,349.00",
     "$0.00", "07/01/2026 1:05:09 PM", "07/01/2026 1:06:00 PM", "07/02/2026 9:00:00 AM", "07/05/2026 4:30:00 PM",
     *ALICE],
    ["\t577100000000000001", "Delivered", "", "'1729000000000000002", "Spoon\nsilver", "2", "$25.00", "$1,349.00",
     "$0.00", "07/01/2026 1:05:09 PM", "07/01/2026 1:06:00 PM", "07/02/2026 9:00:00 AM", "07/05/2026 4:30:00 PM",
     "alice_wonder", *ALICE[1:]],
    ["577100000000000002", "Cancelled", "Cancel", "1729000000000000003", "Plate", "1", "$10.00", "$10.00", "$10.00",
     "12/01/2026 1:05:09 PM", "12/01/2026 1:06:00 PM", "", "", "@Bob.Builder", "Bob Builder", "+1 212 555 0100",
     "10001", "New York", "Brooklyn", "1 Main Street", "", "", "bob.builder@example.com"],
]  # fmt: skip
UK_XLSX_HEADER = ["Order ID", "SKU ID", "Quantity", "SKU Unit Original Price", "Order Amount", "Order Refund Amount",
                  "Created Time", "Paid Time", "Buyer Username", "Recipient", "Phone #"]  # fmt: skip
UK_XLSX = [["578200000000000001", 88001, 2, "£12.50", "£25.00", "£0.00", "24/10/2026 13:05:09",
            datetime(2026, 10, 24, 13, 10), "carol_uk", "Carol Danvers", "+44 20 7946 0000"]]  # fmt: skip
CANCEL_HEADER = ["Cancellation ID", "Order ID", "Requested By", "Cancel Reason", "Request Time",
                 "Seller Response Time", "Seller Decision", "Cancel Status", "Cancelled Time"]  # fmt: skip
TH_CANCELS = [["C-TH-1", "'579300000000000001", "buyer", "Changed mind", "27/11/2026 10:00:00",
               "27/11/2026 11:00:00", "approved", "Completed", "27/11/2026 11:00:05"]]  # fmt: skip
EVIDENCE_HEADER = [
    "Case ID",
    "Submitted By",
    "Evidence Type",
    "Uploaded Time",
    "File Name",
    "File Size Bytes",
    "SHA256",
]
TH_EVIDENCE = [
    ["R-TH-1", "Buyer", "Unboxing Video", "26/11/2026 10:00:00", "unbox.mp4", "2048", "ab" * 32],
    ["R-TH-1", "Seller", "packing_photo", "26/11/2026 11:00:00", "pack.jpg", "0", "cd" * 32],
    ["R-TH-1", "Carrier", "proof_of_delivery", "", "pod.pdf", "100", "not-a-hash"],
]
MESSAGES_HEADER = [
    "Conversation ID",
    "Message ID",
    "Order ID",
    "Sender Role",
    "Message Type",
    "Sent Time",
    "Content",
]
VN_CONTENT = "Dạ chào bạn, đơn hàng của Nguyễn Thị Lan gửi tới 12 Lê Lợi"
VN_MESSAGES = [
    ["CV1", "M1", "", "Buyer", "text", "2026-11-27T09:00:00+07:00", "Xin chào shop"],
    ["CV1", "M2", "580400000000000001", "Seller", "Text", "2026-11-27T09:05:00+07:00", VN_CONTENT],
    ["CV1", "M3", "", "Chatbot", "image", "2026-11-27T09:06:00+07:00", ""],
]
UK_MESSAGES = [
    ["CUK", "MUK1", "", "Buyer", "text", "27/11/2026 09:00:00", "Hello!! 👋"],
    [
        "CUK",
        "MUK2",
        "",
        "Seller",
        "text",
        "27/11/2026 09:10:00",
        "Hi Carol, your parcel left our depot at 5 Baker St",
    ],
]
VN_REQUESTS_HEADER = ["return order id", "ORDER ID", "Sku Id", "Return Type", "Return Reason", "Request Time",
                      "Item Price", "Refund Amount", "Currency", "Seller Response Time", "Seller Decision"]  # fmt: skip
VN_REQUESTS = [["R-VN-1", "580400000000000001", "", "Return & refund", "Wrong size", "20/11/2026 08:00:00",
                "₫250.000", "₫250.000", "VND", "21/11/2026 08:00:00", ""]]  # fmt: skip
MY_ORDERS_HEADER = ["Order ID", "SKU ID", "Product Name", "Quantity", "Order Amount", "Order Refund Amount",
                    "Created Time", "Buyer Username", "Recipient", "Detail Address"]  # fmt: skip
MY_ORDERS = [["581500000000000001", "88501", "蓝色杯子（特价）", "1", "RM89.90", "RM0.00", "27/11/2026 13:05:09",
              "王小明", "王小明", "北京市朝阳区建国路88号"]]  # fmt: skip
APPEALS_LOWER = [
    "appeal id",
    "return order id",
    "appeal type",
    "appeal available time",
    "submitted time",
    "appeal status",
]
US_APPEALS = [
    ["AP-1", "R-US-1", "Arbitration Lost", "11/20/2026 9:00:00 AM", "11/21/2026 10:00:00 AM", "Submitted"]
]

QUIRK_PERSONAL = {
    *ALICE[:4], *ALICE[6:], "alice_wonder", "Bob Builder", "@Bob.Builder", "+1 212 555 0100", "10001", "1 Main Street",
    "bob.builder@example.com", "carol_uk", "Carol Danvers", "+44 20 7946 0000", "王小明", "北京市朝阳区建国路88号",
    VN_CONTENT, "Nguyễn Thị Lan", "12 Lê Lợi", "Xin chào shop", "Hello!! 👋", UK_MESSAGES[1][6], "5 Baker St",
}  # fmt: skip


@pytest.fixture(scope="module")
def quirks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quirks")
    inbox = tmp / "inbox"
    write_csv(inbox / "shops.csv", SHOPS_HEADER, SHOPS)
    write_csv(inbox / "US1" / "orders" / "All orders.csv", US_ORDERS_HEADER, [US_DESCRIPTION, *US_ORDERS],
              bom=codecs.BOM_UTF8)  # fmt: skip
    write_csv(inbox / "US1" / "appeals.csv", APPEALS_LOWER, US_APPEALS)
    write_xlsx(inbox / "UK1" / "orders.xlsx", UK_XLSX_HEADER, UK_XLSX)
    write_csv(
        inbox / "UK1" / "chat.csv",
        MESSAGES_HEADER,
        UK_MESSAGES,
        encoding="utf-16-be",
        bom=codecs.BOM_UTF16_BE,
    )
    write_csv(inbox / "TH1" / "cancellations.csv", CANCEL_HEADER, TH_CANCELS, encoding="utf-16-le",
              bom=codecs.BOM_UTF16_LE, newline="\r\n")  # fmt: skip
    write_csv(inbox / "TH1" / "evidence" / "manifest.csv", EVIDENCE_HEADER, TH_EVIDENCE)
    write_csv(inbox / "VN1" / "chat_history.csv", MESSAGES_HEADER, VN_MESSAGES)
    write_csv(inbox / "VN1" / "Return_Refund.csv", VN_REQUESTS_HEADER, VN_REQUESTS)
    write_csv(inbox / "MY1" / "orders.csv", MY_ORDERS_HEADER, MY_ORDERS, encoding="gb18030")
    summary = ingest(inbox, tmp)
    return summary, tmp / "work.duckdb", inbox


def test_quirks_inbox_is_ingested_clean(quirks):
    summary, db, _ = quirks
    ledger = {r["source_file"]: r for r in records(db, "SELECT * FROM file_ledger")}
    assert {f: (r["file_kind"], r["encoding"], r["status"]) for f, r in ledger.items()} == {
        "shops.csv": ("shops", "utf-8", "ingested"),
        "US1/orders/All orders.csv": ("orders", "utf-8-sig", "ingested"),
        "US1/appeals.csv": ("appeals", "utf-8", "ingested"),
        "UK1/orders.xlsx": ("orders", "xlsx", "ingested"),
        "UK1/chat.csv": ("messages", "utf-16-be", "ingested"),
        "TH1/cancellations.csv": ("cancellations", "utf-16-le", "ingested"),
        "TH1/evidence/manifest.csv": ("evidence", "utf-8", "ingested"),
        "VN1/chat_history.csv": ("messages", "utf-8", "ingested"),
        "VN1/Return_Refund.csv": ("aftersales_requests", "utf-8", "ingested"),
        "MY1/orders.csv": ("orders", "gb18030", "ingested"),
    }
    assert query(db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert ledger["US1/orders/All orders.csv"]["rows_read"] == 4
    assert ledger["US1/orders/All orders.csv"]["rows_skipped_description"] == 1
    assert ledger["US1/orders/All orders.csv"]["rows_staged"] == 3
    assert summary.rows_read == 5 + 4 + 1 + 1 + 2 + 1 + 3 + 3 + 1 + 1
    assert summary.rows_staged == summary.rows_read - 1 and summary.rows_quarantined == 0
    assert summary.files_read == 10 and summary.files_skipped == 0
    assert summary.per_kind["orders"].rows_staged == 5 and summary.per_kind["orders"].files == 3
    assert_ledger_balances(db)
    for row in records(db, "SELECT * FROM file_ledger"):
        assert len(row["sha256"]) == 64 and row["size_bytes"] > 0 and row["batch_date"] == BATCH


def test_order_lines_are_typed(quirks):
    _, db, _ = quirks
    rows = records(db, "SELECT * FROM stg_order_lines WHERE shop_id = 'US1' ORDER BY line_number")
    assert [r["line_number"] for r in rows] == [3, 4, 6]  # header 1, description 2, quoted newline on 4-5
    first, second, third = rows
    assert first["order_id"] == second["order_id"] == "577100000000000001"  # leading tab removed
    assert [r["sku_id"] for r in rows] == [
        "1729000000000000001",
        "1729000000000000002",
        "1729000000000000003",
    ]
    assert second["product_name"] == "Spoon\nsilver"
    # "Order Amount" repeats on every line of the order and is kept per line, never summed.
    assert [r["order_amount"] for r in rows] == [Decimal("1349.00"), Decimal("1349.00"), Decimal("10.00")]
    assert first["sku_unit_original_price"] == Decimal("1299.00")
    assert third["order_refund_amount"] == Decimal("10.00")
    # US month-first AM/PM local time, DST-aware: PDT (UTC-7) in July, PST (UTC-8) in December.
    assert first["created_time"] == datetime(2026, 7, 1, 20, 5, 9, tzinfo=UTC)
    assert first["delivered_time"] == datetime(2026, 7, 5, 23, 30, tzinfo=UTC)
    assert third["created_time"] == datetime(2026, 12, 1, 21, 5, 9, tzinfo=UTC)
    assert third["shipped_time"] is None and third["delivered_time"] is None  # empty = not happened
    assert first["cancel_return_type"] is None and third["cancel_return_type"] == "Cancel"
    assert (first["state"], first["city"]) == ("California", "San Francisco")  # Province / District
    assert first["source_file"] == "US1/orders/All orders.csv"
    # Keyed pseudonym of the normalised username: same buyer, same pseudonym.
    assert first["buyer_pseudonym"] == second["buyer_pseudonym"] == buyer_pseudonym(KEY, "alice_wonder")
    assert third["buyer_pseudonym"] == buyer_pseudonym(KEY, "bob.builder")
    assert first["buyer_pseudonym"] != third["buyer_pseudonym"]


def test_local_wall_time_round_trips_through_the_shop_zone(quirks):
    _, db, _ = quirks
    local = query(
        db,
        """SELECT strftime(timezone(s.timezone, o.created_time), '%m/%d/%Y %-I:%M:%S %p')
           FROM stg_order_lines o JOIN stg_shops s USING (shop_id) WHERE o.line_number = 3 AND shop_id = 'US1'""",
    )
    assert local == [("07/01/2026 1:05:09 PM",)]


def test_xlsx_and_gb18030_orders(quirks):
    _, db, _ = quirks
    uk = records(db, "SELECT * FROM stg_order_lines WHERE shop_id = 'UK1'")
    assert len(uk) == 1
    assert (uk[0]["order_id"], uk[0]["sku_id"], uk[0]["quantity"]) == ("578200000000000001", "88001", 2)
    assert uk[0]["order_amount"] == Decimal("25.00") and uk[0]["line_number"] == 2
    assert uk[0]["created_time"] == datetime(2026, 10, 24, 12, 5, 9, tzinfo=UTC)  # BST
    assert uk[0]["paid_time"] == datetime(2026, 10, 24, 12, 10, tzinfo=UTC)  # a real Excel date cell
    my = records(db, "SELECT * FROM stg_order_lines WHERE shop_id = 'MY1'")
    assert my[0]["product_name"] == "蓝色杯子（特价）"
    assert my[0]["order_amount"] == Decimal("89.90")
    assert my[0]["created_time"] == datetime(2026, 11, 27, 5, 5, 9, tzinfo=UTC)


def test_other_kinds_are_typed(quirks):
    _, db, _ = quirks
    (cancel,) = records(db, "SELECT * FROM stg_cancellations")
    assert (cancel["order_id"], cancel["requested_by"], cancel["seller_decision"]) == (
        "579300000000000001",
        "Buyer",
        "Approved",
    )
    assert cancel["request_time"] == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    evidence = records(
        db, "SELECT evidence_type, file_size_bytes, is_valid FROM stg_evidence ORDER BY line_number"
    )
    assert evidence == [
        {"evidence_type": "unboxing_video", "file_size_bytes": 2048, "is_valid": True},
        {
            "evidence_type": "packing_photo",
            "file_size_bytes": 0,
            "is_valid": False,
        },  # staged, not quarantined
        {"evidence_type": "proof_of_delivery", "file_size_bytes": 100, "is_valid": False},
    ]
    messages = records(
        db,
        "SELECT message_id, message_type, sent_time, is_greeting, content_length FROM stg_messages ORDER BY 1",
    )
    assert messages == [
        {"message_id": "M1", "message_type": "text", "sent_time": datetime(2026, 11, 27, 2, 0, tzinfo=UTC),
         "is_greeting": True, "content_length": 13},
        {"message_id": "M2", "message_type": "text", "sent_time": datetime(2026, 11, 27, 2, 5, tzinfo=UTC),
         "is_greeting": False, "content_length": len(VN_CONTENT)},
        {"message_id": "M3", "message_type": "image", "sent_time": datetime(2026, 11, 27, 2, 6, tzinfo=UTC),
         "is_greeting": False, "content_length": 0},
        {"message_id": "MUK1", "message_type": "text", "sent_time": datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
         "is_greeting": True, "content_length": 9},
        {"message_id": "MUK2", "message_type": "text", "sent_time": datetime(2026, 11, 27, 9, 10, tzinfo=UTC),
         "is_greeting": False, "content_length": len(UK_MESSAGES[1][6])},
    ]  # fmt: skip
    (request,) = records(db, "SELECT * FROM stg_aftersales_requests")
    assert request["return_type"] == "Return and refund"
    assert request["item_price"] == Decimal("250000.00")  # VND: "." groups thousands
    assert request["seller_decision"] is None and request["sku_id"] is None
    (appeal,) = records(db, "SELECT * FROM stg_appeals")
    assert (
        appeal["appeal_type"] == "arbitration_lost" and appeal["appeal_reason"] is None
    )  # missing optional column
    assert appeal["submitted_time"] == datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    shops = records(db, "SELECT shop_id, market, program, chatbots_enabled FROM stg_shops ORDER BY shop_id")
    assert [(s["shop_id"], s["chatbots_enabled"]) for s in shops] == [
        ("MY1", True), ("TH1", True), ("UK1", False), ("US1", True), ("VN1", False)
    ]  # fmt: skip


def test_validation_results_cover_every_file_and_expectation(quirks):
    summary, db, _ = quirks
    rows = records(db, "SELECT * FROM validation_results")
    assert all(r["success"] for r in rows)
    per_file = {}
    for r in rows:
        per_file.setdefault(r["source_file"], set()).add((r["expectation"], r["column_name"]))
    orders = per_file["US1/orders/All orders.csv"]
    for expected in [
        ("expect_column_to_exist", "Order ID"),
        ("expect_column_values_to_not_be_null", "Order ID"),
        ("expect_column_values_to_be_null", "Created Time"),  # parseable time
        ("expect_column_values_to_be_between", "Order Amount"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "Order Refund Amount,Order Amount"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "Shipped Time,Paid Time"),
        ("expect_compound_columns_to_be_unique", "Order ID,SKU ID"),
    ]:
        assert expected in orders
    assert ("expect_column_values_to_be_in_set", "Sender Role") in per_file["VN1/chat_history.csv"]
    assert ("expect_column_values_to_be_in_set", "Timezone") in per_file["shops.csv"]
    counts = {
        r["source_file"]: r["element_count"]
        for r in rows
        if r["expectation"] == "expect_column_values_to_not_be_null"
    }
    assert counts["US1/orders/All orders.csv"] == 3  # the description row is not validated
    report = Path(summary.validation_report_path)
    assert report.is_file() and report.parent.name == "reports"
    html = report.read_text(encoding="utf-8")
    assert "US1/orders/All orders.csv" in html and "expect_column_values_to_not_be_null" in html


def test_no_personal_data_is_stored_anywhere(quirks):
    summary, db, _ = quirks
    html = Path(summary.validation_report_path).read_text(encoding="utf-8")
    assert assert_no_personal_data(db, QUIRK_PERSONAL, [html]) > 50
    columns = {
        r[0]
        for r in query(db, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'stg_order_lines'")
    }
    assert not columns & {
        "buyer_username",
        "recipient",
        "phone",
        "zipcode",
        "detail_address",
        "buyer_message",
    }


def test_rerun_replaces_the_tables(quirks):
    # Last test on the quirks database: a second run into the same work database replaces
    # every table it owns (no doubled rows, only the new run id).
    summary, db, inbox = quirks
    before = {
        t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in ("stg_order_lines", "validation_results")
    }
    again = ingest_inbox(inbox, db, BATCH, "run-2", SETTINGS, db.parent / "reports")
    assert (again.rows_read, again.rows_staged) == (summary.rows_read, summary.rows_staged)
    after = {
        t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in ("stg_order_lines", "validation_results")
    }
    assert after == before
    assert query(db, "SELECT DISTINCT run_id FROM file_ledger") == [("run-2",)]


# -- the bad-inputs inbox ---------------------------------------------------------------------------

ORDERS_MIN = ["Order ID", "SKU ID", "Order Amount", "Order Refund Amount", "Created Time", "Paid Time",
              "Shipped Time", "Buyer Username", "Recipient"]  # fmt: skip


def _order(order_id, sku, amount="$10.00", refund="$0.00", created="11/20/2026 9:00:00 AM",
           paid="11/20/2026 9:05:00 AM", shipped="11/21/2026 9:00:00 AM", user="dave_b", name="Dave Bowman"):  # fmt: skip
    return [order_id, sku, amount, refund, created, paid, shipped, user, name]


BAD_PERSONAL = {"dave_b", "Dave Bowman", "Frank Poole", "frank_p", "HAL 9000 secret content"}


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    inbox = tmp / "inbox"
    write_csv(inbox / "shops.csv", SHOPS_HEADER, SHOPS[:1])
    us = inbox / "US1"
    good = write_csv(us / "a_good.csv", ORDERS_MIN, [_order("O1", "S1"), _order("O2", "S1")])
    text = write_csv(us / "truncated.csv", ORDERS_MIN, [_order("T1", "S1"), _order("T2", "S1")]).read_text()
    (us / "truncated.csv").write_text(text + "O3,S1,$10.00,$0.0")  # cut mid-row
    text = write_csv(
        us / "truncated_quote.csv", ORDERS_MIN, [_order("T3", "S1"), _order("T4", "S1")]
    ).read_text()
    (us / "truncated_quote.csv").write_text(
        text + 'O4,S1,$10.00,$0.00,"11/20/2026 9:0'
    )  # cut in a quoted value
    write_csv(us / "semicolon.csv", ORDERS_MIN, [_order("O5", "S1")], delimiter=";")
    (us / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (us / "empty.csv").write_bytes(b"")
    (us / "blank.csv").write_bytes(b"\n\n  \n")
    write_csv(us / "header_only.csv", ORDERS_MIN, [])
    write_csv(us / "unknown.csv", ["Payout ID", "Amount", "Bank"], [["P1", "10", "Frank Poole"]])
    write_csv(us / "latin1.csv", ORDERS_MIN, [_order("O6", "S1", name="José Müller")], encoding="latin-1")
    write_csv(us / "oversized.csv", MESSAGES_HEADER,
              [["C1", "M1", "", "Buyer", "text", "11/20/2026 9:00:00 AM", "x" * (1 << 20)],
               ["C1", "M2", "", "Seller", "text", "11/20/2026 9:01:00 AM", "HAL 9000 secret content"]])  # fmt: skip
    (us / "copies").mkdir()
    (us / "copies" / "a_good (1).csv").write_bytes(good.read_bytes())
    write_csv(
        us / "no_sku.csv",
        [h for h in ORDERS_MIN if h != "SKU ID"],
        [["O7", "$1.00", "$0.00", "", "", "", "x", "y"]],
    )
    write_csv(us / "multi_fail.csv", ORDERS_MIN, [
        _order("O8", "S1"),
        _order("", "S2", amount="-$5.00", created="31/02/2026 25:00:00", user="frank_p", name="Frank Poole"),
        _order("O9", "S1", refund="$20.00", shipped="11/19/2026 9:00:00 AM"),
        _order("O10", "S1", amount="ten dollars"),
    ])  # fmt: skip
    write_csv(us / "sci.csv", ORDERS_MIN, [_order("5.77E+17", "S1")])
    (us / "broken.xlsx").write_bytes(b"PK\x03\x04" + b"not a zip archive" * 8)
    write_csv(
        us / "z_newer.csv", ORDERS_MIN, [_order("O1", "S1", amount="$12.00")]
    )  # same key as a_good line 2
    write_csv(inbox / "ZZ9" / "orders.csv", ORDERS_MIN, [_order("O11", "S1")])
    (inbox / "readme.txt").write_text("drop exports here\n")
    (us / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    write_csv(us / "requests.csv", ["Return Order ID", "Order ID", "Return Type", "Request Time", "Refund Amount",
                                    "Seller Response Time", "Seller Decision"],
              [["R1", "O2", "Refund only", "11/22/2026 9:00:00 AM", "$11.00", "11/22/2026 8:00:00 AM", "Maybe"]])  # fmt: skip
    summary = ingest(inbox, tmp)
    return summary, tmp / "work.duckdb"


def _quarantine(db: Path, source_file: str) -> list[tuple]:
    return query(
        db,
        "SELECT line_number, expectation, reason FROM quarantine WHERE source_file = ? ORDER BY line_number, reason",
        [source_file],
    )


def _ledger(db: Path, source_file: str) -> dict:
    (row,) = records(db, f"SELECT * FROM file_ledger WHERE source_file = '{source_file}'")
    return row


def test_truncated_files_quarantine_their_last_record(bad):
    _, db = bad
    assert _quarantine(db, "US1/truncated.csv") == [
        (4, None, "malformed line: 4 fields, the header has 9 (truncated line?)")
    ]
    assert _quarantine(db, "US1/truncated_quote.csv") == [
        (4, None, "malformed line: unterminated quoted value (truncated file?)")
    ]
    ledger = _ledger(db, "US1/truncated.csv")
    assert (ledger["status"], ledger["rows_read"], ledger["rows_staged"], ledger["rows_quarantined"]) == (
        "ingested", 3, 2, 1
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source_file", "reason"),
    [
        ("US1/semicolon.csv", "wrong delimiter: the header row is separated by ';', expected ','"),
        ("US1/photo.csv", "binary file: NUL byte at offset 8 (not a CSV or XLSX export)"),
        ("US1/empty.csv", "empty file: 0 bytes"),
        ("US1/blank.csv", "empty file: no header row"),
        (
            "US1/unknown.csv",
            "unknown export kind: the header row (3 columns, 0 known) matches no export of contract §2",
        ),
        ("US1/no_sku.csv", "expect_column_to_exist: required column 'SKU ID' is missing"),
        ("US1/broken.xlsx", "unreadable XLSX workbook: not a valid zip archive (File is not a zip file)"),
        ("ZZ9/orders.csv", "shop folder 'ZZ9' is not a Shop ID in shops.csv"),
        ("readme.txt", "not in a shop folder: exports belong in <Shop ID>/ folders next to shops.csv"),
        ("US1/.DS_Store", "hidden or temporary file (name starts with '.' or '~$')"),
    ],
)
def test_unreadable_files_are_skipped_with_a_reason(bad, source_file, reason):
    _, db = bad
    ledger = _ledger(db, source_file)
    assert (ledger["status"], ledger["reason"], ledger["rows_read"]) == ("skipped", reason, 0)
    assert [(line, r) for line, _, r in _quarantine(db, source_file)] == [(None, reason)]


def test_undecodable_file_names_the_first_bad_byte(bad):
    _, db = bad
    ledger = _ledger(db, "US1/latin1.csv")
    offset = (
        ",".join(ORDERS_MIN).encode().__len__() + 1 + ",".join(_order("O6", "S1")[:-1]).encode().__len__() + 4
    )
    assert ledger["status"] == "skipped"
    # the candidate encodings named after this depend on charset-normalizer's ranking
    assert ledger["reason"].startswith(
        f"undecodable bytes: not UTF-8 (byte 0xE9 at offset {offset}) and not GB18030"
    )
    assert "too little text to tell" in ledger["reason"]


def test_missing_required_column_is_a_failed_gx_expectation(bad):
    _, db = bad
    rows = records(
        db,
        "SELECT expectation, column_name, success FROM validation_results WHERE source_file = 'US1/no_sku.csv'",
    )
    assert {"expectation": "expect_column_to_exist", "column_name": "SKU ID", "success": False} in rows
    assert {"expectation": "expect_column_to_exist", "column_name": "Order ID", "success": True} in rows
    assert query(db, "SELECT expectation FROM quarantine WHERE source_file = 'US1/no_sku.csv'") == [
        ("expect_column_to_exist",)
    ]


def test_header_only_file_is_ingested_with_no_rows(bad):
    _, db = bad
    ledger = _ledger(db, "US1/header_only.csv")
    assert (ledger["status"], ledger["file_kind"], ledger["rows_read"]) == ("ingested", "orders", 0)


def test_oversized_line_is_quarantined_and_masked(bad):
    _, db = bad
    ((line, expectation, reason),) = _quarantine(db, "US1/oversized.csv")
    assert line == 2 and expectation is None
    assert reason.startswith("oversized line: ") and reason.endswith(" bytes, the limit is 1048576 bytes")
    (raw,) = query(db, "SELECT raw FROM quarantine WHERE source_file = 'US1/oversized.csv'")[0]
    assert json.loads(raw)["Content"] == "***" and json.loads(raw)["Message ID"] == "M1"
    assert query(db, "SELECT message_id, line_number FROM stg_messages") == [("M2", 3)]


def test_duplicate_file_is_ingested_once(bad):
    _, db = bad
    ledger = _ledger(db, "US1/copies/a_good (1).csv")
    assert (ledger["status"], ledger["reason"]) == ("duplicate", "same bytes as US1/a_good.csv")
    assert ledger["sha256"] == _ledger(db, "US1/a_good.csv")["sha256"]
    assert query(db, "SELECT count(*) FROM stg_order_lines WHERE order_id = 'O2'") == [(1,)]
    assert _quarantine(db, "US1/copies/a_good (1).csv") == []


def test_one_quarantine_row_per_failed_expectation_counted_once(bad):
    _, db = bad
    assert _quarantine(db, "US1/multi_fail.csv") == [
        (3, "expect_column_pair_values_a_to_be_greater_than_b",
         "expect_column_pair_values_a_to_be_greater_than_b: Order Refund Amount '0.00' is above Order Amount '-5.00'"),
        (3, "expect_column_values_to_be_between", "expect_column_values_to_be_between: Order Amount '-5.00' is negative"),
        (3, "expect_column_values_to_be_null",
         "expect_column_values_to_be_null: Created Time shaped '99/99/9999 99:99:99' (value withheld: it may be personal data) is not a valid time "
         "(expected MM/DD/YYYY h:mm:ss AM/PM shop time, or ISO 8601)"),
        (3, "expect_column_values_to_not_be_null", "expect_column_values_to_not_be_null: Order ID is empty"),
        (4, "expect_column_pair_values_a_to_be_greater_than_b",
         "expect_column_pair_values_a_to_be_greater_than_b: Order Refund Amount '20.00' is above Order Amount '10.00'"),
        (4, "expect_column_pair_values_a_to_be_greater_than_b",
         "expect_column_pair_values_a_to_be_greater_than_b: Shipped Time '2026-11-19 09:00:00' is before "
         "Paid Time '2026-11-20 09:05:00'"),
        (5, "expect_column_values_to_be_null", "expect_column_values_to_be_null: Order Amount shaped 'aaa aaaaaaa' (value withheld: it may be personal data) is not an amount"),
    ]  # fmt: skip
    ledger = _ledger(db, "US1/multi_fail.csv")
    assert (ledger["rows_read"], ledger["rows_staged"], ledger["rows_quarantined"]) == (4, 1, 3)
    assert query(db, "SELECT order_id FROM stg_order_lines WHERE source_file = 'US1/multi_fail.csv'") == [
        ("O8",)
    ]
    raw = json.loads(
        query(db, "SELECT raw FROM quarantine WHERE source_file = 'US1/multi_fail.csv' LIMIT 1")[0][0]
    )
    assert raw["Buyer Username"] == "***" and raw["Recipient"] == "***" and raw["SKU ID"] == "S2"


def test_failures_are_counted_in_validation_results(bad):
    _, db = bad
    rows = records(
        db,
        """SELECT column_name, success, element_count, unexpected_count, details FROM validation_results
           WHERE source_file = 'US1/multi_fail.csv' AND expectation = 'expect_column_values_to_not_be_null'
             AND column_name = 'Order ID'""",
    )
    assert len(rows) == 1 and rows[0]["success"] is False
    assert (rows[0]["element_count"], rows[0]["unexpected_count"]) == (4, 1)
    assert json.loads(rows[0]["details"])["unexpected_lines"] == [3]


def test_duplicate_key_keeps_the_later_file(bad):
    _, db = bad
    assert query(db, "SELECT source_file, order_amount FROM stg_order_lines WHERE order_id = 'O1'") == [
        ("US1/z_newer.csv", Decimal("12.00"))
    ]
    assert _quarantine(db, "US1/a_good.csv") == [
        (2, "expect_compound_columns_to_be_unique",
         "expect_compound_columns_to_be_unique: duplicate Order ID, SKU ID (O1, S1): superseded by US1/z_newer.csv line 2")
    ]  # fmt: skip


def test_spreadsheet_rounded_ids_are_quarantined(bad):
    _, db = bad
    assert [r for _, _, r in _quarantine(db, "US1/sci.csv")] == [
        "expect_column_values_to_not_match_regex: Order ID '5.77E+17' is in scientific notation "
        "(a long ID rounded by a spreadsheet)"
    ]


def test_refund_cap_and_vocabulary_on_requests(bad):
    _, db = bad
    reasons = [r for _, _, r in _quarantine(db, "US1/requests.csv")]
    assert reasons == [
        "expect_column_pair_values_a_to_be_greater_than_b: Refund Amount '11.00' is above the order's Order Amount "
        "in the orders export '10.00'",
        "expect_column_pair_values_a_to_be_greater_than_b: Seller Response Time '2026-11-22 08:00:00' is before "
        "Request Time '2026-11-22 09:00:00'",
        "expect_column_values_to_be_in_set: Seller Decision 'Maybe' is not one of Approved, Rejected",
    ]


def test_bad_inbox_accounting_and_privacy(bad):
    summary, db = bad
    assert_ledger_balances(db)
    assert summary.files_skipped == 11 and summary.files_duplicate == 1
    assert (
        summary.rows_read
        == summary.rows_staged
        + summary.rows_quarantined
        + summary.rows_skipped_description
        + summary.rows_superseded
    )
    assert assert_no_personal_data(db, BAD_PERSONAL | {"José Müller"}) > 20


# -- the batch cannot run -------------------------------------------------------------------------


def _inbox_with_shops(tmp_path: Path, rows: list[list[str]], header=SHOPS_HEADER) -> Path:
    inbox = tmp_path / "inbox"
    write_csv(inbox / "shops.csv", header, rows)
    return inbox


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [["US1", "x", "XX", "local", "US", "America/Los_Angeles", "true"]],
            "shops.csv is invalid: line 2: expect_column_values_to_be_in_set: Market 'XX' is not one of "
            "US, UK, TH, VN, ID, MY, PH, SG",
        ),
        (
            [["US1", "x", "US", "local", "US", "America/Springfield", "true"]],
            "shops.csv is invalid: line 2: expect_column_values_to_be_in_set: Timezone 'America/Springfield' "
            "is not an IANA time zone name",
        ),
        (
            [
                ["US1", "x", "US", "local", "US", "UTC", "true"],
                ["US1", "y", "UK", "local", "GB", "UTC", "maybe"],
            ],
            "shops.csv is invalid: line 2: expect_column_values_to_be_unique: duplicate Shop ID (US1); "
            "line 3: expect_column_values_to_be_null: Chatbots Enabled 'maybe' is not true or false; "
            "line 3: expect_column_values_to_be_unique: duplicate Shop ID (US1) (and 1 more)",
        ),
        ([], "shops.csv lists no shops"),
    ],
    ids=["unknown-market", "bad-timezone", "duplicate-and-flag", "no-shops"],
)
def test_invalid_shop_registry_stops_the_batch(tmp_path, rows, message):
    with pytest.raises(InboxError) as info:
        ingest(_inbox_with_shops(tmp_path, rows), tmp_path)
    assert str(info.value) == message
    assert not (tmp_path / "work.duckdb").exists()


def test_inbox_errors_before_reading(tmp_path):
    with pytest.raises(InboxError, match=r"^inbox .*/nowhere does not exist$"):
        ingest(tmp_path / "nowhere", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InboxError, match=r"is not a folder$"):
        ingest(tmp_path / "file", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InboxError, match=r"has no shops.csv \(the shop registry is required\)$"):
        ingest(tmp_path / "empty", tmp_path)
    inbox = _inbox_with_shops(tmp_path, [], header=["Shop", "Country", "Zone"])
    with pytest.raises(InboxError, match=r"^shops.csv: the header row is not a shop registry"):
        ingest(inbox, tmp_path)
    (inbox / "shops.csv").write_bytes(b"Shop ID,Market\x00\x00")
    with pytest.raises(InboxError, match=r"^shops.csv: binary file: NUL byte at offset 14"):
        ingest(inbox, tmp_path)


def test_shop_registry_missing_a_required_column(tmp_path):
    header = [h for h in SHOPS_HEADER if h != "Timezone"]
    inbox = _inbox_with_shops(tmp_path, [["US1", "x", "US", "local", "US", "true"]], header=header)
    with pytest.raises(
        InboxError, match=r"^shops.csv: expect_column_to_exist: required column 'Timezone' is missing$"
    ):
        ingest(inbox, tmp_path)


# -- the generator's sample inbox -----------------------------------------------------------------

SAMPLE = ROOT / "data" / "sample"


def _personal_values_of(inbox: Path, report: dict) -> set[str]:
    """Every personal value of the sample inbox, read independently (csv module / calamine)."""
    personal_keys = {
        header_key(name): kind.name
        for kind in KINDS.values()
        for col in kind.columns
        if col.type in PERSONAL_TYPES
        for name in (col.header, *col.aliases)
    }
    values: set[str] = set()
    for entry in report["files"]:
        if not entry["kind"]:
            continue
        path = inbox / entry["path"]
        if entry["encoding"] == "xlsx":
            from python_calamine import CalamineWorkbook

            rows = [
                [str(c) for c in r]
                for r in CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
            ]
        else:
            encoding = {"utf-16": "utf-16"}.get(entry["encoding"], entry["encoding"])
            rows = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding).lstrip("\ufeff"))))
        header = [header_key(h) for h in rows[0]]
        for row in rows[1:]:
            for key, value in zip(header, row, strict=False):
                if key in personal_keys and len(value.strip()) >= 4:
                    values.add(value.strip())
    return values


@pytest.mark.skipif(not (SAMPLE / "inbox" / "shops.csv").is_file(), reason="sample inbox not generated")
def test_sample_inbox_quarantines_exactly_its_deliberate_bad_rows(tmp_path):
    report = json.loads((SAMPLE / "generation_report.json").read_text(encoding="utf-8"))
    summary = ingest(SAMPLE / "inbox", tmp_path)
    db = tmp_path / "work.duckdb"
    quarantined = set(
        query(db, "SELECT source_file, line_number FROM quarantine WHERE line_number IS NOT NULL")
    )
    assert quarantined == {(bad["file"], bad["line"]) for bad in report["bad_rows"]}
    for bad in report["bad_rows"]:
        if bad["column"] != "(whole row)":
            reasons = [r for (r,) in query(db, "SELECT reason FROM quarantine WHERE source_file = ? AND line_number = ?",
                                          [bad["file"], bad["line"]])]  # fmt: skip
            assert any(bad["column"] in r for r in reasons), (bad, reasons)
    skipped = {r[0] for r in query(db, "SELECT source_file FROM file_ledger WHERE status = 'skipped'")}
    assert skipped == {f["path"] for f in report["files"] if f["kind"] is None}
    duplicates = [f for f in report["files"] if f["quirks"] == ["byte_identical_duplicate"]]
    assert len(query(db, "SELECT 1 FROM file_ledger WHERE status = 'duplicate'")) == len(duplicates) > 0
    kinds = dict(query(db, "SELECT source_file, file_kind FROM file_ledger WHERE status = 'ingested'"))
    for entry in report["files"]:
        if entry["path"] in kinds:
            assert kinds[entry["path"]] == entry["kind"], entry
    # every generated export row is staged or quarantined (duplicate file aside); the API shop's
    # dumps count records, not rows (tests/test_api_json.py accounts for them)
    ledger = {
        f: (s, q)
        for f, s, q in query(db, "SELECT source_file, rows_staged, rows_quarantined FROM file_ledger")
    }
    duplicate = {f for (f,) in query(db, "SELECT source_file FROM file_ledger WHERE status = 'duplicate'")}
    exports = [f for f in report["files"] if f["kind"] in report["rows"] and f["path"] not in duplicate]
    for kind in report["rows"]:
        files = [f for f in exports if f["kind"] == kind]
        assert sum(sum(ledger[f["path"]]) for f in files) == sum(f["rows"] for f in files), kind
    assert summary.rows_superseded > 0  # the API shop's overlapping dumps
    assert_ledger_balances(db)
    personal = _personal_values_of(SAMPLE / "inbox", report)
    assert len(personal) > 100
    assert_no_personal_data(db, personal, [Path(summary.validation_report_path).read_text(encoding="utf-8")])


def test_quarantined_multi_line_records_keep_their_raw_text(tmp_path):
    """The raw of a quarantined record is read back from an excerpt of its file: a record whose
    quoted values span lines (CRLF file, tab-guarded IDs) comes back whole, from the right line."""
    inbox = tmp_path / "inbox"
    write_csv(inbox / "shops.csv", SHOPS_HEADER, SHOPS[:1])
    rows = [
        ["\tC1", "\tM1", "", "Buyer", "text", "11/20/2026 9:00:00 AM", "hello\nthere"],
        ["\tC1", "\tM2", "", "Buyer", "text\r\nimage", "11/20/2026 9:01:00 AM", "line one\r\nline two"],
        ["\tC1", "\tM3", "", "Seller", "text", "11/20/2026 9:02:00 AM", "ok"],
        ["\tC1", "\tM4", "", "Robot", "text", "11/20/2026 9:03:00 AM", "beep"],
    ]
    write_csv(inbox / "US1" / "chat.csv", MESSAGES_HEADER, rows, newline="\r\n")
    ingest(inbox, tmp_path)
    db = tmp_path / "work.duckdb"
    assert query(db, "SELECT message_id, line_number FROM stg_messages ORDER BY 2") == [("M1", 2), ("M3", 7)]
    quarantined = query(db, "SELECT line_number, expectation, raw FROM quarantine ORDER BY 1")
    assert [(line, expectation) for line, expectation, _ in quarantined] == [
        (4, "expect_column_values_to_be_in_set"),
        (8, "expect_column_values_to_be_in_set"),
    ]
    m2, m4 = (json.loads(raw) for _, _, raw in quarantined)
    assert (m2["Message ID"], m2["Message Type"], m2["Content"]) == ("\tM2", "text\nimage", "***")
    assert (m4["Message ID"], m4["Sender Role"], m4["Content"]) == ("\tM4", "Robot", "***")


def test_file_whose_first_line_reads_as_another_kind_is_typed_and_validated_as_its_own(tmp_path):
    """Files are numbered and typed in the order their first line suggests (orders first); an
    orders file whose first physical line reads as an appeals header (its header row continues
    after a quoted line break) is still typed with the orders and validated before them."""
    inbox = tmp_path / "inbox"
    write_csv(inbox / "shops.csv", SHOPS_HEADER, SHOPS[:1])
    header = ["Appeal Type", "Appeal Status", "Appeal Reason", "Note\n(internal)", *ORDERS_MIN]
    write_csv(inbox / "US1" / "a_orders.csv", header, [["", "", "", "", *_order("O1", "S1")],
                                                      ["", "", "", "", *_order("O2", "S1", amount="-$1.00")]])  # fmt: skip
    write_csv(inbox / "US1" / "b_orders.csv", ORDERS_MIN, [_order("O3", "S1"), _order("O1", "S1")])
    summary = ingest(inbox, tmp_path)
    db = tmp_path / "work.duckdb"
    first_line = (inbox / "US1" / "a_orders.csv").read_text().splitlines()[0]
    assert first_line == 'Appeal Type,Appeal Status,Appeal Reason,"Note'
    kinds = dict(query(db, "SELECT source_file, file_kind FROM file_ledger WHERE source_file LIKE 'US1/%'"))
    assert kinds == {"US1/a_orders.csv": "orders", "US1/b_orders.csv": "orders"}
    assert query(db, "SELECT source_file, order_id FROM stg_order_lines ORDER BY 1, 2") == [
        ("US1/b_orders.csv", "O1"),
        ("US1/b_orders.csv", "O3"),
    ]
    quarantined = query(db, "SELECT source_file, line_number, expectation FROM quarantine ORDER BY 1, 2, 3")
    assert {(f, line) for f, line, _ in quarantined} == {("US1/a_orders.csv", 3), ("US1/a_orders.csv", 4)}
    by_line = {line: expectation for _, line, expectation in quarantined if line == 3}
    assert by_line == {3: "expect_compound_columns_to_be_unique"}  # superseded by b_orders.csv line 3
    assert summary.per_kind["orders"].rows_read == 4 and summary.per_kind["orders"].files == 2
    assert_ledger_balances(db)
