"""The `raw` of a quarantined row: the record as JSON, personal data masked by content.

Keys are the contract headers of the columns the file has (in file order); values are the text
as written, or "***" where a value is not proven safe to show. Columns the contract does not know
are left out: they could hold personal data nobody has classified.

Column names prove nothing once a row is malformed: an unquoted comma, a dropped field or a stray
quote moves a zipcode under "Country" or a phone number under "Payment Method". So a value is
shown only when its content proves it safe for its column:
- personal-data columns (contract §2.2, message "Content", "Seller Note") are always masked;
- typed columns (IDs, times, money, numbers, flags, vocabularies, time zones, coded text such
  as a currency) show a value only when it has the column's shape (`_SAFE`). The shapes are
  deliberately narrower than what typing accepts: an ID needs a digit and no lower-case letter
  (usernames are lower case) and all-digit IDs need 16+ digits (phone numbers have at most 15);
  bare whole numbers stay short (a zipcode is no quantity);
- free text (and a value outside an enum's vocabulary) is shown only for a record DuckDB split
  into the header's fields AND whose typed columns all have their shape (the row is aligned),
  and even then not when it looks like a phone number, an e-mail, a street address or holds a
  run of 4+ digits (`LOOKS_PERSONAL_PATTERN`). A structurally broken record (a DuckDB reject, a line
  swallowed by a stray quote) never shows free text.

The same patterns serve the SQL (rows DuckDB parsed, `masked_raw_sql`) and Python (broken lines,
`masked_raw_from_line`) paths; they are written in the common subset of RE2 and Python `re`.
"""

from __future__ import annotations

import json
import re

from aftersales.export_kinds import PERSONAL_TYPES, Column, Kind
from aftersales.ingest.csv_grammar import split_fields
from aftersales.ingest.typing_sql import enum_key, source_column
from aftersales.sql_quoting import sql_literal

MASK = "***"
MAX_RAW_VALUE_CHARS = 500

_GUARDS = "[\t'` ]*"  # spreadsheet guards before an ID (and stray spaces)
_ID = rf"{_GUARDS}[0-9A-Z][0-9A-Z./-]{{0,63}} *"
_SHORT_DIGITS = rf"{_GUARDS}[0-9]{{1,15}} *"  # could be a phone number or a zipcode
_TIME = (
    r" *[0-9]{1,4}[/.-][0-9]{1,2}[/.-][0-9]{1,4}"
    r"([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?( ?[AaPp][Mm])?( ?(Z|[+-][0-9]{2}(:?[0-9]{2})?))?)? *"
)
_AMOUNT = r"([0-9]{1,3}([,.][0-9]{3})+|[0-9]{1,4})([.,][0-9]{1,2})?|[0-9]+[.,][0-9]{1,2}"
_MONEY = rf" *[(]?[-−]?([A-Z]{{1,3}}|Rp|[$£€¥₫฿₱₩₹]|[A-Z]{{1,2}}[$])? ?[-−]?({_AMOUNT})( ?[A-Z]{{3}})?[)]? *"
_SAFE: dict[str, str] = {
    "time": _TIME,
    "money": _MONEY,
    "int": r" *-?[0-9]{1,4} *",
    "bigint": r" *[0-9]{1,15} *",
    "float": r" *-?[0-9]{1,4}([.,][0-9]{1,6})? *",
    "tz": r" *(UTC|GMT|[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2}) *",
}
_BOOLS = ("true", "false", "yes", "no", "y", "n", "1", "0", "on", "off", "enabled", "disabled")
_STREET_WORDS = (
    "st|street|rd|road|ave|avenue|blvd|boulevard|ln|lane|dr|drive|way|ct|court|pl|place|hwy|highway"
    "|sq|square|close|crescent|terrace|soi|jalan|jln|jl|duong|apt|suite|unit|floor|flat|moo|tambon"
)
LOOKS_PERSONAL_PATTERN = (
    r"(?i)[^\s@]+@[^\s@]+[.][a-z]{2,}"  # e-mail
    r"|[0-9]{4,}"  # zipcode, house number, phone or card digits
    r"|([0-9][\s().+-]*){7,}"  # phone number written with separators
    rf"|(^|[^a-z0-9])[0-9]+[a-z]?[ ,]+([a-z.'-]+ +){{0,3}}({_STREET_WORDS})([^a-z]|$)"  # street address
    r"|(^|[^a-z])(po box|p[.]o[.])"
    r"|(^|[^a-z])(apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|bldg|building|no)[.]? *#? *[0-9]"
)
_LOOKS_PERSONAL_RE = re.compile(LOOKS_PERSONAL_PATTERN)


def _typed(col: Column) -> bool:
    """Columns whose values have a shape of their own (checked for alignment and shown if so)."""
    return col.type in ("id", "bool", "tz", *_SAFE) or (col.type == "text" and col.pattern is not None)


def _vocabulary_keys(col: Column) -> list[str]:
    return sorted({enum_key(v) for v in col.values} | {enum_key(a) for a, _ in col.value_aliases})


def _safe_py(col: Column, value: str) -> bool:
    """Python twin of `safe_value_sql`: the value has its column's shape (so it is no personal data)."""
    if col.type == "id":
        return (
            re.fullmatch(_ID, value) is not None
            and re.search("[0-9]", value) is not None
            and re.fullmatch(_SHORT_DIGITS, value) is None
        )
    if col.type == "bool":
        return value.strip().lower() in _BOOLS
    if col.type == "enum":
        return enum_key(value) in _vocabulary_keys(col)
    if col.type == "text" and col.pattern:
        return re.fullmatch(col.pattern, value.strip().upper()) is not None
    if col.type in _SAFE:
        return re.fullmatch(_SAFE[col.type], value) is not None
    return False


def safe_value_sql(col: Column, v: str) -> str:
    """SQL condition: the (non-NULL) text `v` has its column's shape."""
    if col.type == "id":
        return (
            f"(regexp_full_match({v}, {sql_literal(_ID)}) AND regexp_matches({v}, '[0-9]')"
            f" AND NOT regexp_full_match({v}, {sql_literal(_SHORT_DIGITS)}))"
        )
    if col.type == "bool":
        return f"lower(trim({v})) IN ({', '.join(map(sql_literal, _BOOLS))})"
    if col.type == "enum":
        key = rf"lower(regexp_replace({v}, '[^\p{{L}}\p{{N}}]', '', 'g'))"
        return f"{key} IN ({', '.join(map(sql_literal, _vocabulary_keys(col))) or 'NULL'})"
    if col.type == "text" and col.pattern:
        return f"regexp_full_match(upper(trim({v})), {sql_literal(col.pattern)})"
    if col.type in _SAFE:
        return f"regexp_full_match({v}, {sql_literal(_SAFE[col.type])})"
    return "FALSE"


def looks_personal(value: str) -> bool:
    """Free text that reads like a phone number, an e-mail, a street address or a zipcode."""
    return _LOOKS_PERSONAL_RE.search(value) is not None


def _ordered(positions: dict[str, tuple[int, ...]]) -> list[tuple[str, int]]:
    return [(h, p[0]) for h, p in sorted(positions.items(), key=lambda item: item[1][0])]


def masked_raw_sql(kind: Kind, positions: dict[str, tuple[int, ...]]) -> str:
    """DuckDB expression over `src` (a numbered file) producing the masked JSON of a record that
    DuckDB split into the header's fields (quarantined by a quality gate)."""
    columns = _ordered(positions)
    if not columns:
        return "'{}'"

    def text(pos: int) -> str:
        return f"src.{source_column(pos)}"

    def blank(pos: int) -> str:
        return f"NULLIF(trim({text(pos)}, ' \t\r\n'), '') IS NULL"

    aligned = " AND ".join(
        f"({blank(pos)} OR {safe_value_sql(kind.by_header[h], text(pos))})"
        for h, pos in columns
        if _typed(kind.by_header[h])
    )
    items = []
    for header, pos in columns:
        col, v = kind.by_header[header], text(pos)
        shown = f"left({v}, {MAX_RAW_VALUE_CHARS})"
        if col.type in PERSONAL_TYPES:
            value = f"CASE WHEN {blank(pos)} THEN NULL ELSE '{MASK}' END"
        elif _typed(col):
            value = f"CASE WHEN {blank(pos)} THEN NULL WHEN {safe_value_sql(col, v)} THEN {shown} ELSE '{MASK}' END"
        else:  # free text, or an enum (a value outside its vocabulary reads as free text)
            known = f"({safe_value_sql(col, v)}) OR " if col.type == "enum" else ""
            free = (
                f"(({aligned or 'TRUE'}) AND NOT regexp_matches({v}, {sql_literal(LOOKS_PERSONAL_PATTERN)}))"
            )
            value = f"CASE WHEN {blank(pos)} THEN NULL WHEN {known}{free} THEN {shown} ELSE '{MASK}' END"
        items.append(f"{sql_literal(header)}: {value}")
    return "to_json({" + ", ".join(items) + "})"


def masked_raw_from_line(
    kind: Kind, positions: dict[str, tuple[int, ...]], header_width: int, csv_line: str
) -> str:
    """Masked JSON of a structurally broken record given as text (its `__line` prefix removed):
    fields mapped by position, each shown only when its content has its column's typed shape;
    free text never. `__fields` gives the field count found (the header has `header_width`)."""
    fields = split_fields(csv_line.rstrip("\r\n"))
    out: dict[str, str | None] = {}
    for header, i in _ordered(positions):
        if i >= len(fields):
            continue
        col, value = kind.by_header[header], fields[i]
        if not value.strip(" \t\r\n"):
            out[header] = None
        elif _typed(col) or col.type == "enum":
            out[header] = value[:MAX_RAW_VALUE_CHARS] if _safe_py(col, value) else MASK
        else:
            out[header] = MASK
    out["__fields"] = str(len(fields))
    return json.dumps(out, ensure_ascii=False)
