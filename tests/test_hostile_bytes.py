"""Hostile bytes, encodings and workbooks (issue #11, defects 3, 4, 5 and 7).

Every bad file is built here (no committed binaries). One hostile inbox is ingested once for the
module (real `ingest_inbox`, real DuckDB, real Great Expectations) and each defect asserts its
real outcome: ledger status and reason, quarantine rows and lines, counts that balance, the good
files still ingested, no planted personal value anywhere in the work database. Unit tests call
the decoding, typing and workbook functions directly where the inbox would hide the cause.
"""

from __future__ import annotations

import codecs
import json
import resource
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from aftersales.ingest import ingest_inbox
from aftersales.ingest.decoding import sniff, utf8_chunks
from aftersales.ingest.errors import FileRejected
from aftersales.ingest.pseudonyms import buyer_pseudonym
from aftersales.ingest.readers import check_no_lost_lines, prepare
from aftersales.ingest.records import NumberedCsv
from aftersales.ingest.typing_sql import install_macros
from aftersales.ingest.workbook import (
    _run_child,
    numbered_sheet,
    sheet_fingerprint,
    workbook_sheets,
)
from aftersales.ingest.workbook_inspection import MAX_CELL_CHARS
from aftersales.settings import Settings

KEY_HEX = "a7" * 32
KEY = bytes.fromhex(KEY_HEX)
BATCH = date(2026, 11, 27)

SHOPS_HEADER = ["Shop ID", "Shop Name", "Market", "Program", "Ship From", "Timezone", "Chatbots Enabled"]
ORDERS = ["Order ID", "SKU ID", "Order Amount", "Order Refund Amount", "Created Time", "Paid Time",
          "Shipped Time", "Buyer Username", "Recipient"]  # fmt: skip
PERSONAL = {"zoëy_müller", "Zoëy Müller", "renée_dubois", "Renée Dubois", "Dave Bowman", "dave_b"}


def _order(
    order_id: str, amount: str = "$10.00", user: str = "dave_b", name: str = "Dave Bowman"
) -> list[str]:
    return [order_id, "S1", amount, "$0.00", "11/20/2026 9:00:00 AM", "11/20/2026 9:05:00 AM",
            "11/21/2026 9:00:00 AM", user, name]  # fmt: skip


def _csv_text(rows: list[list[str]], newline: str = "\n") -> str:
    quoted = (
        ",".join('"' + c.replace('"', '""') + '"' if any(x in c for x in ',"\r\n') else c for c in row)
        for row in rows
    )
    return newline.join(quoted) + newline


# -- workbook builders ---------------------------------------------------------------------------

_CT = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _inline_row(r: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{chr(65 + i)}{r}" t="inlineStr"><is><t>{v}</t></is></c>' for i, v in enumerate(values)
    )
    return f'<row r="{r}">{cells}</row>'


def write_raw_xlsx(
    path: Path, sheet_data: str, *, prolog: str = "", sheet_part=None, extra: dict | None = None
) -> Path:
    """A minimal XLSX written part by part, so a test controls every byte of the sheet XML.
    `sheet_part`, if given, writes the sheet part itself (streamed, for bombs); `extra` maps
    more part names to functions writing them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr(
            "_rels/.rels",
            f'<?xml version="1.0"?><Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0"?><workbook xmlns="{_MAIN}" xmlns:r="{_RELS}"><sheets>'
            '<sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0"?><Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        for name, write in (extra or {}).items():
            with z.open(name, "w", force_zip64=True) as part:
                write(part)
        if sheet_part is not None:
            with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
                sheet_part(part)
        else:
            z.writestr(
                "xl/worksheets/sheet1.xml",
                f'<?xml version="1.0"?>{prolog}<worksheet xmlns="{_MAIN}"><sheetData>{sheet_data}'
                "</sheetData></worksheet>",
            )
    return path


def _inline_bomb(part, chars: int) -> None:
    """A sheet whose A2 holds an inline string of `chars` characters, streamed (never in memory)."""
    part.write(f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>'.encode())
    part.write(_inline_row(1, ORDERS).encode())
    part.write(b'<row r="2"><c r="A2" t="inlineStr"><is><t>')
    block = b"A" * (1 << 20)
    for _ in range(chars >> 20):
        part.write(block)
    part.write(b"</t></is></c></row></sheetData></worksheet>")


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str) and value.startswith("="):
                    sheet.write_formula(r, c, value)
                else:
                    sheet.write(r, c, value)
    book.close()
    return path


# -- the hostile inbox, ingested once -----------------------------------------------------------

CP1252_ROWS = [
    _order("W1", user="zoëy_müller", name="Zoëy Müller"),
    _order("W2", user="renée_dubois", name="Renée Dubois"),
    _order("W3", user="zoëy_müller", name="Zoëy Müller"),
]
MONEY_ROWS = [
    _order("M1", amount="1e308"),
    _order("M2", amount="$1e308"),
    _order("M3", amount="NaN"),
    _order("M4", amount="inf"),
    _order("M5", amount="1.2.3"),
    _order("M6", amount="99999999999999999999"),
    _order("M7", amount="12/34"),
    _order("M8", amount="$12.50"),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    inbox = tmp / "inbox"
    us = inbox / "US1"
    us.mkdir(parents=True)
    (inbox / "shops.csv").write_text(
        _csv_text([SHOPS_HEADER, ["US1", "Sunny US", "US", "local", "US", "America/Los_Angeles", "true"]])
    )
    (us / "a_good.csv").write_text(_csv_text([ORDERS, _order("G1"), _order("G2")]))
    # defect 3: a 1.5 KB workbook with one cell at XFD1048576; a 64 MiB inline string (zip bomb);
    # a DTD with entities.
    write_raw_xlsx(
        us / "xfd.xlsx", _inline_row(1, ORDERS) + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    )
    write_raw_xlsx(us / "bomb.xlsx", "", sheet_part=lambda part: _inline_bomb(part, 64 << 20))
    write_raw_xlsx(
        us / "dtd.xlsx",
        _inline_row(1, ORDERS) + _inline_row(2, ["&lol;"]),
        prolog='<!DOCTYPE x [<!ENTITY lol "lol">]>',
    )
    # defect 4: CR-only line ends behind a BOM (UTF-8, UTF-16 LE and BE)
    for name, encoding, bom in (
        ("cr_utf8_bom.csv", "utf-8", codecs.BOM_UTF8),
        ("cr_utf16le_bom.csv", "utf-16-le", codecs.BOM_UTF16_LE),
        ("cr_utf16be_bom.csv", "utf-16-be", codecs.BOM_UTF16_BE),
    ):
        rows = [ORDERS, *(_order(f"{name[3:-4]}-{i}") for i in (1, 2, 3))]
        (us / name).write_bytes(bom + _csv_text(rows, "\r").encode(encoding))
    # defect 5: orders split over two sheets, a notes sheet, an empty sheet
    write_xlsx(
        us / "split.xlsx",
        {
            "Orders 1": [ORDERS, _order("S1"), _order("S2")],
            "Orders 2": [ORDERS, _order("S3")],
            "Notes": [["Exported by Seller Center"], ["Call Dave Bowman on Monday"]],
            "Empty": [],
        },
    )
    # defect 7: money that is not an amount; a Windows-1252 file; a formula without a saved value
    (us / "money.csv").write_text(_csv_text([ORDERS, *MONEY_ROWS]))
    (us / "cp1252.csv").write_bytes(_csv_text([ORDERS, *CP1252_ROWS]).encode("cp1252"))
    write_xlsx(
        us / "formula.xlsx", {"Orders": [ORDERS, _order("F1"), _order("F2", amount="=10*2"), _order("F3")]}
    )
    summary = ingest_inbox(
        inbox, tmp / "work.duckdb", BATCH, "run-1", Settings(pseudonym_key=KEY_HEX), tmp / "r"
    )
    return summary, tmp / "work.duckdb"


def _rows(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _ledger(db: Path, source_file: str) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute("SELECT * FROM file_ledger WHERE source_file = ?", [source_file])
        names = [d[0] for d in cur.description]
        (row,) = cur.fetchall()
        return dict(zip(names, row, strict=True))
    finally:
        con.close()


def _quarantine(db: Path, source_file: str) -> list[tuple]:
    return _rows(
        db,
        "SELECT line_number, reason FROM quarantine WHERE source_file = ? ORDER BY line_number NULLS FIRST, reason",
        [source_file],
    )


def _order_ids(db: Path, source_file: str) -> list[str]:
    return [
        r[0]
        for r in _rows(
            db, "SELECT order_id FROM stg_order_lines WHERE source_file = ? ORDER BY 1", [source_file]
        )
    ]


def test_every_file_balances_and_the_good_file_is_ingested(hostile):
    _, db = hostile
    for row in _rows(
        db,
        "SELECT source_file, rows_read, rows_staged, rows_quarantined, rows_skipped_description FROM file_ledger",
    ):
        assert row[1] == row[2] + row[3] + row[4], row
    assert _ledger(db, "US1/a_good.csv")["status"] == "ingested"
    assert _order_ids(db, "US1/a_good.csv") == ["G1", "G2"]


def test_no_planted_personal_value_anywhere(hostile):
    _, db = hostile
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            """SELECT table_name, column_name FROM duckdb_columns()
               WHERE NOT internal AND schema_name = 'main' AND data_type = 'VARCHAR'"""
        ).fetchall()
        for table, column in columns:
            for (value,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall():
                texts = [value] + (
                    [str(v) for v in json.loads(value).values()] if value.startswith("{") else []
                )
                for text in texts:
                    assert not [p for p in PERSONAL if p in text], (table, column, text)
    finally:
        con.close()


# defect 3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_file", "reason"),
    [
        ("US1/xfd.xlsx", "XLSX sheet 'Orders' has a cell at row 1048576, column 16384: over the limit"),
        ("US1/bomb.xlsx", f"XLSX sheet 'Orders' holds a text over {MAX_CELL_CHARS} characters"),
        ("US1/dtd.xlsx", "XLSX part declares a DTD or entities: refused"),
    ],
)
def test_hostile_workbook_is_skipped_with_one_line_reason(hostile, source_file, reason):
    _, db = hostile
    ledger = _ledger(db, source_file)
    assert (ledger["status"], ledger["rows_read"]) == ("skipped", 0)
    assert ledger["reason"].startswith(reason) and "\n" not in ledger["reason"]
    assert _quarantine(db, source_file) == [(None, ledger["reason"])]


def test_workbook_bombs_are_refused_before_any_reader_allocates(tmp_path):
    xfd = write_raw_xlsx(
        tmp_path / "xfd.xlsx", _inline_row(1, ORDERS) + '<row r="9"><c r="XFD1048576"><v>1</v></c></row>'
    )
    bomb = write_raw_xlsx(tmp_path / "bomb.xlsx", "", sheet_part=lambda part: _inline_bomb(part, 128 << 20))
    assert xfd.stat().st_size < 2048 and bomb.stat().st_size < (1 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN)
    for path, reason in ((xfd, "column 16384"), (bomb, f"over {MAX_CELL_CHARS} characters")):
        assert workbook_sheets(path, "xlsx") == ["Orders"]  # workbook-level parts are fine
        with pytest.raises(FileRejected, match=reason):
            numbered_sheet(path, "xlsx", "Orders", tmp_path / "out.csv")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN)
    assert after[0] - before[0] < 64 << 10  # KiB: the 128 MiB string was never held
    assert after[1].ru_utime == before[1].ru_utime  # refused before a reader process ran


def test_a_reader_abort_costs_one_sheet_not_the_process(tmp_path):
    # Defence in depth: were inspection to miss a bomb, calamine aborts (512 GiB allocation) in
    # its child process, under the address-space limit; this process gets a one-line refusal.
    path = write_raw_xlsx(
        tmp_path / "xfd.xlsx", _inline_row(1, ORDERS) + '<row r="9"><c r="XFD1048576"><v>1</v></c></row>'
    )
    with pytest.raises(
        FileRejected, match=r"^unreadable XLSX workbook: the reader was stopped by SIGABRT"
    ) as info:
        _run_child(path, "xlsx", "Orders", tmp_path / "out.csv")
    assert "\n" not in info.value.reason


def _spaces(part, size: int) -> None:
    part.write(b'<?xml version="1.0"?><styleSheet>')
    for _ in range(size >> 20):
        part.write(b" " * (1 << 20))
    part.write(b"</styleSheet>")


def _long_shared_string(part, chars: int) -> None:
    part.write(
        f'<?xml version="1.0"?><sst xmlns="{_MAIN}"><si><t>'.encode() + b"x" * chars + b"</t></si></sst>"
    )


@pytest.mark.parametrize(
    ("sheet", "extra", "reason"),
    [
        # formulas send the sheet to the exact XML walk: the same limits hold there
        (_inline_row(1, ORDERS) + '<row r="2"><c r="A2"><f>1+1</f></c><c r="XFD1048576"><v>1</v></c></row>',
         None, "column 16384: over the limit"),
        # cells without a reference are placed by position: 1,100 of them make a row too wide
        (_inline_row(1, ORDERS) + '<row r="2">' + "<c><v>1</v></c>" * 1100 + "</row>", None, "column 1025"),
        # within the row and column limits, but rows x columns is too large an area
        (_inline_row(1, ORDERS) + '<row r="100000"><c r="AMJ100000"><v>1</v></c></row>', None,
         "spans 100000 rows x 1024 columns: over the limit of 80000000 cells"),
        ("", {"xl/sharedStrings.xml": lambda part: _long_shared_string(part, MAX_CELL_CHARS + 1)},
         "XLSX shared strings holds a text over"),
        ("", {"xl/styles.xml": lambda part: _spaces(part, 24 << 20)}, "xl/styles.xml inflates over 250x"),
        (_inline_row(1, ORDERS) + _inline_row(2, ["&amp;" * MAX_CELL_CHARS]), None, None),  # 32,767 chars: fine
    ],
    ids=["formula-xfd", "no-refs-wide", "area", "shared-string", "styles-bomb", "entities-at-the-limit"],
)  # fmt: skip
def test_workbook_limits_hold_on_every_path(tmp_path, sheet, extra, reason):
    path = write_raw_xlsx(tmp_path / "w.xlsx", sheet or _inline_row(1, ORDERS), extra=extra)
    if reason is None:
        numbered = numbered_sheet(path, "xlsx", "Orders", tmp_path / "out.csv")
        assert numbered.records == 1
        return
    with pytest.raises(FileRejected, match=reason):
        numbered_sheet(path, "xlsx", "Orders", tmp_path / "out.csv")


def test_zip_declaring_a_part_twice_or_a_corrupt_xls_is_skipped_not_fatal(tmp_path):
    twice = tmp_path / "twice.xlsx"
    write_raw_xlsx(twice, _inline_row(1, ORDERS))
    with zipfile.ZipFile(twice, "a") as z, pytest.warns(UserWarning):
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    with pytest.raises(FileRejected, match="names a part twice"):
        workbook_sheets(twice, "xlsx")
    xls = tmp_path / "bad.xls"
    xls.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 600)
    with pytest.raises(FileRejected, match="^unreadable XLS workbook: ") as info:
        numbered_sheet(xls, "xls", None, tmp_path / "out.csv")
    assert "\n" not in info.value.reason


# defect 4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cr_utf8_bom.csv", "cr_utf16le_bom.csv", "cr_utf16be_bom.csv"])
def test_cr_only_files_with_a_bom_are_read_line_by_line(hostile, name):
    _, db = hostile
    ledger = _ledger(db, f"US1/{name}")
    assert (ledger["status"], ledger["rows_read"], ledger["rows_staged"]) == ("ingested", 3, 3)
    got = _rows(
        db,
        "SELECT order_id, line_number FROM stg_order_lines WHERE source_file = ? ORDER BY 2",
        [f"US1/{name}"],
    )
    assert got == [(f"{name[3:-4]}-{i}", i + 1) for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-8", "Zoë Müller"),
        ("utf-8-sig", "Zoë Müller"),
        ("utf-16", "Zoë Müller"),
        ("utf-16-le", "Zoë Müller"),
        ("utf-32", "Zoë Müller"),
        ("gb18030", "王小明（特价）蓝色杯子"),
        ("cp1252", "Zoëy Müller, Crème Brûlée"),
    ],
)
def test_cr_line_ends_are_found_in_the_decoded_text_of_every_encoding(tmp_path, encoding, name):
    path = tmp_path / "f.csv"
    rows = [ORDERS, _order("C1", name=name), _order("C2", name=name)]
    path.write_bytes(_csv_text(rows, "\r").encode(encoding))
    found = sniff(path)
    assert found.cr_newlines
    numbered = prepare(path, found, tmp_path / "n.csv")
    assert numbered.record_lines.tolist() == [2, 3]


def test_a_header_with_lines_but_no_record_is_refused(tmp_path):
    # The invariant behind defect 4: whatever missed the line ends, a text that holds more lines
    # (CR, LF or CRLF) than its header spans never yields 0 records silently.
    path = tmp_path / "f.csv"
    text = _csv_text([ORDERS, _order("C1"), _order("C2")], "\r")
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    found = sniff(path)
    blind = NumberedCsv(tmp_path / "n.csv", ORDERS, 1, np.empty(0, np.int64))  # numbering saw one line
    with pytest.raises(FileRejected, match="^line ends not recognised"):
        check_no_lost_lines(path, found, blind)
    # a header followed by blank lines only, or a header cell spanning lines, is no loss
    header_only = tmp_path / "h.csv"
    header_only.write_bytes(_csv_text([ORDERS]).encode() + b"\r\n  \n\r")
    assert prepare(header_only, sniff(header_only), tmp_path / "h_n.csv").records == 0
    spanning = tmp_path / "s.csv"
    spanning.write_bytes(b'"Order\r\nID",SKU ID\r\n')
    assert prepare(spanning, sniff(spanning), tmp_path / "s_n.csv").records == 0


# defect 5 ---------------------------------------------------------------------------------------


def test_every_sheet_is_read_or_reported(hostile):
    _, db = hostile
    ledger = {
        row[0]: row[1:]
        for row in _rows(
            db,
            "SELECT source_file, status, file_kind, rows_read, rows_staged, sha256 FROM file_ledger "
            "WHERE source_file LIKE 'US1/split.xlsx%'",
        )
    }
    assert set(ledger) == {f"US1/split.xlsx#{s}" for s in ("Orders 1", "Orders 2", "Notes", "Empty")}
    assert ledger["US1/split.xlsx#Orders 1"][:4] == ("ingested", "orders", 2, 2)
    assert ledger["US1/split.xlsx#Orders 2"][:4] == ("ingested", "orders", 1, 1)
    assert ledger["US1/split.xlsx#Notes"][0] == ledger["US1/split.xlsx#Empty"][0] == "skipped"
    assert _quarantine(db, "US1/split.xlsx#Empty") == [(None, "empty sheet 'Empty': no header row")]
    (notes,) = _quarantine(db, "US1/split.xlsx#Notes")
    assert notes[0] is None and notes[1]
    assert _order_ids(db, "US1/split.xlsx#Orders 1") == ["S1", "S2"]
    assert _rows(db, "SELECT line_number FROM stg_order_lines WHERE order_id = 'S3'") == [
        (2,)
    ]  # the sheet's row
    assert len({v[4] for v in ledger.values()}) == 4  # per-sheet fingerprints: no sheet is a "duplicate"


def test_sheet_fingerprint_is_stable_per_workbook_and_sheet():
    assert sheet_fingerprint("ab" * 32, "Orders") == sheet_fingerprint("ab" * 32, "Orders")
    assert sheet_fingerprint("ab" * 32, "Orders") != sheet_fingerprint("ab" * 32, "Orders 2")


# defect 7 ---------------------------------------------------------------------------------------


def test_malformed_amounts_are_quarantined_never_reshaped(hostile):
    _, db = hostile
    assert _order_ids(db, "US1/money.csv") == ["M8"]
    assert _rows(db, "SELECT order_amount FROM stg_order_lines WHERE source_file = 'US1/money.csv'") == [
        (Decimal("12.50"),)
    ]
    lines = {line for line, _ in _quarantine(db, "US1/money.csv")}
    assert lines == set(range(2, 9))
    assert all("Order Amount" in reason for _, reason in _quarantine(db, "US1/money.csv"))
    ledger = _ledger(db, "US1/money.csv")
    assert (ledger["rows_read"], ledger["rows_staged"], ledger["rows_quarantined"]) == (8, 1, 7)


@pytest.mark.parametrize(
    ("text", "money", "whole", "number"),
    [
        ("1e308", None, None, None),
        ("1E5", None, None, None),
        ("NaN", None, None, None),
        ("-inf", None, None, None),
        ("1.2.3", None, None, None),
        ("99999999999999999999", None, None, 1e20),
        ("12/34", None, None, None),
        ("0x10", None, None, None),
        ("1_000", None, None, None),
        ("1.5", Decimal("1.50"), None, 1.5),
        ("3.00", Decimal("3.00"), 3, 3.0),
        ("1,000", Decimal("1000.00"), 1000, 1.0),  # a lone comma group: decimal comma for numbers
        ("€ 12,50", Decimal("12.50"), None, None),
        ("1 299,00", Decimal("1299.00"), None, None),
        ("5.00 USD", Decimal("5.00"), None, None),
    ],
)
def test_numbers_must_be_well_formed(text, money, whole, number):
    con = duckdb.connect()
    install_macros(con)
    got = con.execute(
        "SELECT money_of(as_text($t), false), int_of(as_text($t)), bigint_of(as_text($t)), float_of(as_text($t))",
        {"t": text},
    ).fetchone()
    assert got == (money, whole, whole, number)


def test_windows_1252_is_decoded_as_such_and_pseudonyms_come_from_the_real_name(hostile):
    _, db = hostile
    ledger = _ledger(db, "US1/cp1252.csv")
    assert (ledger["status"], ledger["encoding"], ledger["rows_staged"]) == ("ingested", "cp1252", 3)
    pseudonyms = dict(
        _rows(
            db, "SELECT order_id, buyer_pseudonym FROM stg_order_lines WHERE source_file = 'US1/cp1252.csv'"
        )
    )
    assert pseudonyms == {
        "W1": buyer_pseudonym(KEY, "zoëy_müller"),
        "W2": buyer_pseudonym(KEY, "renée_dubois"),
        "W3": buyer_pseudonym(KEY, "zoëy_müller"),
    }


TEXT_ROWS = [ORDERS, *CP1252_ROWS, _order("W4", name="Crème Brûlée Torch")]


@pytest.mark.parametrize(
    ("data", "outcome"),
    [
        (_csv_text(TEXT_ROWS).encode("cp1252"), "cp1252"),
        (_csv_text([ORDERS, _order("1", name="蓝色杯子（特价）王小明")] * 3).encode("gb18030"), "gb18030"),
        (_csv_text([ORDERS, _order("1", name="藍色杯子王小明用戶")] * 3).encode("big5"), "big5"),
        (_csv_text([ORDERS, _order("1", name="青いマグカップ山田太郎")] * 3).encode("shift_jis"), "cp932"),
        # one bad byte in UTF-8 text is damage, not another encoding
        (
            _csv_text(TEXT_ROWS).encode()[:90] + b"\xff" + _csv_text(TEXT_ROWS).encode()[90:],
            "corrupted UTF-8",
        ),
        # too few non-ASCII characters to tell cp1252 from its neighbours
        (_csv_text([ORDERS, _order("1", name="José")]).encode("cp1252"), "too little text to tell"),
        # capitals next to curly quotes are not UTF-8 merged in
        (
            _csv_text([ORDERS, _order("1", name="CRÈME BRÛLÉE’S, “Zoëy” Müller")] * 2).encode("cp1252"),
            "cp1252",
        ),
        # Polish cp1250 read as cp1252 would be "£ukasz ¯ó³æ": signs glued into words, refused
        (_csv_text([ORDERS, _order("1", name="Łukasz Żółć")] * 2).encode("cp1250"), "encoding not certain"),
        # UTF-8 rows appended to a Windows-1252 file: no single encoding reads it
        (_csv_text(TEXT_ROWS).encode("cp1252") + _csv_text(CP1252_ROWS).encode(), "mixed encodings"),
    ],
    ids=[
        "cp1252",
        "gb18030",
        "big5",
        "shift-jis",
        "corrupt-utf8",
        "too-little",
        "caps-quotes",
        "cp1250-glued",
        "mixed",
    ],
)
def test_legacy_encodings_are_decided_with_evidence_or_refused(tmp_path, data, outcome):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    found = sniff(path)
    if found.problem:
        assert outcome in found.problem and found.problem.startswith("undecodable bytes: not UTF-8 (")
        with pytest.raises(FileRejected):
            prepare(path, found, tmp_path / "n.csv")
        return
    assert found.encoding == outcome
    text = b"".join(utf8_chunks(path, found)).decode()
    assert text == data.decode(outcome)


def test_a_utf8_bom_does_not_vouch_for_the_bytes_behind_it(tmp_path):
    data = _csv_text(TEXT_ROWS).encode()
    path = tmp_path / "f.csv"
    path.write_bytes(codecs.BOM_UTF8 + data[:100] + b"\xcc" + data[101:])
    found = sniff(path)
    assert (
        found.problem == "undecodable bytes: UTF-8 byte-order mark, but not UTF-8 (byte 0xCC at offset 103)"
    )
    with pytest.raises(FileRejected, match="^undecodable bytes: UTF-8 byte-order mark"):
        prepare(path, found, tmp_path / "n.csv")


def test_utf8_never_reaches_the_detector(tmp_path, monkeypatch):
    import charset_normalizer

    def fail(*_args, **_kwargs):
        raise AssertionError("the detector ran on UTF-8")

    monkeypatch.setattr(charset_normalizer, "from_bytes", fail)
    path = tmp_path / "f.csv"
    path.write_bytes(_csv_text(TEXT_ROWS).encode() * 200)
    assert sniff(path).encoding == "utf-8"


def test_formula_without_a_saved_value_quarantines_its_row(hostile):
    _, db = hostile
    assert _order_ids(db, "US1/formula.xlsx") == ["F1", "F3"]
    assert _quarantine(db, "US1/formula.xlsx") == [
        (3, "formula without a saved value in C3: re-save the workbook in a spreadsheet")
    ]
    ledger = _ledger(db, "US1/formula.xlsx")
    assert (ledger["rows_read"], ledger["rows_staged"], ledger["rows_quarantined"]) == (3, 2, 1)
    assert not _rows(db, "SELECT 1 FROM stg_order_lines WHERE order_amount = 0")


def test_formula_cell_without_value_is_detected_in_the_xml(tmp_path):
    # Written by a tool that saves no value (no <v>), without xlsxwriter's recalculation flag.
    sheet = (
        _inline_row(1, ["Order ID", "Order Amount"])
        + '<row r="2"><c r="A2" t="inlineStr"><is><t>O1</t></is></c><c r="B2"><f>1+1</f></c></row>'
        + '<row r="3"><c r="A3" t="inlineStr"><is><t>O2</t></is></c><c r="B3"><f>2+2</f><v>4</v></c></row>'
    )
    path = write_raw_xlsx(tmp_path / "f.xlsx", sheet)
    numbered = numbered_sheet(path, "xlsx", "Orders", tmp_path / "n.csv")
    assert numbered.record_lines.tolist() == [3]  # a saved value is a value
    assert [(b.line, b.reason) for b in numbered.broken] == [
        (2, "formula without a saved value in B2: re-save the workbook in a spreadsheet")
    ]
