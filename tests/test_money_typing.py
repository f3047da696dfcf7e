"""`money_of` edge cases, fast path and general path, pinned value by value.

The macro was restructured for speed (issue #14: no CASE around the whole); these are the
amounts whose result depends on which path reads them, so a later rewrite that changes any
answer fails here, not in a warehouse comparison.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from aftersales.ingest.typing_sql import install_macros


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    install_macros(con)
    yield con
    con.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("   ", None),  # blank after trimming
        ("\u00a0", None),
        ("$", None),
        ("#12", Decimal("12.00")),  # fast path: any short non-digit prefix
        ("#1,234.00", None),  # general path: "#" is not a currency affix
        ("+1,234.00", Decimal("1234.00")),
        ("1234567890123456.00", Decimal("1234567890123456.00")),
        ("12345678901234567.00", None),  # beyond DECIMAL(18, 2), both paths
        ("(1,234.50)", Decimal("-1234.50")),
        ("((5))", Decimal("-5.00")),
        ("\u22125.00", Decimal("-5.00")),  # Unicode minus sign
        ("$-5", Decimal("-5.00")),
        ("--5", None),
        ("1 234,50", Decimal("1234.50")),
        ("USD 12.50", Decimal("12.50")),
        ("\u20ab9,999,999", Decimal("9999999.00")),
        ("Rp999,999", Decimal("999999.00")),
        ("1,2345", None),
        (".5", None),
        ("5.", None),
        ("\u0663", None),  # an Arabic-Indic digit is not an amount
        ("1e5", None),
        ("0x10", None),
        ("1.234.567,89", Decimal("1234567.89")),
    ],
)
def test_money_reads_the_same_on_either_path(con, text, expected):
    for zero_decimal in (False, True):
        got = con.execute(
            "SELECT money_of(as_text($t::VARCHAR), $z)", {"t": text, "z": zero_decimal}
        ).fetchone()[0]
        assert got == expected, (text, zero_decimal)


def test_a_lone_dot_group_is_thousands_only_in_zero_decimal_markets(con):
    sql = "SELECT money_of(as_text($t), $z)"
    assert con.execute(sql, {"t": "12.345", "z": True}).fetchone()[0] == Decimal("12345.00")
    assert con.execute(sql, {"t": "12.345", "z": False}).fetchone()[0] is None


def test_money_of_a_column_mixes_paths_and_nulls_row_by_row(con):
    """One vector holding fast-path, general-path, NULL and refused values: each row keeps its own."""
    rows = con.execute(
        """SELECT money_of(as_text(t), FALSE) FROM (VALUES (1, '$12.50'), (2, NULL), (3, '฿1,250.00'),
                  (4, 'abc'), (5, '(5.00)'), (6, '')) AS v(i, t) ORDER BY i"""
    ).fetchall()
    assert [r[0] for r in rows] == [Decimal("12.50"), None, Decimal("1250.00"), None, Decimal("-5.00"), None]
