"""SQL snippets reading API record fields as the text a CSV export cell would hold.

Values pass through as text so that the ingest typing SELECT and the quality gates judge them
exactly as they judge CSV cells: a unix time that is not a whole number stays as written (and is
quarantined as "not a valid time"), money strings are the API's decimal strings.
"""

from __future__ import annotations

from aftersales.sql_quoting import sql_literal


def text(path: str, rec: str = "rec") -> str:
    """A field as trimmed text (objects and arrays as their JSON), NULL when absent or empty."""
    return f"NULLIF(trim(json_extract_string({rec}, {sql_literal(path)})), '')"


def unix_seconds(path: str, rec: str = "rec") -> str:
    """A unix-seconds field as BIGINT (NULL when absent, 0, or not a whole number)."""
    return f"NULLIF(TRY_CAST({text(path, rec)} AS BIGINT), 0)"


def instant_text(seconds: str) -> str:
    """Unix seconds (BIGINT expression) -> ISO 8601 UTC text, which ingest reads as an instant."""
    return f"strftime(make_timestamp(({seconds}) * 1000000), '%Y-%m-%dT%H:%M:%S') || 'Z'"


def time_text(path: str, rec: str = "rec") -> str:
    """A time field as export text: ISO 8601 UTC; a value that is no unix time kept as written."""
    raw = text(path, rec)
    return (
        f"CASE WHEN {raw} IS NULL OR {raw} = '0' THEN NULL "
        f"WHEN TRY_CAST({raw} AS BIGINT) IS NOT NULL THEN {instant_text(f'TRY_CAST({raw} AS BIGINT)')} "
        f"ELSE {raw} END"
    )
