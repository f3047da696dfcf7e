"""Structurally broken CSV records (issue #11, defects 1, 2 and 6): stray and unbalanced quotes,
shifted fields, bare CRs. Bad files are built here, ingested for real (real DuckDB, real Great
Expectations) and judged on what the README promises: every physical line is staged, quarantined
with its own line and a specific reason, or skipped; counts balance; no planted personal value
reaches any table, the report or the log; a raw of a broken row shows only values proven safe.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from aftersales.export_kinds import KINDS
from aftersales.ingest import ingest_inbox
from aftersales.ingest.line_numbering import MAX_RECORD_BYTES, number_records
from aftersales.ingest.quarantine import MASK, looks_personal, masked_raw_from_line, masked_raw_sql
from aftersales.ingest.readers import RejectedRecord, read_csv_sql, reject_reason, scan_failure_reason
from aftersales.ingest.recognition import recognise
from aftersales.settings import Settings

SETTINGS = Settings(pseudonym_key="5f" * 32)
BATCH = date(2026, 11, 27)
SHOPS = "Shop ID,Shop Name,Market,Program,Ship From,Timezone,Chatbots Enabled\nUS1,Sunny,US,local,US,America/Los_Angeles,true\n"

CHAT_HEADER = "Conversation ID,Message ID,Order ID,Sender Role,Message Type,Sent Time,Content"
ORDER_HEADER = (
    "Order ID,SKU ID,Product Name,Quantity,Order Amount,Order Refund Amount,Created Time,Paid Time,"
    "Buyer Message,Buyer Username,Recipient,Phone #,Zipcode,Country,Detail Address,"
    "Additional address information,Payment Method,Weight(kg),Checked Status"
)
ORDER_WIDTH = ORDER_HEADER.count(",") + 1

# Personal values planted in broken rows: none may appear anywhere after ingestion.
PLANTED = {
    "my phone is 555 0101 and I live at 12 Elm St",
    "555 0101",
    "12 Elm St",
    "lena_prowse",
    "Lena Prowse",
    "(415) 555-0134",
    "94107",
    "88 Harbor View Rd",
    "Apt 5B buzz",
    "please, ring twice",
    "ring twice",
    "secret chat text",
    "call me on 0207 946 0958",
    "Marta Quill",
    "marta_q",
}


def _conv(n: int) -> str:
    return f"73029320510450{n:05d}"


def _msg(n: int) -> str:
    return f"74000598576269{n:05d}"


def chat(n: int, content: str = "Thanks for your order", role: str = "Buyer", quoted: bool = False) -> str:
    body = f'"{content}"' if quoted else content
    return f"{_conv(n)},{_msg(n)},,{role},text,11/04/2026 9:{n % 60:02d}:52 PM,{body}"


def order(n: int, *, product: str = "Linen Wrap Dress", message: str = "", refund: str = "$0.00") -> str:
    return ",".join(
        [
            f"5760394{n:011d}",
            f"17290002{n:011d}",
            product,
            "1",
            "$81.26",
            refund,
            "11/27/2026 9:45:21 AM",
            "11/27/2026 9:49:37 AM",
            message,
            "lena_prowse",
            "Lena Prowse",
            "(415) 555-0134",
            "94107",
            "United States",
            "88 Harbor View Rd",
            "Apt 5B buzz 12",
            "Credit card",
            "0.38",
            "",
        ]
    )


# -- the hostile inbox: one file per case, ingested once --------------------------------------

CASES: dict[str, bytes] = {}


def _case(name: str, lines: list[str], newline: str = "\n") -> None:
    CASES[name] = (newline.join(lines) + newline).encode("utf-8")


# Defect 1 (chat): an unbalanced quote opens "Message Type"; every line after it is a complete
# record (an export with a stray quote typed in), later lines hold quoted content.
_case(
    "chat_stray.csv",
    [
        CHAT_HEADER,
        chat(1),
        f'{_conv(2)},{_msg(2)},,Seller,"text,11/04/2026 9:47:52 PM,my phone is 555 0101 and I live at 12 Elm St',
        chat(3, "secret chat text"),
        chat(4, "Sorry to hear that, could you send a photo?", quoted=True),
        chat(5),
    ],
)
# Defect 1 (orders): the stray quote in Product Name; the next lines are complete records.
_case(
    "orders_stray.csv",
    [
        ORDER_HEADER,
        order(1),
        order(2, product='"Adjustable Dumbbells 20kg'),
        order(3),
        order(4, product='"Sage, L"'),
    ],
)
# A stray quote whose swallowed lines are no records on their own (a pasted address block).
_case(
    "orders_swallow_fragments.csv",
    [
        ORDER_HEADER,
        order(11),
        order(12, message='"Leave at door'),
        "Marta Quill",
        "call me on 0207 946 0958",
        order(13),
    ],
)
# Defect 2: an unquoted comma in Buyer Message and the last (empty) field dropped: the right
# field count, every field after the message shifted. Next to it, an aligned clean failure.
_case(
    "orders_shifted.csv",
    [ORDER_HEADER, order(21, message="please, ring twice")[:-1], order(22, refund="$99.00"), order(23)],
)
# An unbalanced quote on the last line of the file (nothing after it to swallow).
_case(
    "chat_last_line.csv",
    [CHAT_HEADER, chat(31), f'{_conv(32)},{_msg(32)},,Buyer,text,11/04/2026 9:32:52 PM,"secret chat text'],
)
# CRLF export with a stray quote.
_case(
    "chat_crlf_stray.csv",
    [CHAT_HEADER, chat(41), chat(42, '"secret chat text'), chat(43), chat(44, "multi\r\nline", quoted=True)],
    newline="\r\n",
)
# A quote swallowing lines until a later stray quote closes it into a malformed record.
_case(
    "chat_closed_later.csv",
    [CHAT_HEADER, chat(51), chat(52, '"secret chat text'), chat(53), 'call me on 0207 946 0958",x', chat(54)],
)
# A header-width-correct row whose quoted value opens mid-row and never closes properly.
_case(
    "orders_width_ok_stray.csv",
    [ORDER_HEADER, order(61, product='Mug "Blue" 12oz'), order(62, message='"please'), order(63)],
)

# Text after a closing quote, then a later quote that would open a value across lines.
_case(
    "chat_text_after_quote.csv",
    [
        CHAT_HEADER,
        chat(91),
        f'{_conv(92)},{_msg(92)},,Buyer,text,11/04/2026 9:32:52 PM,"Hi" there, "call me on 0207 946 0958',
        chat(93),
        chat(94),
    ],
)
# A space before a quoted value (DuckDB reads it as quoted), and one whose quote never closes.
_case(
    "chat_spaced_quote.csv",
    [
        CHAT_HEADER,
        chat(101),
        chat(102, ' "Sorry, late"'),
        chat(103, 'Leave it, "secret chat text'),
        chat(104),
    ],
)
# A stray quote in the header row: the header is its first line, the quote a literal.
_case(
    "orders_header_stray.csv", [ORDER_HEADER.replace("Product Name", '"Product Name'), order(111), order(112)]
)


def _bare_cr_chat() -> bytes:
    lines = [
        CHAT_HEADER.encode(),
        chat(71).encode(),
        chat(72, "Why was my return").encode() + b"\r" + b"rejected? secret chat text",  # bare CR mid-line
        chat(73).encode() + b"\r\r",  # a stray CR before a CRLF line end (mixed line ends)
        chat(74).encode(),
        chat(75, "two\rlines", quoted=True).encode(),  # bare CR inside a quoted value: content
    ]
    return b"\n".join(lines) + b"\n"


CASES["chat_bare_cr.csv"] = _bare_cr_chat()
# A bare CR inside a quoted value, and a line ended by a bare CR followed by a normal LF line.
CASES["orders_bare_cr.csv"] = (
    ORDER_HEADER + "\n" + order(81, product='"Mug\rBlue"') + "\n" + order(82) + "\r" + order(83) + "\n"
).encode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    inbox = tmp / "inbox"
    (inbox / "US1").mkdir(parents=True)
    (inbox / "shops.csv").write_text(SHOPS)
    for name, data in CASES.items():
        (inbox / "US1" / name).write_bytes(data)
    logger = logging.getLogger("aftersales")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        summary = ingest_inbox(inbox, tmp / "work.duckdb", BATCH, "run-1", SETTINGS, tmp / "reports")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    log_text = "\n".join(r.getMessage() for r in records)
    return summary, tmp / "work.duckdb", log_text


def query(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def quarantine(db: Path, name: str) -> list[tuple[int | None, str, dict | None]]:
    rows = query(
        db,
        "SELECT line_number, reason, raw FROM quarantine WHERE source_file = ? ORDER BY line_number, reason",
        [f"US1/{name}"],
    )
    return [(line, reason, json.loads(raw) if raw else None) for line, reason, raw in rows]


def ledger(db: Path, name: str) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT * FROM file_ledger WHERE source_file = ?", [f"US1/{name}"])
        return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    finally:
        con.close()


def staged_lines(db: Path, table: str, name: str) -> list[int]:
    return [
        r[0]
        for r in query(
            db, f"SELECT line_number FROM {table} WHERE source_file = ? ORDER BY 1", [f"US1/{name}"]
        )
    ]


def test_every_file_is_ingested_and_balances(hostile):
    _, db, _ = hostile
    for name in CASES:
        row = ledger(db, name)
        assert row["status"] == "ingested", (name, row["reason"])
        assert (
            row["rows_read"]
            == row["rows_staged"]
            + row["rows_quarantined"]
            + row["rows_skipped_description"]
            + row["rows_superseded"]
        ), name


def test_no_planted_personal_value_anywhere(hostile):
    summary, db, log_text = hostile
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            """SELECT table_name, column_name FROM duckdb_columns()
               WHERE schema_name = 'main' AND data_type IN ('VARCHAR', 'JSON')"""
        ).fetchall()
        texts = [
            str(value)
            for table, column in columns
            for (value,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall()
        ]
    finally:
        con.close()
    texts += [Path(summary.validation_report_path).read_text(encoding="utf-8"), log_text]
    assert len(texts) > 50
    for text in texts:
        decoded = [text]
        if text.startswith("{"):
            decoded += [str(v) for v in json.loads(text).values()]
        leaked = [p for p in PLANTED for t in decoded if p in t]
        assert not leaked, (leaked, text[:200])


def test_chat_stray_quote_quarantines_its_line_and_recovers_the_lines_after_it(hostile):
    _, db, _ = hostile
    ((line, reason, raw),) = quarantine(db, "chat_stray.csv")
    assert line == 3
    assert reason == (
        "malformed line: unbalanced quote (the quoted value would run to line 5); lines 4-5 read on their own"
    )
    # Mapped by position, judged by content: IDs, the time and a vocabulary value (the stray
    # quote as written) are shown, free text never.
    assert raw["Conversation ID"] == _conv(2) and raw["Message ID"] == _msg(2)
    assert raw["Sent Time"] == "11/04/2026 9:47:52 PM" and raw["Message Type"] == '"text'
    assert raw["Content"] == MASK
    assert staged_lines(db, "stg_messages", "chat_stray.csv") == [2, 4, 5, 6]
    assert query(
        db,
        "SELECT content_length FROM stg_messages WHERE line_number = 5 AND source_file = 'US1/chat_stray.csv'",
    ) == [(len("Sorry to hear that, could you send a photo?"),)]
    row = ledger(db, "chat_stray.csv")
    assert (row["rows_read"], row["rows_staged"], row["rows_quarantined"]) == (5, 4, 1)


def test_orders_stray_quote_masks_every_field_not_proven_safe(hostile):
    _, db, _ = hostile
    ((line, reason, raw),) = quarantine(db, "orders_stray.csv")
    assert line == 3 and reason.startswith(
        "malformed line: unbalanced quote (the quoted value would run to line 5)"
    )
    assert reason.endswith("lines 4-5 read on their own")
    assert raw["Order ID"] == "576039400000000002" and raw["Order Amount"] == "$81.26"
    for header in ("Product Name", "Buyer Username", "Recipient", "Phone #", "Zipcode", "Country",
                   "Detail Address", "Additional address information", "Payment Method"):  # fmt: skip
        assert raw[header] == MASK, header
    assert staged_lines(db, "stg_order_lines", "orders_stray.csv") == [2, 4, 5]
    assert query(
        db,
        "SELECT product_name FROM stg_order_lines WHERE line_number = 5 AND source_file = 'US1/orders_stray.csv'",
    ) == [("Sage, L",)]


def test_swallowed_fragments_are_quarantined_one_by_one(hostile):
    _, db, _ = hostile
    rows = quarantine(db, "orders_swallow_fragments.csv")
    assert [(line, reason) for line, reason, _ in rows] == [
        (3, "malformed line: unterminated quoted value (an unbalanced quote); lines 4-6 read on their own"),
        (4, "malformed line: swallowed by the unbalanced quote opened at line 3, and not a complete record on its own"),
        (5, "malformed line: swallowed by the unbalanced quote opened at line 3, and not a complete record on its own"),
    ]  # fmt: skip
    assert all(v in (MASK, None) for _, _, raw in rows[1:] for k, v in raw.items() if k != "__fields")
    assert staged_lines(db, "stg_order_lines", "orders_swallow_fragments.csv") == [2, 6]
    row = ledger(db, "orders_swallow_fragments.csv")
    assert (row["rows_read"], row["rows_staged"], row["rows_quarantined"]) == (5, 2, 3)


def test_shifted_row_with_the_right_field_count_is_masked_by_content(hostile):
    _, db, _ = hostile
    rows = quarantine(db, "orders_shifted.csv")
    shifted = [raw for line, _, raw in rows if line == 2]
    assert shifted and all(raw == shifted[0] for raw in shifted)
    raw = shifted[0]
    # The zipcode landed under "Country", the additional address under "Payment Method".
    assert raw["Country"] == MASK and raw["Payment Method"] == MASK and raw["Weight(kg)"] == MASK
    assert raw["Order ID"] == "576039400000000021" and raw["Order Amount"] == "$81.26"
    # An aligned row failing a clean rule keeps its amounts, IDs and harmless text.
    (aligned,) = {json.dumps(raw) for line, _, raw in rows if line == 3}
    aligned = json.loads(aligned)
    assert (aligned["Order Refund Amount"], aligned["Order Amount"]) == ("$99.00", "$81.26")
    assert aligned["Product Name"] == "Linen Wrap Dress" and aligned["Country"] == "United States"
    assert aligned["Payment Method"] == "Credit card" and aligned["Zipcode"] == MASK
    assert aligned["Additional address information"] == MASK


def test_unbalanced_quote_on_the_last_line(hostile):
    _, db, _ = hostile
    ((line, reason, raw),) = quarantine(db, "chat_last_line.csv")
    assert (line, reason) == (3, "malformed line: unterminated quoted value (truncated file?)")
    assert raw["Content"] == MASK and raw["Message ID"] == _msg(32)
    assert staged_lines(db, "stg_messages", "chat_last_line.csv") == [2]


def test_crlf_file_with_a_stray_quote(hostile):
    _, db, _ = hostile
    ((line, reason, _),) = quarantine(db, "chat_crlf_stray.csv")
    assert line == 3 and reason.startswith(
        "malformed line: unbalanced quote (the quoted value would run to line 5)"
    )
    assert staged_lines(db, "stg_messages", "chat_crlf_stray.csv") == [2, 4, 5]
    assert query(
        db,
        "SELECT content_length FROM stg_messages WHERE line_number = 5 AND source_file = 'US1/chat_crlf_stray.csv'",
    ) == [(len("multi\nline"),)]


def test_quote_closed_by_a_later_stray_quote(hostile):
    _, db, _ = hostile
    rows = quarantine(db, "chat_closed_later.csv")
    assert [(line, reason) for line, reason, _ in rows] == [
        (3, "malformed line: unbalanced quote (the quoted value would run to line 5); lines 4-5 read on their own"),
        (5, "malformed line: swallowed by the unbalanced quote opened at line 3, and not a complete record on its own"),
    ]  # fmt: skip
    assert staged_lines(db, "stg_messages", "chat_closed_later.csv") == [2, 4, 6]


def test_header_width_row_with_a_stray_quote(hostile):
    _, db, _ = hostile
    # A quote inside a value is a literal (DuckDB's reading); one opening a field unbalances it.
    assert query(
        db,
        "SELECT product_name FROM stg_order_lines WHERE source_file = 'US1/orders_width_ok_stray.csv' AND line_number = 2",
    ) == [('Mug "Blue" 12oz',)]
    ((line, reason, raw),) = quarantine(db, "orders_width_ok_stray.csv")
    assert line == 3 and reason.startswith("malformed line: unterminated quoted value (an unbalanced quote)")
    assert raw["Buyer Message"] == MASK and raw["Recipient"] == MASK
    assert staged_lines(db, "stg_order_lines", "orders_width_ok_stray.csv") == [2, 4]


def test_bare_cr_is_a_line_break_outside_quotes_and_content_inside(hostile):
    _, db, _ = hostile
    row = ledger(db, "chat_bare_cr.csv")
    assert row["status"] == "ingested"
    # Lines: 1 header, 2 msg 71, 3 msg 72 (cut by the CR), 4 its tail, 5 msg 73, 6 msg 74, 7 msg 75.
    assert staged_lines(db, "stg_messages", "chat_bare_cr.csv") == [2, 3, 5, 6, 7]
    ((line, reason, raw),) = quarantine(db, "chat_bare_cr.csv")
    assert (line, reason) == (4, "malformed line: 1 fields, the header has 7 (truncated line?)")
    assert raw["Conversation ID"] == MASK
    assert query(
        db,
        "SELECT content_length FROM stg_messages WHERE source_file = 'US1/chat_bare_cr.csv' AND line_number = 7",
    ) == [(9,)]
    assert (row["rows_read"], row["rows_staged"], row["rows_quarantined"]) == (6, 5, 1)
    orders = ledger(db, "orders_bare_cr.csv")
    assert (orders["status"], orders["rows_read"], orders["rows_staged"]) == ("ingested", 3, 3)
    assert query(db, "SELECT line_number, product_name FROM stg_order_lines WHERE source_file = 'US1/orders_bare_cr.csv' ORDER BY 1") == [
        (2, "Mug\rBlue"), (4, "Linen Wrap Dress"), (5, "Linen Wrap Dress")
    ]  # fmt: skip


# -- the numbering pass on its own ----------------------------------------------------------


def _number(tmp_path: Path, data: bytes, chunk: int | None):
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return number_records(chunks, tmp_path / f"n{chunk}.csv")


@pytest.mark.parametrize("name", sorted(CASES))
def test_block_boundaries_do_not_change_the_outcome(tmp_path, name):
    """Records straddling blocks are carried whole: tiny blocks number exactly like one block."""
    whole = _number(tmp_path, CASES[name], None)
    con = duckdb.connect()
    expected = con.execute(f"SELECT * FROM {read_csv_sql(whole, None)} ORDER BY 1").fetchall()
    for chunk in (1, 7, 64):
        split = _number(tmp_path, CASES[name], chunk)
        assert split.record_lines.tolist() == whole.record_lines.tolist(), chunk
        assert [(b.line, b.reason) for b in split.broken] == [(b.line, b.reason) for b in whole.broken]
        assert con.execute(f"SELECT * FROM {read_csv_sql(split, None)} ORDER BY 1").fetchall() == expected


def test_a_quote_open_past_the_record_limit_is_unbalanced(tmp_path):
    filler = "\n".join(f"{i},plain text line" for i in range(MAX_RECORD_BYTES // 16))
    data = f'a,b\n1,"opens here\n{filler}\n'.encode()
    numbered = _number(tmp_path, data, 1 << 16)
    assert [b.line for b in numbered.broken] == [2]
    assert numbered.records == MAX_RECORD_BYTES // 16  # every line after it read on its own


def test_legitimate_multiline_values_stay_records_on_the_fast_path(tmp_path):
    data = b'a,b,c\n1,"x\ny",3\n4,"line one\n\nline three",6\n7,8,9\n'
    numbered = _number(tmp_path, data, None)
    assert numbered.record_lines.tolist() == [2, 4, 7] and numbered.broken == ()


# -- masking and reasons ----------------------------------------------------------------------


def test_masked_raw_from_line_shows_only_shaped_values():
    kind = KINDS["orders"]
    rec = recognise(ORDER_HEADER.split(","))
    line = order(5, message="please, ring twice")
    raw = json.loads(masked_raw_from_line(kind, rec.positions, ORDER_WIDTH, line))
    assert raw["__fields"] == str(ORDER_WIDTH + 1)
    assert raw["Order ID"] == "576039400000000005" and raw["Created Time"] == "11/27/2026 9:45:21 AM"
    shown = {v for k, v in raw.items() if v not in (MASK, None) and k != "__fields"}
    assert not {p for p in PLANTED for v in shown if p in v}
    assert raw["Product Name"] == MASK  # free text is never shown for a broken record


@pytest.mark.parametrize(
    ("value", "personal"),
    [("(415) 555-0134", True), ("jo@example.com", True), ("88 Harbor View Rd", True), ("94107", True),
     ("Apt 5B", True), ("Linen Wrap Dress", False), ("United States", False), ("Sage, L", False)],
)  # fmt: skip
def test_looks_personal(value, personal):
    assert looks_personal(value) is personal


def test_masked_raw_sql_agrees_with_the_python_twin(tmp_path):
    """The SQL path (rows DuckDB split) masks a shifted row like the Python path does."""
    path = tmp_path / "o.csv"
    path.write_text(ORDER_HEADER + "\n" + order(6, message="please, ring twice")[:-1] + "\n")
    numbered = number_records([path.read_bytes()], tmp_path / "n.csv")
    rec = recognise(numbered.header)
    con = duckdb.connect()
    (sql_raw,) = con.execute(
        f"SELECT {masked_raw_sql(rec.kind, rec.positions)} FROM {read_csv_sql(numbered, None)} AS src"
    ).fetchone()
    sql_raw = json.loads(sql_raw)
    assert (
        sql_raw["Country"] == MASK and sql_raw["Payment Method"] == MASK and sql_raw["Buyer Username"] == MASK
    )
    py_raw = json.loads(
        masked_raw_from_line(
            rec.kind, rec.positions, ORDER_WIDTH, order(6, message="please, ring twice")[:-1]
        )
    )
    typed = [c.header for c in rec.kind.columns if c.type in ("id", "money", "time", "int", "float")]
    assert {h: sql_raw[h] for h in typed if h in sql_raw} == {h: py_raw[h] for h in typed if h in py_raw}


def test_reasons_never_quote_duckdb_messages_or_contents():
    secret = "Lena Prowse"
    rec = RejectedRecord(7, "CAST", f"Could not convert string '{secret}' to BIGINT", f"x,{secret}")
    assert secret not in reject_reason(rec) and reject_reason(rec).startswith("malformed line: ")
    err = duckdb.InvalidInputException(
        f"Invalid Input Error: CSV Parser state machine reached an invalid state. {secret}"
    )
    assert scan_failure_reason(err) == "unreadable CSV: its quoting or line ends defeat the CSV reader"
    assert secret not in scan_failure_reason(duckdb.InvalidInputException(secret))


def test_fast_path_is_kept_for_clean_blocks(tmp_path):
    """A clean file (quoted commas, multi-line values) never takes the per-line path."""
    import aftersales.ingest.line_numbering as records

    calls = []
    original = records._Numberer._exact
    records._Numberer._exact = lambda self, block, final: calls.append(1) or original(self, block, final)
    try:
        data = ("a,b,c\n" + '1,"x, y","multi\nline"\n' * 2000).encode()
        numbered = _number(tmp_path, data, 4096)
    finally:
        records._Numberer._exact = original
    assert numbered.records == 2000 and not calls
    assert np.array_equal(numbered.record_lines, np.arange(2, 4002, 2))


def test_text_after_a_closing_quote_costs_only_its_line(hostile):
    _, db, _ = hostile
    ((line, reason, raw),) = quarantine(db, "chat_text_after_quote.csv")
    assert (line, reason) == (3, "malformed line: text after a closing quote")
    assert raw["Message ID"] == _msg(92) and raw["Content"] == MASK
    assert staged_lines(db, "stg_messages", "chat_text_after_quote.csv") == [2, 4, 5]


def test_spaces_around_quotes_are_read_as_duckdb_reads_them(hostile):
    _, db, _ = hostile
    assert query(
        db,
        "SELECT content_length FROM stg_messages WHERE source_file = 'US1/chat_spaced_quote.csv' AND line_number = 3",
    ) == [(len("Sorry, late"),)]
    ((line, reason, raw),) = quarantine(db, "chat_spaced_quote.csv")
    assert line == 4 and reason.startswith("malformed line: unterminated quoted value (an unbalanced quote)")
    assert raw["Content"] == MASK
    assert staged_lines(db, "stg_messages", "chat_spaced_quote.csv") == [2, 3, 5]


def test_stray_quote_in_the_header_row(hostile):
    _, db, _ = hostile
    row = ledger(db, "orders_header_stray.csv")
    assert (row["status"], row["file_kind"], row["rows_read"], row["rows_staged"]) == (
        "ingested",
        "orders",
        2,
        2,
    )
    assert staged_lines(db, "stg_order_lines", "orders_header_stray.csv") == [2, 3]


def test_a_huge_line_costs_its_own_record_not_memory_per_byte(tmp_path):
    """A 40 MiB line (no newline for 5 chunks) is rejected as oversized; only ~2x the record limit of it is
    kept by numbering, and the records after it keep their lines."""
    chunk = 8 << 20
    huge = b"C1,M2,,Buyer,text,11/20/2026 9:00:00 AM," + b'x"y' * ((40 << 20) // 3) + b"\n"
    text = (
        b"Conversation ID,Message ID,Order ID,Sender Role,Message Type,Sent Time,Content\n"
        b"C1,M1,,Buyer,text,11/20/2026 9:00:00 AM,hello\n"
        + huge
        + b"C1,M3,,Seller,text,11/20/2026 9:05:00 AM,hi\n"
    )
    numbered = number_records((text[i : i + chunk] for i in range(0, len(text), chunk)), tmp_path / "n.csv")
    assert numbered.path.stat().st_size < 3 * MAX_RECORD_BYTES  # the rest of the huge line was never kept
    con = duckdb.connect()
    rows = con.execute(f"SELECT __line FROM {read_csv_sql(numbered, 'rj')} ORDER BY 1").fetchall()
    from aftersales.ingest.readers import rejected_records

    rejected = rejected_records(con, "rj") + [
        RejectedRecord(b.line, "BROKEN", b.reason, "") for b in numbered.broken
    ]
    assert [r[0] for r in rows] == [2, 4]
    assert [r.line for r in rejected] == [3]
    if rejected[0].error_type == "LINE SIZE OVER MAXIMUM":
        assert reject_reason(rejected[0]).startswith("oversized line: over ")
