"""Hostile file names: bytes that are not UTF-8, control and bidi characters, e-mail addresses.

A file name is stored in clear (file_ledger, quarantine, staging `source_file`), so it must be
text every table accepts and must not carry a buyer's e-mail address; the file itself is still
read like any other.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales.ingest import ingest_inbox
from aftersales.ingest.ledger import printable_path
from aftersales.settings import Settings

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "inbox"
EMAIL = "zz.buyer.secret@example.com"


def _orders_file(inbox: Path) -> Path:
    for path in sorted(inbox.rglob("*.csv")):
        if (
            path.name != "shops.csv"
            and b"Order ID" in path.read_bytes()[:600]
            and b"SKU ID" in path.read_bytes()[:600]
        ):
            return path
    raise AssertionError("the sample inbox has no orders CSV")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("names")
    inbox = tmp / "inbox"
    shutil.copytree(SAMPLE, inbox)
    orders = _orders_file(inbox)
    data = orders.read_bytes()
    header = data.split(b"\n", 1)[0] + b"\n"
    folder = os.fsencode(orders.parent)
    names = [
        b"orders_\xff\xfe.csv",
        b"orders\nnewline.csv",
        f"{EMAIL}.csv".encode(),
        "orders\u202etxt.csv".encode(),
    ]
    for name in names:
        with open(os.path.join(folder, name), "wb") as fh:  # header-only copies: distinct bytes, no rows
            fh.write(header + b"\n" * (len(name) % 3))
    summary = ingest_inbox(
        inbox,
        tmp / "work.duckdb",
        date(2026, 11, 27),
        "names",
        Settings(pseudonym_key="5f" * 32),
        tmp / "rep",
    )
    return summary, tmp / "work.duckdb", orders.parent.relative_to(inbox).as_posix()


def test_every_hostile_name_is_ledgered_as_printable_text(ingested):
    summary, db, folder = ingested
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = {r[0] for r in con.execute("SELECT source_file FROM file_ledger").fetchall()}
        unbalanced = con.execute(
            "SELECT count(*) FROM file_ledger WHERE rows_read <> rows_staged + rows_quarantined + rows_skipped_description + rows_superseded"
        ).fetchone()[0]
    finally:
        con.close()
    assert f"{folder}/orders_\\xff\\xfe.csv" in names
    assert f"{folder}/orders\\nnewline.csv" in names
    assert f"{folder}/orders\\u202etxt.csv" in names
    assert all(name.isprintable() for name in names)
    assert unbalanced == 0 and summary.rows_read > 0


def test_an_email_in_a_file_name_reaches_no_table(ingested):
    _, db, _ = ingested
    con = duckdb.connect(str(db), read_only=True)
    try:
        hits = []
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE data_type IN ('VARCHAR', 'JSON')"
        ).fetchall():
            found = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" ILIKE ?', [f"%{EMAIL}%"]
            ).fetchone()[0]
            if found:
                hits.append((table, column))
    finally:
        con.close()
    assert hits == []


def test_printable_path_examples():
    assert printable_path(os.fsdecode(b"US/a\xff.csv")) == "US/a\\xff.csv"
    assert printable_path("US/a\rb.csv") == "US/a\\rb.csv"
    assert printable_path("TH/订单 2026.csv") == "TH/订单 2026.csv"  # real text is kept
    assert "@" not in printable_path("US/jane.doe@mail.example.org orders.csv")
