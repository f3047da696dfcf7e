"""Ingestion building blocks on real bytes and a real DuckDB: decoding, record numbering, typing
SQL, pseudonyms, greetings, header recognition. No Great Expectations here (see test_ingest_inbox)."""

from __future__ import annotations

import codecs
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from aftersales.export_kinds import KINDS, header_key
from aftersales.ingest.decoding import sniff, utf8_chunks
from aftersales.ingest.errors import FileRejected
from aftersales.ingest.greetings import classify_greetings
from aftersales.ingest.line_numbering import number_records
from aftersales.ingest.pseudonyms import buyer_pseudonym, install_pseudonym_key, pseudonym_sql
from aftersales.ingest.readers import read_csv_sql, read_csvs_sql, rejected_records, rejected_records_by_path
from aftersales.ingest.recognition import recognise
from aftersales.ingest.records import NumberedCsv, write_numbered_rows
from aftersales.ingest.typing_sql import enum_sql, install_macros

TEXT = "Order ID,Product Name\n1001,蓝色杯子 “特价”\n1002,plain\n"


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    install_macros(c)
    yield c
    c.close()


def _decode(path: Path) -> tuple[str | None, str]:
    found = sniff(path)
    if found.problem:
        raise FileRejected(found.problem)
    return found.encoding, b"".join(utf8_chunks(path, found)).decode("utf-8")


# -- decoding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "expected_encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: NULs in every other byte
        (TEXT.encode("gb18030"), "gb18030"),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le-nobom", "gb18030"],
)
def test_each_encoding_decodes_to_the_same_text(tmp_path, encoded, expected_encoding):
    path = tmp_path / "f.csv"
    path.write_bytes(encoded)
    encoding, text = _decode(path)
    assert encoding == expected_encoding
    assert text == TEXT


def test_sniff_fingerprints_bytes(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    found = sniff(path)
    assert found.size == 8
    assert found.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_binary_file_is_rejected_with_the_nul_offset(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"Order ID,SKU ID\n\x89PNG\x00\x01\x02")
    with pytest.raises(
        FileRejected, match=r"^binary file: NUL byte at offset 20 \(not a CSV or XLSX export\)$"
    ):
        _decode(path)


def test_latin1_bytes_are_neither_utf8_nor_gb18030(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes("Order ID,Recipient\n1,José Müller\n".encode("latin-1"))
    with pytest.raises(FileRejected) as info:
        _decode(path)
    assert info.value.reason.startswith("undecodable bytes: not UTF-8 (byte 0xE9 at offset 24)")
    assert "GB18030" in info.value.reason


@pytest.mark.parametrize(
    "payload",
    [b"\xa7\xa1\xa7\xa2\xa7\xa3\xa7\xa4", b"\x81\x30\x81\x30abc"],
    ids=["cyrillic-letters", "c1-control"],
)
def test_gb18030_that_does_not_read_as_chinese_is_rejected(tmp_path, payload):
    # Valid GB18030 byte sequences, but the text is Cyrillic / a control character, not Chinese.
    path = tmp_path / "f.csv"
    path.write_bytes(b"Order ID,Recipient\n1," + payload + b"\n")
    with pytest.raises(FileRejected, match="not plausible GB18030 text"):
        _decode(path)


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"")
    assert sniff(path).problem == "empty file: 0 bytes"


def test_xlsx_is_recognised_by_its_bytes_not_its_name(tmp_path):
    import xlsxwriter

    path = tmp_path / "export.csv"  # misleading extension
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write_row(0, 0, ["Order ID"])
    book.close()
    assert sniff(path).container == "xlsx"


# -- physical line numbers ---------------------------------------------------------------------


def _numbered(tmp_path: Path, text: str, chunk: int | None = None):
    data = text.encode("utf-8")
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return number_records(chunks, tmp_path / "n.csv")


@pytest.mark.parametrize("chunk", [None, 3], ids=["one-block", "tiny-blocks"])
def test_records_carry_their_physical_line(tmp_path, chunk):
    text = '\n\na,b,c\r\n1,"x\r\ny",3\r\n\r\n4,"say ""hi""",6\r\n7,8,9'
    numbered = _numbered(tmp_path, text, chunk)
    assert numbered.header == ["a", "b", "c"]
    assert numbered.header_line == 3
    assert numbered.record_lines.tolist() == [4, 7, 8]


def test_stray_quotes_are_split_like_duckdb_does(tmp_path):
    # `ab"c` and `8"9` are literal quotes inside unquoted fields; the quoted field on line 4
    # spans into line 5.
    text = 'a,b,c\n1,ab"c,3\n4,5,6\n7,8"9,"10\n11"\n12,13,14\n'
    numbered = _numbered(tmp_path, text)
    assert numbered.record_lines.tolist() == [2, 3, 4, 6]
    con = duckdb.connect()
    rows = con.execute(f"SELECT __line, c0, c1, c2 FROM {read_csv_sql(numbered, 'rj')} ORDER BY 1").fetchall()
    assert rows == [
        (2, "1", 'ab"c', "3"),
        (3, "4", "5", "6"),
        (4, "7", '8"9', "10\n11"),
        (6, "12", "13", "14"),
    ]
    assert rejected_records(con, "rj") == []


def test_unterminated_quote_is_set_aside_and_the_lines_after_it_read_on_their_own(tmp_path):
    numbered = _numbered(tmp_path, 'a,b\n1,2\n3,"oops\n5,6\n7,8\n')
    assert numbered.record_lines.tolist() == [2, 4, 5]
    assert [(b.line, b.reason) for b in numbered.broken] == [
        (3, "malformed line: unterminated quoted value (an unbalanced quote); lines 4-5 read on their own")
    ]
    con = duckdb.connect()
    assert len(con.execute(f"SELECT * FROM {read_csv_sql(numbered, 'rj')}").fetchall()) == 3
    assert rejected_records(con, "rj") == []


def test_files_read_together_keep_their_rows_and_rejects_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = number_records([b"x,y\n1,2\n3,4,5\n6,7\n"], tmp_path / "a" / "n.csv")
    second = number_records([b"x,y\n\n8,9\n10\n"], tmp_path / "b" / "n.csv")
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT filename, __line, c0, c1 FROM {read_csvs_sql([first, second], 'rj')} ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        (str(first.path), 2, "1", "2"),
        (str(first.path), 4, "6", "7"),
        (str(second.path), 3, "8", "9"),
    ]
    rejects = rejected_records_by_path(con, "rj")
    assert {path: [(r.line, r.error_type) for r in recs] for path, recs in rejects.items()} == {
        str(first.path): [(3, "TOO MANY COLUMNS")],
        str(second.path): [(4, "MISSING COLUMNS")],
    }
    assert rejected_records_by_path(con, "rj") == {}  # the rejects tables are dropped once read


def test_header_only_and_blank_files(tmp_path):
    assert _numbered(tmp_path, "a,b\n").records == 0
    assert _numbered(tmp_path, "\n\r\n\n") is None


# -- typing SQL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zero_decimal_market", "expected"),
    [
        ("$1,299.00", False, Decimal("1299.00")),
        ("฿1,250.00", False, Decimal("1250.00")),
        ("RM89.90", False, Decimal("89.90")),
        ("£12", False, Decimal("12.00")),
        ("1.234,50", False, Decimal("1234.50")),
        ("89,90", False, Decimal("89.90")),
        ("₫125.000", True, Decimal("125000.00")),
        ("Rp 1.250.000", True, Decimal("1250000.00")),
        ("(5.00)", False, Decimal("-5.00")),
        ("-$5.00", False, Decimal("-5.00")),
        ("5.00 USD", False, Decimal("5.00")),
        ("1.250", False, None),  # ambiguous in a two-decimal currency
        ("1.255", False, None),  # more than two decimals
        ("abc", False, None),
        ("", False, None),
    ],
)
def test_money(con, text, zero_decimal_market, expected):
    got = con.execute("SELECT money_of(as_text($t), $z)", {"t": text, "z": zero_decimal_market}).fetchone()[0]
    assert got == expected


@pytest.mark.parametrize(
    ("text", "month_first", "zone", "utc"),
    [
        # US: month-first 12-hour, in the shop's zone; DST: PDT (-7) in July, PST (-8) in December.
        ("07/01/2026 1:05:09 PM", True, "America/Los_Angeles", datetime(2026, 7, 1, 20, 5, 9, tzinfo=UTC)),
        ("12/01/2026 1:05:09 PM", True, "America/Los_Angeles", datetime(2026, 12, 1, 21, 5, 9, tzinfo=UTC)),
        ("11/27/2026 12:05:09 AM", True, "America/New_York", datetime(2026, 11, 27, 5, 5, 9, tzinfo=UTC)),
        # UK: BST (+1) until the last Sunday of October, GMT after.
        ("24/10/2026 13:05:09", False, "Europe/London", datetime(2026, 10, 24, 12, 5, 9, tzinfo=UTC)),
        ("26/10/2026 13:05:09", False, "Europe/London", datetime(2026, 10, 26, 13, 5, 9, tzinfo=UTC)),
        ("27/11/2026 13:05", False, "Asia/Bangkok", datetime(2026, 11, 27, 6, 5, tzinfo=UTC)),
        # ISO: local without offset, or an instant with one.
        ("2026-11-27 13:05:09", False, "Asia/Bangkok", datetime(2026, 11, 27, 6, 5, 9, tzinfo=UTC)),
        ("2026-11-27T13:05:09+07:00", True, "America/New_York", datetime(2026, 11, 27, 6, 5, 9, tzinfo=UTC)),
        ("2026-11-27T13:05:09Z", False, "Asia/Bangkok", datetime(2026, 11, 27, 13, 5, 9, tzinfo=UTC)),
        # wrong convention for the market, impossible dates, date without time: not times
        ("27/11/2026 13:05:09", True, "America/New_York", None),
        ("11/27/2026 1:05:09 PM", False, "Asia/Bangkok", None),
        ("31/02/2026 08:15:00", False, "Asia/Bangkok", None),
        ("2026-11-27", False, "Asia/Bangkok", None),
    ],
)
def test_times_become_instants_in_the_shop_zone(con, text, month_first, zone, utc):
    got = con.execute(
        "SELECT time_of(as_text($t), $m, $z)", {"t": text, "m": month_first, "z": zone}
    ).fetchone()[0]
    assert got == utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\t5771001", "5771001"),
        ("'5771001", "5771001"),
        ('="5771001"', "5771001"),
        (" \t'12 ", "12"),
        ("\t", None),
    ],
)
def test_ids_lose_spreadsheet_guards(con, text, expected):
    assert con.execute("SELECT id_of(as_text($t))", {"t": text}).fetchone()[0] == expected


def test_enums_are_canonicalised_but_unknown_values_kept(con):
    col = KINDS["aftersales_requests"].by_header["Return Type"]
    sql = enum_sql(col, "as_text($t)")
    assert con.execute(f"SELECT {sql}", {"t": "return AND refund"}).fetchone()[0] == "Return and refund"
    assert con.execute(f"SELECT {sql}", {"t": "refund-only"}).fetchone()[0] == "Refund only"
    assert con.execute(f"SELECT {sql}", {"t": "Exchange"}).fetchone()[0] == "Exchange"


def test_pseudonym_sql_matches_the_python_hmac(con):
    key = bytes(range(32))
    install_pseudonym_key(con, key)
    for username in ["alice_99", " @Alice_99 ", "Zoë", "ZOË", "Nguyễn.Văn", "", "  "]:
        got = con.execute(f"SELECT {pseudonym_sql('as_text($u)')}", {"u": username}).fetchone()[0]
        assert got == buyer_pseudonym(key, username)
    same = con.execute(f"SELECT {pseudonym_sql('as_text($u)')}", {"u": "ALICE_99"}).fetchone()[0]
    assert same == buyer_pseudonym(key, "alice_99") and len(same) == 64
    install_pseudonym_key(con, bytes(32))
    other = con.execute(f"SELECT {pseudonym_sql('as_text($u)')}", {"u": "alice_99"}).fetchone()[0]
    assert other != same  # a different key gives unlinkable pseudonyms


def test_greetings_from_yaml():
    greetings = [
        "hi",
        "Hi!!!",
        "HELLO 😊",
        "hello there",
        "Hiiii",
        "xin chào ạ",
        "Xin chao shop",
        "สวัสดีครับ🙏",
    ]
    greetings += [
        "你好",
        "您好！",
        "你好呀",
        "👋🏻",
        "halo kak",
        "hello po",
        "Good morning",
        "selamat pagi kak",
    ]
    others = ["hi, where is my parcel?", "hey, any update?", "this", "hiding", "ok", "在吗", "refund please"]
    assert classify_greetings(greetings) == [True] * len(greetings)
    assert classify_greetings(others) == [False] * len(others)
    assert classify_greetings(["", "?!", None]) == [None, None, None]


# -- header recognition ------------------------------------------------------------------------


def test_header_matching_is_tolerant_of_variants():
    assert header_key("Cancellation/Return Type") == header_key("Cancelation/Return Type")
    assert header_key(" order_id ") == header_key("Order ID") == header_key("OrderID")
    header = [
        "order id",
        "SKU  ID",
        "Cancellation / Return Type",
        "Province",
        "District",
        "Phone Number",
        "Extra",
    ]
    rec = recognise(header)
    assert rec.kind.name == "orders"
    assert rec.positions["Cancelation/Return Type"] == (2,)
    assert rec.positions["State"] == (3,)
    assert rec.positions["City"] == (4,)
    assert rec.positions["Phone #"] == (5,)
    assert "Extra" not in rec.positions and rec.missing_required == ()


def test_recognition_needs_a_clear_winner():
    assert recognise(["Order ID", "Request Time", "Seller Decision", "Seller Response Time"]) is None  # tie
    assert recognise(["Order ID", "Foo", "Bar"]) is None
    rec = recognise(["Appeal ID", "Return Order ID", "Appeal Type"])
    assert rec.kind.name == "appeals"
    rec = recognise(["Return Order ID", "Order ID", "Return Reason", "Request Time"])
    assert rec.kind.name == "aftersales_requests" and rec.missing_required == ("Return Type",)


def test_every_staging_column_is_produced_by_its_kind():
    from aftersales.ingest.typing_sql import typed_columns
    from aftersales.staging import create_staging_tables

    c = duckdb.connect()
    create_staging_tables(c)
    for kind in KINDS.values():
        staged = {r[0] for r in c.execute(f"DESCRIBE {kind.table}").fetchall()}
        produced = {name for name, _ in typed_columns(kind)}
        assert staged <= produced, (kind.name, staged - produced)


def test_whitespace_only_lines_are_not_records(tmp_path):
    assert _numbered(tmp_path, "a,b\n1,2\n  \t\r\n3,4\n").record_lines.tolist() == [2, 4]


def test_classic_mac_line_ends_are_read(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"Order ID,SKU ID\r1,2\r3,4\r")
    found = sniff(path)
    assert found.cr_newlines
    numbered = number_records(utf8_chunks(path, found), tmp_path / "n.csv")
    assert numbered.header == ["Order ID", "SKU ID"] and numbered.record_lines.tolist() == [2, 3]


def test_lines_opening_with_blanks_are_records_unless_blank(tmp_path):
    # Tab-guarded IDs put a blank byte first on every line; only all-blank lines are skipped,
    # however long their run of blanks.
    text = "a,b\n\t1,\t2\n" + " " * 100 + "\n \t\r\n\t3,4\r\n" + " " * 40 + "x,5\n"
    numbered = _numbered(tmp_path, text, 7)
    assert numbered.record_lines.tolist() == [2, 5, 6]
    rows = (
        duckdb.connect()
        .execute(f"SELECT __line, c0, c1 FROM {read_csv_sql(numbered, None)} ORDER BY 1")
        .fetchall()
    )
    assert rows == [(2, "\t1", "\t2"), (5, "\t3", "4"), (6, " " * 40 + "x", "5")]


@pytest.mark.parametrize("chunk", [None, 5], ids=["one-block", "tiny-blocks"])
def test_record_offsets_locate_each_record_in_the_numbered_copy(tmp_path, chunk):
    text = 'a,b\r\n1,"x\r\ny"\r\n\r\n2,"3"\r\n  \r\n4,"say ""hi"""\r\n5,6'
    numbered = _numbered(tmp_path, text, chunk)
    data = numbered.path.read_bytes()
    assert numbered.record_lines.tolist() == [2, 5, 7, 8]
    for offset, line in zip(numbered.record_offsets.tolist(), numbered.record_lines.tolist(), strict=True):
        assert data[offset:].startswith(b"%d," % line)
        assert data[offset - 1 : offset] == b"\n"


def test_excerpt_reads_back_exactly_the_chosen_records(tmp_path):
    numbered = _numbered(tmp_path, 'a,b\n1,"x\ny"\n\n2,3\n4,"5\n\n6"\n7,8\n')
    con = duckdb.connect()
    full = con.execute(f"SELECT __line, c0, c1 FROM {read_csv_sql(numbered, None)} ORDER BY 1").fetchall()
    chosen = np.asarray([2, 6], dtype=np.int64)
    path = numbered.excerpt(chosen, tmp_path / "excerpt.csv")
    excerpt = NumberedCsv(path, numbered.header, numbered.header_line, np.empty(0, np.int64))
    rows = con.execute(f"SELECT __line, c0, c1 FROM {read_csv_sql(excerpt, None)} ORDER BY 1").fetchall()
    assert rows == [r for r in full if r[0] in (2, 6)] == [(2, "1", "x\ny"), (6, "4", "5\n\n6")]
    assert (
        numbered.excerpt(np.asarray([3], dtype=np.int64), tmp_path / "no.csv") is None
    )  # not a record start


def test_xlsx_rows_get_offsets_too(tmp_path):
    numbered = write_numbered_rows(
        [(1, ["a", "b"]), (2, ["1", "x,y"]), (3, ["", ""]), (4, ["2", "é"])], tmp_path / "n.csv"
    )
    data = numbered.path.read_bytes()
    assert numbered.record_lines.tolist() == [2, 4]
    assert [data[o:].split(b"\n")[0] for o in numbered.record_offsets.tolist()] == [
        b'2,1,"x,y"',
        "4,2,é".encode(),
    ]


def _id_reference(text: str | None) -> str | None:
    """The documented ID rule in Python: Excel ="..." wrapper, leading guards, Unicode spaces."""
    if text is None or not text.strip(" "):
        return None
    x = text.strip(" ")
    if x.startswith('="') and x.endswith('"'):
        x = x[2:-1]
    x = x.lstrip("\t'` ").strip(" \t\r\n\u00a0\ufeff")
    return x or None


@pytest.mark.parametrize(
    "text",
    ["576094552318661354", "'576094552318661354", "\t'7302876135730939789", "`A1", "SPO-03013-L/X",
     "AP88147165", '="5771001"', "=\"'12\"", "12\u00a0", "\ufeff12", "é1", "1é", "'", "''", "1\n2",
     "x", "-A", "A-", "'\u00a01", "\u00a0", "'1 '", '"1"', '=""', "1\r", "5.77E+17", "  '9 ", None],
)  # fmt: skip
def test_id_fast_path_agrees_with_the_general_rule(con, text):
    assert con.execute("SELECT id_of(as_text($t))", {"t": text}).fetchone()[0] == _id_reference(text)


def test_every_enum_spelling_reaches_its_canonical_value(con):
    for kind in KINDS.values():
        for col in kind.columns:
            if col.type != "enum":
                continue
            sql = enum_sql(col, "as_text($t)")
            spellings = [(v, v) for v in col.values] + list(col.value_aliases)
            for text, canonical in spellings:
                for variant in (text, text.upper(), text.lower(), f"  {text}!", text.replace(" ", "_")):
                    assert con.execute(f"SELECT {sql}", {"t": variant}).fetchone()[0] == canonical, (
                        col,
                        variant,
                    )
            assert con.execute(f"SELECT {sql}", {"t": "Not A Value 42"}).fetchone()[0] == "Not A Value 42"


def test_rejected_records_drop_the_rejects_tables_so_the_name_can_be_reused(tmp_path):
    first = number_records([b"a,b\n1,2\n3\n"], tmp_path / "first.csv")
    second = number_records([b"a,b\n4,5,6\n7,8\n"], tmp_path / "second.csv")
    con = duckdb.connect()
    for numbered, line in ((first, 3), (second, 2)):
        con.execute(f"SELECT * FROM {read_csv_sql(numbered, 'rj')}").fetchall()
        assert [r.line for r in rejected_records(con, "rj")] == [line]
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'rj_%'"
        ).fetchone() == (0,)
