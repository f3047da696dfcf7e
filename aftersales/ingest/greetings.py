"""Bare-greeting detection for chat messages, as one DuckDB expression over the content.

The patterns are data (greetings.yaml beside this file): see that file for the matching rule.
Only the boolean result and the content length are kept; the content itself is never stored.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import yaml

from aftersales.sql_quoting import sql_literal

GREETINGS_FILE = Path(__file__).with_name("greetings.yaml")


@cache
def load_greetings(path: Path = GREETINGS_FILE) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(symbols, greetings, fillers) from the YAML file."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(doc.get("symbols") or ()), tuple(doc["greetings"]), tuple(doc.get("fillers") or ())


def greeting_pattern(path: Path = GREETINGS_FILE) -> tuple[str, str]:
    """(characters kept by normalisation as an RE2 class, full-match pattern)."""
    symbols, greetings, fillers = load_greetings(path)
    keep = r"[^\p{L}\p{M}\p{N}" + "".join(symbols) + "]+"
    g = "(?:" + "|".join(f"(?:{p})" for p in greetings) + ")"
    f = "(?:" + "|".join(f"(?:{p})" for p in (*greetings, *fillers)) + ")"
    return keep, rf"(?:{f} ?)*{g}(?: ?{f})*"


def greeting_sql(expr: str, path: Path = GREETINGS_FILE) -> str:
    """SQL boolean: is the text in `expr` a bare greeting? NULL when the text is empty."""
    keep, pattern = greeting_pattern(path)
    norm = (
        f"trim(regexp_replace(lower(nfc_normalize(CAST({expr} AS VARCHAR))), {sql_literal(keep)}, ' ', 'g'))"
    )
    return f"CASE WHEN {norm} = '' THEN NULL ELSE regexp_full_match({norm}, {sql_literal(pattern)}) END"


def classify_greetings(texts: list[str | None], path: Path = GREETINGS_FILE) -> list[bool | None]:
    """The same rule on a list of texts (in-memory DuckDB), for checking the YAML by hand."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT {greeting_sql('t', path)} FROM (SELECT unnest($texts) AS t, generate_subscripts($texts, 1) AS i) "
            "ORDER BY i",
            {"texts": texts},
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]
