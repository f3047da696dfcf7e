"""DuckDB SQL that turns raw export text into typed values (IDs, times, money, numbers, enums).

All typing happens in one SELECT over `read_csv` per file (vectorised, no Python per row).
The shop's market and IANA zone are constants of a file, inlined into that SELECT.

Times: US shops write month-first 12-hour ("11/27/2026 1:05:09 PM", 24-hour also accepted),
all other markets day-first 24-hour ("27/11/2026 13:05:09"); seconds optional. ISO 8601 is
accepted everywhere: with an offset ("Z", "+07:00") it is an instant as written, without one it
is shop-local wall time. Wall time becomes an instant with DuckDB `timezone(zone, ts)` (ICU):
correct across DST; a wall time skipped by a spring-forward gap is read with the standard
offset, an ambiguous fall-back time as the later (standard-time) instant.

Money: currency symbols/codes and spaces are dropped; "1,299.00" and "1.299,00" are both read;
a lone group "1.250" means 1250 only in zero-decimal markets (VN, ID) and is otherwise rejected
as ambiguous; "(5.00)" is negative. More than two decimals is not a valid amount.
"""

from __future__ import annotations

from dataclasses import dataclass

from aftersales.export_kinds import (
    MONTH_FIRST_MARKETS,
    PARSED_TYPES,
    ZERO_DECIMAL_MARKETS,
    Column,
    Kind,
    unparsed_name,
)
from aftersales.ingest.records import LINE_FIELD
from aftersales.sql_quoting import sql_ident, sql_literal

# IDs lose all surrounding whitespace (space, tab, CR, LF, NBSP, BOM) and any leading
# tab/apostrophe/backtick that spreadsheets use to keep long numbers as text.
_WS = "' \t\r\n\u00a0\ufeff'"
_ID_GUARDS = "'\t''` '"
_ID_GUARD_CLASS = "[\t''` ]"  # the same characters as a regex class (inside a SQL literal)

US_TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")
DAY_FIRST_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
ISO_LOCAL_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
)
_ISO_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"

SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "tz": "VARCHAR",
    "time": "TIMESTAMPTZ",
    "money": "DECIMAL(18, 2)",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
}


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


# Well-formed numbers, checked before any character is dropped or cast (RE2 syntax):
# an amount is [prefix] digits[separators/spaces digits] [suffix], where prefix and suffix hold only
# letters (currency codes), currency symbols, spaces, sign and parentheses.
_MONEY_AFFIX = r"[\p{L}\p{Sc}\s\x{00A0}\x{202F}().+\-−]*"
_MONEY_SHAPE = rf"{_MONEY_AFFIX}?\d(?:[\d.,\s\x{{00A0}}\x{{202F}}]*\d)?{_MONEY_AFFIX}"
_WHOLE_SHAPE = r"[-+]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.0+)?"
_DECIMAL_SHAPE = r"[-+]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?|[-+]?\d+,\d+|[-+]?\.\d+"


# Every macro below takes text already trimmed by `as_text` (NULL when empty): the typing
# SELECT trims each source column once in an inner projection. `as_text` trims spaces only
# (DuckDB's fast path); IDs also lose other whitespace, amounts and enums ignore it anyway.
MACROS = (
    "CREATE OR REPLACE TEMP MACRO as_text(x) AS NULLIF(trim(CAST(x AS VARCHAR)), '')",
    # Leading tab/apostrophe/backtick (spreadsheet guards) and an Excel ="..." wrapper. Fast path
    # (one DFA regex, most IDs): behind its guards the ID starts and ends with an ASCII letter or
    # digit, so there is no wrapper and nothing to trim but the guards; the general path trims a
    # set of Unicode spaces, which costs about as much as everything else in the macro.
    f"""CREATE OR REPLACE TEMP MACRO id_of(x) AS CASE
        WHEN regexp_full_match(x, '{_ID_GUARD_CLASS}*[0-9A-Za-z](?:.*[0-9A-Za-z])?') THEN ltrim(x, {_ID_GUARDS})
        ELSE NULLIF(trim(ltrim(
            CASE WHEN starts_with(x, '="') AND ends_with(x, '"') THEN x[3:-2] ELSE x END, {_ID_GUARDS}), {_WS}), '')
        END""",
    # `s` holds digits, separators and sign only (symbols, codes and spaces removed).
    r"""CREATE OR REPLACE TEMP MACRO money_number(s, zero_dec) AS CASE
        WHEN regexp_full_match(s, '-?\d+(\.\d{1,2})?') THEN try_cast(s AS DECIMAL(18, 2))
        WHEN regexp_full_match(s, '-?\d{1,3}(,\d{3})+(\.\d{1,2})?') THEN try_cast(replace(s, ',', '') AS DECIMAL(18, 2))
        WHEN regexp_full_match(s, '-?\d{1,3}(\.\d{3})+(,\d{1,2})?') AND (zero_dec OR contains(s, ',') OR s LIKE '%.%.%')
            THEN try_cast(replace(replace(s, '.', ''), ',', '.') AS DECIMAL(18, 2))
        WHEN regexp_full_match(s, '-?\d+,\d{1,2}') THEN try_cast(replace(s, ',', '.') AS DECIMAL(18, 2))
        END""",
    # Fast path (one regex): an optional short symbol prefix and a plain amount, e.g. "$12.50",
    # "RM89.90", "12". Otherwise the text must be an amount between an optional prefix and suffix
    # (currency symbols or codes, spaces, sign, parentheses): between its first and last digit only
    # digits, separators and spaces (`_MONEY_SHAPE`), so "1e308", "12/34" or "1x5" are not amounts
    # (they used to lose their letters and become other numbers). Then strip to digits/separators
    # once (the lambda binds the stripped text) and read the separator conventions.
    # No CASE around the whole: the fast path is NULL for NULL text by itself, and an outer CASE
    # cost about a quarter of the macro on every value; only the rare general path checks NULL.
    rf"""CREATE OR REPLACE TEMP MACRO money_of(x, zero_dec) AS coalesce(
        try_cast(NULLIF(regexp_extract(x, '^[^\d\-−(.,]{{0,4}}(\d+(?:\.\d{{1,2}})?)$', 1), '') AS DECIMAL(18, 2)),
        CASE WHEN x IS NULL THEN NULL ELSE
            CASE WHEN NOT regexp_full_match(x, '{_MONEY_SHAPE}') THEN NULL
                 WHEN starts_with(x, '(') AND ends_with(x, ')') THEN -1 ELSE 1 END
            * list_transform([regexp_replace(replace(x, '−', '-'), '[^0-9.,\-]', '', 'g')],
                             lambda s: money_number(s, zero_dec))[1]
        END)""",
    f"""CREATE OR REPLACE TEMP MACRO time_of(x, month_first, tz) AS CASE
        WHEN x IS NULL THEN NULL
        WHEN x[5] = '-' THEN CASE
            WHEN regexp_matches(x, '{_ISO_WITH_OFFSET}') THEN try_cast(x AS TIMESTAMPTZ)
            ELSE timezone(tz, try_strptime(x, {_list(ISO_LOCAL_TIME_FORMATS)})) END
        WHEN month_first THEN timezone(tz, try_strptime(x, {_list(US_TIME_FORMATS)}))
        ELSE timezone(tz, try_strptime(x, {_list(DAY_FIRST_TIME_FORMATS)}))
        END""",
    # Whole numbers: digits with optional thousands groups (and a zero fraction, "3.00"). DuckDB's
    # own cast would round "1.5" to 2 and read "1e3", "0x10" and "1_000": other numbers, never errors.
    f"""CREATE OR REPLACE TEMP MACRO int_of(x) AS CASE WHEN regexp_full_match(x, '{_WHOLE_SHAPE}')
        THEN try_cast(regexp_replace(replace(x, ',', ''), '\\.0+$', '') AS INTEGER) END""",
    f"""CREATE OR REPLACE TEMP MACRO bigint_of(x) AS CASE WHEN regexp_full_match(x, '{_WHOLE_SHAPE}')
        THEN try_cast(regexp_replace(replace(x, ',', ''), '\\.0+$', '') AS BIGINT) END""",
    # Decimal numbers in plain notation only: no exponent, "inf" or "nan" (a weight of 1e308 or
    # NaN is not a measurement); a lone comma is a decimal comma.
    f"""CREATE OR REPLACE TEMP MACRO float_of(x) AS CASE WHEN regexp_full_match(x, '{_DECIMAL_SHAPE}')
        THEN try_cast(
            CASE WHEN contains(x, ',') AND NOT contains(x, '.') THEN replace(x, ',', '.') ELSE replace(x, ',', '') END
            AS DOUBLE) END""",
    """CREATE OR REPLACE TEMP MACRO bool_of(x) AS CASE
        WHEN lower(x) IN ('true', 'yes', 'y', '1', 'on', 'enabled') THEN TRUE
        WHEN lower(x) IN ('false', 'no', 'n', '0', 'off', 'disabled') THEN FALSE
        END""",
    r"CREATE OR REPLACE TEMP MACRO enum_key(x) AS lower(regexp_replace(x, '[^\p{L}\p{N}]', '', 'g'))",
)


def install_macros(con) -> None:
    """Create the typing macros on a connection (temporary: nothing is written to the database)."""
    for ddl in MACROS:
        con.execute(ddl)


@dataclass(frozen=True)
class FileContext:
    """Constants of one input file, inlined into its typing SELECT.

    For a SELECT over several files of the same shop market and zone, `file_index` is None and
    the source provides `__file`, `__source_file` and `__shop_id` per row (`FILE_COLUMNS`).
    """

    file_index: int | None
    source_file: str | None
    shop_id: str | None
    market: str | None
    timezone: str | None


FILE_COLUMNS = ("__file", "__source_file", "__shop_id")


def typed_columns(kind: Kind) -> list[tuple[str, str]]:
    """(name, SQL type) of the run's typed table for a kind: staging columns plus diagnostics."""
    cols: list[tuple[str, str]] = [
        ("__file", "INTEGER"),
        ("__line", "BIGINT"),
        ("__rid", "BIGINT"),
        ("__market", "VARCHAR"),
        ("__timezone", "VARCHAR"),
        ("__description", "BOOLEAN"),
        ("source_file", "VARCHAR"),
        ("line_number", "BIGINT"),
    ]
    if kind.name != "shops":
        cols.append(("shop_id", "VARCHAR"))
    for col in kind.columns:
        if col.type == "pii":
            continue
        if col.type == "username":
            cols.append(("buyer_pseudonym", "VARCHAR"))
        elif col.type == "content":
            cols += [("is_greeting", "BOOLEAN"), ("content_length", "INTEGER")]
        else:
            cols.append((col.target, SQL_TYPES[col.type]))
            if col.type in PARSED_TYPES:
                cols.append((unparsed_name(col), "VARCHAR"))
    if kind.name == "evidence":
        cols.append(("is_valid", "BOOLEAN"))
    if any(cap.cap_from_orders for cap in kind.caps):
        cols.append(("__order_amount", "DECIMAL(18, 2)"))
    return cols


def typed_table_ddl(kind: Kind, table: str) -> str:
    """DDL of a kind's typed table; `table` is a (possibly catalog-qualified) SQL name."""
    body = ",\n    ".join(f"{sql_ident(n)} {t}" for n, t in typed_columns(kind))
    return f"CREATE OR REPLACE TABLE {table} (\n    {body}\n)"


def source_column(position: int) -> str:
    """Name given to the file's n-th header cell when reading it (header text is not trusted)."""
    return f"c{position}"


def typed_select(
    kind: Kind,
    positions: dict[str, tuple[int, ...]],
    ctx: FileContext,
    source_sql: str,
    greeting_sql,
    pseudonym_sql,
) -> str:
    """SELECT producing `typed_columns(kind)` (same order) from one file's numbered CSV.

    Three projections: trim each used source column once (`as_text`), type, then keep the text
    of values that did not parse. `greeting_sql(expr)` and `pseudonym_sql(expr)` turn message
    content and buyer username into their derived values: personal data never reaches a table.
    """
    month_first = "TRUE" if ctx.market in MONTH_FIRST_MARKETS else "FALSE"
    zero_dec = "TRUE" if ctx.market in ZERO_DECIMAL_MARKETS else "FALSE"
    tz = sql_literal(ctx.timezone or "UTC")
    used = sorted({p for pos in positions.values() for p in pos})
    per_row = ctx.file_index is None
    trimmed = ", ".join(
        [f"src.{LINE_FIELD}"]
        + ([f"src.{c}" for c in FILE_COLUMNS] if per_row else [])
        + [f"as_text(src.{source_column(p)}) AS {source_column(p)}" for p in used]
    )

    def src(col: Column, alias: str = "s") -> str:
        pos = positions.get(col.header)
        if not pos:
            return "NULL::VARCHAR"
        if len(pos) == 1:
            return f"{alias}.{source_column(pos[0])}"
        return "coalesce(" + ", ".join(f"{alias}.{source_column(p)}" for p in pos) + ")"

    typed: dict[str, str] = {}  # middle projection: typed values (source text passes through)
    file_index = "v.__file" if per_row else str(ctx.file_index)
    final: dict[str, str] = {
        "__file": file_index,
        "__line": f"v.{LINE_FIELD}",
        "__rid": f"(CAST({file_index} AS BIGINT) << 40) + v.{LINE_FIELD}",
        "__market": sql_literal(ctx.market) if ctx.market else "NULL",
        "__timezone": tz,
        "__description": "FALSE",
        "source_file": "v.__source_file" if per_row else sql_literal(ctx.source_file or ""),
        "line_number": f"v.{LINE_FIELD}",
    }
    if kind.name != "shops":
        final["shop_id"] = "coalesce(v.__shop_id, '')" if per_row else sql_literal(ctx.shop_id or "")
    for col in kind.columns:
        x = src(col)
        match col.type:
            case "pii":
                continue
            case "username":
                typed["buyer_pseudonym"] = pseudonym_sql(x)
            case "content":
                present = col.header in positions
                typed["is_greeting"] = f"coalesce({greeting_sql(x)}, FALSE)" if present else "FALSE"
                typed["content_length"] = f"coalesce(length({x}), 0)" if present else "NULL"
            case "id":
                typed[col.target] = f"id_of({x})"
            case "text" | "tz":
                typed[col.target] = f"upper({x})" if col.pattern else x
            case "enum":
                typed[col.target] = enum_sql(col, x)
            case "time":
                typed[col.target] = f"time_of({x}, {month_first}, {tz})"
            case "money":
                typed[col.target] = f"money_of({x}, {zero_dec})"
            case "int" | "bigint" | "float" | "bool":
                typed[col.target] = f"{col.type}_of({x})"
            case _:
                raise ValueError(f"unknown column type {col.type!r}")
        if col.type in PARSED_TYPES:
            final[unparsed_name(col)] = (
                f"CASE WHEN v.{sql_ident(col.target)} IS NULL THEN {src(col, 'v')} END"
            )
    if kind.name == "evidence":
        size, digest = src(kind.by_header["File Size Bytes"]), src(kind.by_header["SHA256"])
        typed["is_valid"] = (
            f"coalesce(bigint_of({size}) > 0 AND regexp_full_match({digest}, '[0-9a-fA-F]{{64}}'), FALSE)"
        )
    if any(cap.cap_from_orders for cap in kind.caps):
        final["__order_amount"] = "NULL"
    for name in typed:
        final.setdefault(name, f"v.{sql_ident(name)}")
    names = [n for n, _ in typed_columns(kind)]
    missing = set(names) - set(final)
    if missing:
        raise AssertionError(f"typing SQL lacks {sorted(missing)}")
    middle = ",\n        ".join(["s.*"] + [f"{expr} AS {sql_ident(n)}" for n, expr in typed.items()])
    select = ",\n    ".join(f"{final[n]} AS {sql_ident(n)}" for n in names)
    return (
        f"SELECT\n    {select}\nFROM (\n    SELECT\n        {middle}\n"
        f"    FROM (SELECT {trimmed} FROM {source_sql} AS src) AS s\n) AS v"
    )


def enum_sql(col: Column, text: str) -> str:
    """Canonical spelling of an enum value, matched ignoring case and punctuation; other values
    are kept as written so the quality gate names them.

    Values spelled exactly as a vocabulary value or alias (most of them) are looked up as they
    are; only the others pay for `enum_key`'s regex. Exact spellings are limited to ASCII, where
    `enum_key` here and the SQL macro provably agree, so both paths give the same answer.
    """
    pairs = {enum_key(v): v for v in col.values}
    pairs.update({enum_key(a): v for a, v in col.value_aliases})
    exact = {t: pairs[enum_key(t)] for t in (*col.values, *(a for a, _ in col.value_aliases)) if t.isascii()}
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in pairs.items())
    by_key = f"CASE enum_key({text}) {whens} ELSE {text} END"
    if not exact:
        return by_key
    fast = " ".join(f"WHEN {sql_literal(t)} THEN {sql_literal(v)}" for t, v in exact.items())
    return f"CASE {text} {fast} ELSE {by_key} END"


def enum_key(value: str) -> str:
    """Python twin of the `enum_key` macro: lower case, letters and digits only."""
    return "".join(ch for ch in value.lower() if ch.isalnum())


def description_row_condition(kind: Kind) -> str:
    """A first data row is a description row (field explanations) when its key ID cells read as
    prose (contain a space) and none of its typed cells holds a parseable value or known enum."""
    parts = [
        f"contains(coalesce({sql_ident(kind.by_header[h].target)}, ''), ' ')" for h in kind.description_keys
    ]
    for col in kind.columns:
        if col.type in PARSED_TYPES:
            parts.append(f"{sql_ident(col.target)} IS NULL")
        elif col.type == "enum":
            parts.append(
                f"coalesce({sql_ident(col.target)} NOT IN ({', '.join(map(sql_literal, col.values))}), TRUE)"
            )
    return " AND ".join(parts)
