"""Open API JSON dumps: kinds recognised from content, export facts derived from the status
history, versions, error pages, malformed JSON, unknown enums, personal data (issue #17)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from aftersales.generate import GeneratorSpec, generate_inbox
from aftersales.generate.api_dumps import api_shop_indexes
from aftersales.generate.shops import build_shops
from aftersales.ingest import ingest_inbox
from aftersales.ingest.api_json import is_api_dump, read_api_dumps
from aftersales.settings import load_settings

BATCH = date(2026, 11, 27)
T0 = 1_764_000_000  # 2025-11-24 16:00:00 UTC
RID, OID, SKU = "4035000000000001", "5760000000000001", "1729000000000001"


def _body(list_key: str, records: list[dict], **extra) -> dict:
    return {"code": 0, "message": "Success", "request_id": "r", "data": {list_key: records}, **extra}


def _return(status: str, update: int, **extra) -> dict:
    return {
        "return_id": RID, "order_id": OID, "return_type": "RETURN_AND_REFUND", "return_status": status,
        "role": "BUYER", "create_time": T0, "update_time": update, "return_reason_text": "Wrong size",
        "refund_amount": {"currency": "USD", "refund_total": "25.00", "refund_subtotal": "24.00"},
        "return_line_items": [{"sku_id": SKU, "order_line_item_id": "L1"}], **extra,
    }  # fmt: skip


def _write(folder: Path, name: str, content) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, list) and name.endswith((".jsonl", ".ndjson")):
        path.write_text(
            "".join(x if isinstance(x, str) else json.dumps(x) for x in content), encoding="utf-8"
        )
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def _lines(*objects) -> list[str]:
    return [(o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects]


def _read(tmp_path: Path, files: list[Path]):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    read = read_api_dumps(con, "S1", files, BATCH, None, inbox=tmp_path)
    return con, read


def _rows(con, read, kind: str) -> list[dict]:
    headers = read.headers[kind]
    out = []
    for row in con.execute(f"SELECT * FROM {read.tables[kind]} ORDER BY __file, __line").fetchall():
        out.append(
            {"__file": row[1], "__line": row[0], "__record": row[4]}
            | dict(zip(headers, row[5:], strict=True))
        )
    return out


def _balanced(read) -> None:
    for e in read.entries:
        if e.status == "ingested":
            assert e.rows_read == e.rows_staged + e.rows_quarantined + read.superseded.get(e.index, 0), e


def test_return_facts_come_from_the_status_history_and_records(tmp_path):
    older = _write(
        tmp_path, "S1/a.json", _body("return_orders", [_return("RETURN_OR_REFUND_REQUEST_PENDING", T0)])
    )
    newer = _write(tmp_path, "S1/b.jsonl", _lines(
        _body("return_orders", [_return("AWAITING_BUYER_SHIP", T0 + 3600)]),
        {"return_id": RID, "event": "SELLER_APPROVED", "role": "Seller", "create_time": T0 + 3600},
        {"return_id": RID, "event": "BUYER_UPLOADED_EVIDENCE", "role": "buyer", "create_time": T0 + 600,
         "description": "Unboxing video attached", "images": [{"url": "https://x/e/IMG_1.jpg?sig=1", "size": 10,
         "sha256": "a" * 64}], "videos": ["https://x/e/VID_2.mp4"]},
        {"type": 12, "tts_notification_id": "n1", "shop_id": "S1", "timestamp": T0 + 7200,
         "data": {"return_id": RID, "return_status": "BUYER_SHIPPED_ITEM", "update_time": T0 + 7200}},
        {"return_id": RID, "event": "RETURN_PACKAGE_DELIVERED", "role": "SYSTEM", "create_time": T0 + 9000},
    ))  # fmt: skip
    con, read = _read(tmp_path, [older, newer])
    [row] = _rows(con, read, "aftersales_requests")
    assert row["__file"] == 1  # the winning (latest) version's file
    assert row["Return Order ID"] == RID and row["Order ID"] == OID and row["SKU ID"] == SKU
    assert row["Return Type"] == "Return and refund" and row["Return Reason"] == "Wrong size"
    assert row["Request Time"] == "2025-11-24T16:00:00Z"
    assert (row["Seller Decision"], row["Seller Response Time"]) == ("Approved", "2025-11-24T17:00:00Z")
    assert row["Return Shipped Time"] == "2025-11-24T18:00:00Z"  # from the webhook
    assert row["Return Delivered Time"] == "2025-11-24T18:30:00Z"  # from a record
    assert row["Item Price"] == "24.00" and row["Refund Amount"] == "25.00" and row["Currency"] == "USD"
    assert row["Refund Time"] is None and row["Buyer Dispute Time"] is None  # not happened: empty
    evidence = _rows(con, read, "evidence")
    assert [
        (e["Submitted By"], e["Evidence Type"], e["File Name"], e["File Size Bytes"]) for e in evidence
    ] == [
        ("Buyer", "photo", "IMG_1.jpg", "10"),
        ("Buyer", "unboxing_video", "VID_2.mp4", None),
    ]
    assert evidence[0]["Uploaded Time"] == "2025-11-24T16:10:00Z" and evidence[0]["Case ID"] == RID
    assert read.superseded == {0: 1, 1: 0}  # the pending version lost to the newer one
    _balanced(read)


def test_rejection_dispute_and_platform_decision(tmp_path):
    versions = [
        _return("RETURN_OR_REFUND_REQUEST_PENDING", T0),
        _return("REFUND_OR_RETURN_REQUEST_REJECT", T0 + 100),
        _return("REFUND_OR_RETURN_REQUEST_REJECT", T0 + 900, arbitration_status="IN_PROGRESS"),
        _return("RETURN_OR_REFUND_REQUEST_COMPLETE", T0 + 5000, arbitration_status="SUPPORT_BUYER"),
    ]
    records = [
        {"event": "SELLER_REJECTED", "role": "SELLER", "create_time": T0 + 100, "reason_text": "Item used"},
        {"event": "BUYER_ESCALATED", "role": "BUYER", "create_time": T0 + 800},  # earlier than the version
        {"event": "PLATFORM_DECISION", "role": "OPERATOR", "create_time": T0 + 4000},
    ]
    path = _write(
        tmp_path,
        "S1/r.jsonl",
        _lines(_body("return_orders", versions), _body("records", records, return_id=RID)),
    )
    con, read = _read(tmp_path, [path])
    [row] = _rows(con, read, "aftersales_requests")
    assert (row["Seller Decision"], row["Seller Reject Reason"]) == ("Rejected", "Item used")
    assert row["Buyer Dispute Time"] == "2025-11-24T16:13:20Z"  # the record's time, the earlier one
    assert row["Platform Decision Time"] == "2025-11-24T17:06:40Z"
    assert row["Refund Time"] == "2025-11-24T17:23:20Z"
    assert row["Arbitration Status"] == "SUPPORT_BUYER"  # the API's value, kept
    assert read.superseded == {0: 3}


def test_a_move_made_by_the_system_leaves_seller_decision_empty(tmp_path):
    versions = [_return("RETURN_OR_REFUND_REQUEST_PENDING", T0), _return("AWAITING_BUYER_SHIP", T0 + 86400)]
    auto = {"return_id": RID, "event": "SYSTEM_AUTO_APPROVED", "role": "System", "create_time": T0 + 86400}
    path = _write(tmp_path, "S1/r.jsonl", _lines(_body("return_orders", versions), auto))
    con, read = _read(tmp_path, [path])
    [row] = _rows(con, read, "aftersales_requests")
    assert row["Seller Decision"] is None and row["Seller Response Time"] is None


def test_cancellations_orders_and_messages(tmp_path):
    cancel = {"cancel_id": "C1", "order_id": OID, "cancel_type": "REQUEST_CANCEL_REFUND", "role": "BUYER",
              "cancel_reason_text": "Change of mind", "create_time": T0}  # fmt: skip
    free_window = {
        **cancel,
        "cancel_id": "C2",
        "cancel_status": "CANCELLATION_REQUEST_SUCCESS",
        "update_time": T0 + 30,
    }
    unit = {"sku_id": SKU, "seller_sku": "TEE-M", "product_name": "Tee", "sku_name": "M", "original_price": "30.00",
            "sale_price": "25.00", "seller_discount": "5.00", "platform_discount": "0.00", "tracking_number": "T1",
            "sku_type": "PRE_ORDER"}  # fmt: skip
    order = {"id": OID, "user_id": "7494000000000001", "status": "IN_TRANSIT", "create_time": T0, "paid_time": T0 + 60,
             "update_time": T0 + 99, "payment": {"total_amount": "55.99", "shipping_fee": "5.99", "tax": "0.00"},
             "line_items": [unit, unit, {**unit, "sku_id": "SKU2", "sale_price": "1.00", "rts_time": T0 + 90}]}  # fmt: skip
    message = {"id": "M1", "conversation_id": "CV1", "index": "1", "type": "TEXT", "create_time": T0,
               "content": json.dumps({"content": "hello"}), "sender": {"role": "CUSTOMER_SERVICE", "nickname": "x"}}  # fmt: skip
    path = _write(tmp_path, "S1/mixed.ndjson", _lines(
        _body("cancellations", [{**cancel, "cancel_status": "CANCELLATION_REQUEST_PENDING", "update_time": T0},
                                {**cancel, "cancel_status": "CANCELLATION_REQUEST_CANCELLED", "update_time": T0 + 50},
                                free_window]),
        _body("orders", [order]),
        _body("messages", [message, {**message, "id": "M2", "type": "NOTIFICATION", "sender": {"role": "SYSTEM"}}]),
    ))  # fmt: skip
    con, read = _read(tmp_path, [path])
    cancellations = {r["Cancellation ID"]: r for r in _rows(con, read, "cancellations")}
    assert (
        cancellations["C1"]["Seller Decision"] == "Rejected"
        and cancellations["C1"]["Cancel Status"] == "Rejected"
    )
    assert cancellations["C1"]["Cancelled Time"] is None
    assert cancellations["C2"]["Seller Decision"] is None  # never pending: not the seller's decision
    assert cancellations["C2"]["Cancelled Time"] == "2025-11-24T16:00:30Z"
    lines = {r["SKU ID"]: r for r in _rows(con, read, "orders")}
    assert lines[SKU]["Quantity"] == "2" and lines["SKU2"]["Quantity"] == "1"
    assert lines[SKU]["__record"] == lines["SKU2"]["__record"]  # two SKU lines of one order record
    assert (
        lines[SKU]["SKU Subtotal After Discount"] == "50.00"
        and lines[SKU]["SKU Unit Original Price"] == "30.00"
    )
    assert lines[SKU]["Normal or Pre-order"] == "Pre-order" and lines[SKU]["Order Status"] == "In Transit"
    assert lines[SKU]["Buyer Username"] == "7494000000000001"  # pseudonymised by the typing SELECT
    assert lines["SKU2"]["Shipped Time"] == "2025-11-24T16:01:30Z"  # in transit: the tracked line's RTS
    messages = {r["Message ID"]: r for r in _rows(con, read, "messages")}
    assert (messages["M1"]["Sender Role"], messages["M1"]["Message Type"], messages["M1"]["Content"]) == (
        "Seller", "text", "hello")  # fmt: skip
    assert messages["M2"]["Message Type"] is None and messages["M2"]["Content"] is None
    assert ("cancellation.cancel_type", "REQUEST_CANCEL_REFUND", 3) in [r[1:] for r in read.unknown_values]
    assert (
        "unknown API values kept: cancellation.cancel_type=REQUEST_CANCEL_REFUND (3)"
        in read.entries[0].reason
    )
    _balanced(read)


def test_error_pages_malformed_json_and_equal_versions(tmp_path):
    error = _write(tmp_path, "S1/err.json", {"code": 36009003, "message": "Internal error", "data": None})
    mixed = _write(tmp_path, "S1/page.jsonl", _lines(
        _body("return_orders", [_return("RETURN_OR_REFUND_REQUEST_PENDING", T0)]),
        {"code": 105001, "message": "rate limited"}))  # fmt: skip
    broken = _write(tmp_path, "S1/broken.jsonl", _lines(
        _return("RETURN_OR_REFUND_REQUEST_PENDING", T0), '{"return_id": "truncated', "[1, 2",
        _return("RETURN_OR_REFUND_REQUEST_PENDING", T0), {"hello": "world"}))  # fmt: skip
    truncated = tmp_path / "S1" / "trunc.json"
    truncated.write_text('{\n  "code": 0,\n  "data": {"return_orders": [\n', encoding="utf-8")
    con, read = _read(tmp_path, [error, mixed, broken, truncated])
    by_name = {e.source_file: e for e in read.entries}
    assert by_name["S1/err.json"].status == "skipped"
    assert by_name["S1/err.json"].reason.startswith("API error page: code 36009003: Internal error")
    assert by_name["S1/page.jsonl"].status == "skipped" and "code 105001" in by_name["S1/page.jsonl"].reason
    assert (
        by_name["S1/trunc.json"].status == "skipped" and "malformed JSON" in by_name["S1/trunc.json"].reason
    )
    b = by_name["S1/broken.jsonl"]
    assert (b.rows_read, b.rows_staged, b.rows_quarantined, read.superseded[b.index]) == (5, 1, 3, 1)
    reasons = {(q[1], q[5]) for q in read.quarantine if q[0] == b.index}
    assert (2, "malformed JSON line: not a JSON value") in reasons and (
        3,
        "malformed JSON line: not a JSON value",
    ) in reasons
    assert any(line == 5 and reason.startswith("unknown API record") for line, reason in reasons)
    assert len(_rows(con, read, "aftersales_requests")) == 1  # error pages: nothing read from them
    _balanced(read)


def test_unknown_values_that_are_not_enum_shaped_are_withheld(tmp_path):
    path = _write(tmp_path, "S1/r.json", _body("return_orders", [
        _return("zqname@zqmail.com", T0), {**_return("FUTURE_STATUS", T0), "return_id": "R2"}]))  # fmt: skip
    con, read = _read(tmp_path, [path])
    assert sorted(v[2] for v in read.unknown_values) == ["***", "FUTURE_STATUS"]
    assert "zq" not in read.entries[0].reason
    kept = {r["Return Order ID"]: r["Return Status"] for r in _rows(con, read, "aftersales_requests")}
    assert kept["R2"] == "FUTURE_STATUS"  # kept as written, not rejected


def test_is_api_dump_reads_the_first_character(tmp_path):
    assert is_api_dump(_write(tmp_path, "a.txt", {"code": 0}))
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf \n[1]")
    assert is_api_dump(tmp_path / "b.json")
    (tmp_path / "c.json").write_text("Order ID,SKU ID\n", encoding="utf-8")
    assert not is_api_dump(tmp_path / "c.json")


PLANTED = {
    "user_id": "zq7userzq9",
    "buyer_email": "zqmail@zqexample.com",
    "buyer_nickname": "zqnickzq",
    "buyer_message": "call zqphonezq 555",
    "name": "Zqname Zqsurname",
    "phone_number": "+1 555 zq 0199",
    "full_address": "12 Zqstreet Road",
    "content": "zqsecretzq message",
}


def test_personal_data_never_reaches_the_work_database_or_the_log(tmp_path, caplog):
    inbox = tmp_path / "inbox"
    (inbox).mkdir()
    (inbox / "shops.csv").write_text(
        "Shop ID,Shop Name,Market,Program,Ship From,Timezone,Chatbots Enabled\n"
        "S1,Shop,US,local,US,America/Los_Angeles,false\n",
        encoding="utf-8",
    )
    p = PLANTED
    order = {"id": OID, "user_id": p["user_id"], "buyer_email": p["buyer_email"], "buyer_nickname": p["buyer_nickname"],
             "buyer_message": p["buyer_message"], "status": "DELIVERED", "create_time": T0, "update_time": T0,
             "recipient_address": {"name": p["name"], "phone_number": p["phone_number"],
                                   "full_address": p["full_address"], "postal_code": "Z9Q 9ZQ"},
             "line_items": [{"sku_id": SKU, "sale_price": "oops " + p["buyer_email"]}]}  # fmt: skip
    message = {"id": "M1", "conversation_id": "CV1", "type": "TEXT", "create_time": T0,
               "content": json.dumps({"content": p["content"]}), "sender": {"role": "BUYER", "nickname": p["name"]}}  # fmt: skip
    _write(inbox, "S1/dump.jsonl", _lines(
        _body("orders", [order]), _body("messages", [message]),
        {**message, "id": "M2", "sender": {"role": "MODERATOR"}},  # an unknown role: kept, quarantined by its gate
        '{"user_id": "' + p["user_id"] + '", broken',
    ))  # fmt: skip
    _write(inbox, "S1/error.json", {"code": 1, "message": "bad token for " + p["buyer_email"]})
    settings = load_settings(env={"AFTERSALES_PSEUDONYM_KEY": "11" * 32})
    work = tmp_path / "work.duckdb"
    with caplog.at_level(logging.DEBUG):
        ingest_inbox(inbox, work, BATCH, "run-1", settings, tmp_path / "report")
    con = duckdb.connect(str(work), read_only=True)
    # The planted amount fails its gate: the order line is quarantined (raw masked), not staged.
    assert con.execute("SELECT count(*) FROM stg_order_lines").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM quarantine WHERE raw LIKE '%Order ID%'").fetchone()[0] >= 1
    # The message of the same file is staged: its content read only to classify it.
    assert con.execute("SELECT is_greeting, content_length FROM stg_messages").fetchall() == [(False, 18)]
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    text = (
        "\n".join(str(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"').fetchall())
        + caplog.text
        + "\n".join(p.read_text(errors="replace") for p in (tmp_path / "report").rglob("*") if p.is_file())
    )
    for value in PLANTED.values():
        for fragment in {value, *value.split()}:
            if "zq" in fragment.lower():
                assert fragment not in text, f"{fragment!r} leaked"


def test_generator_formats(tmp_path):
    from aftersales.commands.generate import generate

    shops = build_shops(4, 5, BATCH)
    assert api_shop_indexes("csv", shops, 5).tolist() == []
    assert api_shop_indexes("openapi", shops, 5).tolist() == [0, 1, 2, 3]
    mixed = api_shop_indexes("mixed", shops, 5).tolist()
    assert len(mixed) == 2 and mixed == api_shop_indexes("mixed", shops, 5).tolist()
    with pytest.raises(ValueError):
        api_shop_indexes("xml", shops, 5)
    out = tmp_path / "inbox"
    result = CliRunner().invoke(
        generate, ["--out", str(out), "--shops", "2", "--orders", "40", "--seed", "5", "--format", "mixed"]
    )
    assert result.exit_code == 0, result.output
    api = sorted(p.relative_to(out).as_posix() for p in out.rglob("openapi/*"))
    api_shop = api[0].split("/")[0]
    assert {p.split("/", 1)[1] for p in api} >= {
        "openapi/orders_search.json", "openapi/returns_search_latest.json", "openapi/return_records.jsonl",
        "openapi/cancellations_search.jsonl", "openapi/messages.jsonl",
    }  # fmt: skip
    assert not list((out / api_shop).rglob("*order*.csv"))  # its orders come through the API only
    assert all(is_api_dump(out / p) for p in api)


def test_api_shops_are_added_without_touching_the_other_shops(tmp_path):
    base = GeneratorSpec(shops=2, orders=40, seed=5, batch_date=BATCH)
    plain = generate_inbox(tmp_path / "plain", base)
    more = generate_inbox(tmp_path / "more", replace(base, api_shops=1))
    registry = (tmp_path / "more" / "shops.csv").read_text(encoding="utf-8").splitlines()
    assert registry[:3] == (tmp_path / "plain" / "shops.csv").read_text(encoding="utf-8").splitlines()
    assert len(registry) == 4 and registry[3].split(",")[1].endswith("(API)")
    for f in plain.files:
        assert (tmp_path / "more" / f.path).read_bytes() == (tmp_path / "plain" / f.path).read_bytes()
    added = {f.path for f in more.files} - {f.path for f in plain.files}
    api_shop = registry[3].split(",")[0]
    assert added and all(p.startswith(api_shop + "/") for p in added)
    assert any(p.endswith("openapi/returns_search_latest.json") for p in added)
    assert sum(more.rows.values()) > sum(plain.rows.values())
