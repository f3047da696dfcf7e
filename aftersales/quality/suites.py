"""The data-quality suite of each export kind, derived from the kind's declaration.

Each kind's expectations are registered with Great Expectations (validate.py) as
"<kind>.header" (required columns, judged on each file's header before it is read) and the row
suites (everything else, judged once per run on all records of the kind).

Each expectation is wrapped in a `Gate` that also knows which frame columns it reads, how to
compute those columns from the run's typed table (DuckDB SQL), and how to phrase the per-row
quarantine reason (DuckDB SQL over the typed table, alias `t`). Suites validate a pandas frame
with one row per data record and only the columns the gates need; its index is the record id.

Gates per kind:
- required columns exist (`expect_column_to_exist`), checked on the header before reading;
- keys and other mandatory values are present (`expect_column_values_to_not_be_null`);
- raw text that does not parse (time, amount, number, flag) is flagged: the frame carries a
  column "<header> (unparsed)" holding the raw text only where parsing failed, and the suite
  expects it to be null (`expect_column_values_to_be_null`);
- amounts and counts are not negative (`expect_column_values_to_be_between`, min 0);
- an amount does not exceed its cap (refund <= order amount, returned <= bought quantity)
  and events are in order (shipped not before paid, response not before request, ...)
  (`expect_column_pair_values_a_to_be_greater_than_b`, or_equal, missing values ignored);
- vocabulary columns hold known values (`expect_column_values_to_be_in_set`);
- formatted codes match their pattern (`expect_column_values_to_match_regex`), and key IDs are
  not in scientific notation (`expect_column_values_to_not_match_regex`: "5.77E+17" is an
  18-digit ID a spreadsheet rounded);
- a record key appears once per shop (`expect_compound_columns_to_be_unique`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import great_expectations.expectations as gxe

from aftersales.export_kinds import PARSED_TYPES, PERSONAL_TYPES, TYPE_NOUNS, Column, Kind, unparsed_name
from aftersales.sql_quoting import sql_ident, sql_literal

SHOP_COLUMN = "Shop"
UNPARSED = " (unparsed)"
ORDERS_CAP_SUFFIX = " (orders export)"
_REASON_VALUE_CHARS = 80
# "5.77E+17": what a spreadsheet makes of an 18-digit ID stored as a number (digits lost).
SCIENTIFIC_NOTATION = r"^[0-9]+(?:\.[0-9]+)?[eE]\+?[0-9]+$"


@dataclass(frozen=True)
class Gate:
    expectation: gxe.Expectation
    columns: tuple[str, ...]  # frame columns the expectation reads
    reason_sql: str  # DuckDB text expression over typed table `t`: why a row fails
    label: str  # column(s) for validation_results.column_name
    file_level: bool = False  # judged on the header (column existence), not on rows
    unique_key: tuple[str, ...] = ()  # frame columns of a uniqueness key

    @property
    def type(self) -> str:
        return self.expectation.expectation_type

    @functools.cached_property
    def kwargs(self) -> dict:
        """The expectation's arguments for validation_results.details (long vocabularies counted)."""
        out = {k: v for k, v in dict(self.expectation.configuration.kwargs).items() if k != "batch_id"}
        if isinstance(out.get("value_set"), list) and len(out["value_set"]) > 20:
            out["value_set"] = f"{len(out['value_set'])} values"
        return out


@dataclass
class KindSuite:
    kind: Kind
    gates: list[Gate]
    frame_sql: dict[str, str] = field(default_factory=dict)  # frame column -> SQL over typed table `t`

    @property
    def row_gates(self) -> list[Gate]:
        return [g for g in self.gates if not g.file_level]

    @property
    def column_gates(self) -> list[Gate]:
        return [g for g in self.gates if g.file_level]


# A reason quotes a failing value only when its characters cannot carry personal data: a row that
# fails may be shifted (a phone number under "Weight(kg)", a username under "Sender Role"), so the
# column it sits in proves nothing. Text that failed to parse or is outside its vocabulary is shown
# as its shape only (digits -> 9, letters -> A/a, other characters -> ?), which still tells ops "a
# date in another format" or "words, not a number". Typed values (amounts, times that parsed) are
# quoted when number-like: digits and the punctuation of times and amounts, AM/PM and exponent
# letters, and no phone-like digit runs (5+ digits, or 3 digits, a separator and 3+ digits).
# A kind without personal-data columns (shops.csv) has nothing to shift in: its values are quoted.
_NUMBER_LIKE = r"(?:[0-9 .,:/+$%()'-]|AM|PM|am|pm|[eE]|€|£|¥|₫|฿)*"
_PHONE_LIKE = r"[0-9]{5,}|[0-9]{3}[ .-][0-9]{3,}"
_WITHHELD = " (value withheld: it may be personal data)"


def _quoted(text: str) -> str:
    quote = sql_literal("'")
    return f"{quote} || {text} || {quote}"


def _shape(text: str) -> str:
    shape = f"regexp_replace({text}, '[0-9]', '9', 'g')"
    shape = f"regexp_replace(regexp_replace({shape}, '[A-Z]', 'A', 'g'), '[a-z]', 'a', 'g')"
    shape = f"regexp_replace({shape}, '[^9Aa .,:/-]', '?', 'g')"
    return f"{sql_literal('shaped ' + chr(39))} || {shape} || {sql_literal(chr(39) + _WITHHELD)}"


def _val(sql: str, like: str = "number") -> str:
    """A failing value for a reason: `number` quoted when number-like, `text` as its shape, `plain` quoted."""
    text = f"left(CAST({sql} AS VARCHAR), {_REASON_VALUE_CHARS})"
    if like == "plain":
        return _quoted(text)
    if like == "text":
        return _shape(text)
    harmless = (
        f"regexp_full_match({text}, {sql_literal(_NUMBER_LIKE)}) "
        f"AND NOT regexp_matches({text}, {sql_literal(_PHONE_LIKE)})"
    )
    return f"CASE WHEN {harmless} THEN {_quoted(text)} ELSE {_shape(text)} END"


def _local(sql: str) -> str:
    """An instant rendered as the shop's local wall time, for reasons."""
    return f"'''' || strftime(timezone(t.__timezone, {sql}), '%Y-%m-%d %H:%M:%S') || ''''"


def build_suite(kind: Kind, timezone_names: list[str] | tuple[str, ...] = ()) -> KindSuite:
    """The kind's expectation suite and gates (not yet registered with a context).

    `timezone_names` is the vocabulary of time-zone columns: DuckDB's own zone list, so every
    accepted zone also converts times.
    """
    gates: list[Gate] = []
    frame: dict[str, str] = {}
    # where a shifted row could put personal data under a checked column, failing text shows its shape
    text_like = "text" if any(c.type in PERSONAL_TYPES for c in kind.columns) else "plain"

    def t(col: Column) -> str:
        return f"t.{sql_ident(col.target)}"

    def frame_value(col: Column) -> str:
        # Numbers reach pandas as float64 or int64, the dtypes GX compares vectorised (an int32
        # column is compared one Python call per value).
        match col.type:
            case "money":
                frame[col.header] = f"CAST({t(col)} AS DOUBLE)"
            case "int":
                frame[col.header] = f"CAST({t(col)} AS BIGINT)"
            case _:
                frame[col.header] = t(col)
        return col.header

    for col in kind.columns:
        if col.required:
            gates.append(
                Gate(
                    gxe.ExpectColumnToExist(column=col.header),
                    (col.header,),
                    sql_literal(f"required column '{col.header}' is missing"),
                    col.header,
                    file_level=True,
                )
            )
    for col in kind.columns:
        if col.not_null:
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToNotBeNull(column=frame_value(col)),
                    (col.header,),
                    sql_literal(f"{col.header} is empty"),
                    col.header,
                )
            )
    for col in kind.columns:
        if col.type in PARSED_TYPES and col.checked:
            name = col.header + UNPARSED
            raw = f"t.{sql_ident(unparsed_name(col))}"
            frame[name] = raw
            hint = ""
            if col.type == "time":
                hint = (
                    " || ' (expected ' || CASE WHEN t.__market = 'US' THEN 'MM/DD/YYYY h:mm:ss AM/PM'"
                    " ELSE 'DD/MM/YYYY HH:MM:SS' END || ' shop time, or ISO 8601)'"
                )
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToBeNull(column=name),
                    (name,),
                    f"{sql_literal(col.header + ' ')} || {_val(raw, text_like)} || {sql_literal(' is not ' + TYPE_NOUNS[col.type])}{hint}",
                    col.header,
                )
            )
    for col in kind.columns:
        if col.type == "id" and col.required:
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToNotMatchRegex(column=frame_value(col), regex=SCIENTIFIC_NOTATION),
                    (col.header,),
                    f"{sql_literal(col.header + ' ')} || {_val(t(col))} || "
                    "' is in scientific notation (a long ID rounded by a spreadsheet)'",
                    col.header,
                )
            )
    for col in kind.columns:
        if col.non_negative:
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToBeBetween(column=frame_value(col), min_value=0),
                    (col.header,),
                    f"{sql_literal(col.header + ' ')} || {_val(t(col))} || ' is negative'",
                    col.header,
                )
            )
    for cap in kind.caps:
        amount = kind.by_header[cap.amount]
        frame_value(amount)
        if cap.cap_from_orders:
            cap_name = cap.cap + ORDERS_CAP_SUFFIX
            frame[cap_name] = "CAST(t.__order_amount AS DOUBLE)"
            cap_sql, cap_label = "t.__order_amount", f"the order's {cap.cap} in the orders export"
        else:
            cap_col = kind.by_header[cap.cap]
            cap_name, cap_sql, cap_label = frame_value(cap_col), t(cap_col), cap.cap
        gates.append(
            Gate(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=cap_name,
                    column_B=cap.amount,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                (cap_name, cap.amount),
                f"{sql_literal(cap.amount + ' ')} || {_val(t(amount))} || {sql_literal(' is above ' + cap_label + ' ')}"
                f" || {_val(cap_sql)}",
                f"{cap.amount},{cap_name}",
            )
        )
    for earlier_h, later_h in kind.event_order:
        earlier, later = kind.by_header[earlier_h], kind.by_header[later_h]
        frame_value(earlier)
        frame_value(later)
        gates.append(
            Gate(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=later_h,
                    column_B=earlier_h,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                (later_h, earlier_h),
                f"{sql_literal(later_h + ' ')} || {_local(t(later))} || "
                f"{sql_literal(' is before ' + earlier_h + ' ')} || {_local(t(earlier))}",
                f"{later_h},{earlier_h}",
            )
        )
    for col in kind.columns:
        if col.type == "enum" and col.values:
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToBeInSet(column=frame_value(col), value_set=list(col.values)),
                    (col.header,),
                    f"{sql_literal(col.header + ' ')} || {_val(t(col), text_like)} || {sql_literal(' is not one of ' + ', '.join(col.values))}",
                    col.header,
                )
            )
        elif col.type == "text" and col.pattern:
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToMatchRegex(column=frame_value(col), regex=f"^(?:{col.pattern})$"),
                    (col.header,),
                    f"{sql_literal(col.header + ' ')} || {_val(t(col), text_like)} || {sql_literal(' does not match ' + col.pattern)}",
                    col.header,
                )
            )
    for col in kind.columns:
        if col.type == "tz":
            gates.append(
                Gate(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=frame_value(col), value_set=sorted(timezone_names)
                    ),
                    (col.header,),
                    f"{sql_literal(col.header + ' ')} || {_val(t(col), text_like)} || ' is not an IANA time zone name'",
                    col.header,
                )
            )
    if kind.key:
        key_cols = [kind.by_header[h] for h in kind.key]
        for col in key_cols:
            frame_value(col)
        columns = ((SHOP_COLUMN,) if kind.name != "shops" else ()) + tuple(kind.key)
        if kind.name != "shops":
            frame[SHOP_COLUMN] = "t.shop_id"
        gates.append(
            Gate(
                gxe.ExpectCompoundColumnsToBeUnique(
                    # an optional key part may be empty: empty equals empty
                    column_list=list(columns),
                    ignore_row_if="all_values_are_missing",
                )
                if len(columns) > 1
                else gxe.ExpectColumnValuesToBeUnique(column=columns[0]),
                columns,
                f"{sql_literal('duplicate ' + ', '.join(kind.key) + ' (')} || "
                f"concat_ws(', ', {', '.join(t(c) for c in key_cols)}) || ')'",
                ",".join(kind.key),
                unique_key=tuple(kind.key),
            )
        )
    return KindSuite(kind, gates, frame)
