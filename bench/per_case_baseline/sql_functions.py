"""The allow-listed SQL functions of `policy.expressions`, as per-case interpreter handlers."""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal

from sqlglot import exp

from .sql_values import UnsupportedExpression, handles, numeric_operands, sql_equal


def _strict(fn):
    """A scalar function that returns NULL when its first argument is NULL."""

    def handler(it, node, row):
        value = it.eval(node.this, row)
        return None if value is None else fn(it, node, row, value)

    return handler


handles(exp.Lower)(_strict(lambda it, n, r, v: v.lower()))
handles(exp.Upper)(_strict(lambda it, n, r, v: v.upper()))
handles(exp.Length)(_strict(lambda it, n, r, v: len(v)))
handles(exp.Abs)(_strict(lambda it, n, r, v: abs(v)))
handles(exp.Floor)(_strict(lambda it, n, r, v: math.floor(v)))
handles(exp.Ceil)(_strict(lambda it, n, r, v: math.ceil(v)))
handles(exp.Sign)(_strict(lambda it, n, r, v: (v > 0) - (v < 0)))
handles(exp.DayOfWeekIso)(_strict(lambda it, n, r, v: v.isoweekday()))


@handles(exp.Trim)
def _trim(it, node, row):
    value = it.eval(node.this, row)
    chars = node.expression
    if value is None:
        return None
    return value.strip(it.eval(chars, row)) if chars is not None else value.strip(" ")


@handles(exp.Round)
def _round(it, node, row):
    value = it.eval(node.this, row)
    digits_node = node.args.get("decimals")
    digits = it.eval(digits_node, row) if digits_node is not None else 0
    if value is None or digits is None:
        return None
    exponent = Decimal(1).scaleb(-int(digits))
    rounded = Decimal(value).quantize(exponent, ROUND_HALF_UP)  # floats: their exact binary value
    return float(rounded) if isinstance(value, float) else rounded


@handles(exp.Coalesce)
def _coalesce(it, node, row):
    for e in (node.this, *node.expressions):
        value = it.eval(e, row)
        if value is not None:
            return value
    return None


@handles(exp.Nullif)
def _nullif(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    if a is not None and b is not None and sql_equal(a, b):
        return None
    return a


def _extreme(pick):
    def handler(it, node, row):
        values = [v for v in (it.eval(e, row) for e in (node.this, *node.expressions)) if v is not None]
        if not values:
            return None  # DuckDB's least/greatest skip NULL arguments
        best = values[0]
        for v in values[1:]:
            a, b = numeric_operands(best, v)
            best = b if pick(b, a) else best
        return best

    return handler


handles(exp.Least)(_extreme(lambda new, old: new < old))
handles(exp.Greatest)(_extreme(lambda new, old: new > old))


def _regex_flags(it, node, row) -> int:
    flag = node.args.get("flag")
    text = it.eval(flag, row) if flag is not None else ""
    return re.IGNORECASE if text and "i" in text else 0


@handles(exp.RegexpLike)
def _regexp_matches(it, node, row):
    value, pattern = it.eval(node.this, row), it.eval(node.expression, row)
    if value is None or pattern is None:
        return None
    return it.regex(pattern, _regex_flags(it, node, row)).search(value) is not None


@handles(exp.RegexpFullMatch)
def _regexp_full_match(it, node, row):
    value, pattern = it.eval(node.this, row), it.eval(node.expression, row)
    if value is None or pattern is None:
        return None
    return it.regex(pattern, _regex_flags(it, node, row)).fullmatch(value) is not None


def _string_test(test):
    def handler(it, node, row):
        a, b = it.eval(node.this, row), it.eval(node.expression, row)
        return None if a is None or b is None else test(a, b)

    return handler


handles(exp.StartsWith)(_string_test(lambda a, b: a.startswith(b)))
handles(exp.EndsWith)(_string_test(lambda a, b: a.endswith(b)))
handles(exp.Contains)(_string_test(lambda a, b: b in a))


@handles(exp.ArrayContains)
def _array_contains(it, node, row):
    values, target = it.eval(node.this, row), it.eval(node.expression, row)
    if values is None:
        return None
    if target is None:
        return False
    return any(v is not None and sql_equal(v, target) for v in values)


_PART_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600}


@handles(exp.DateDiff)
def _date_diff(it, node, row):
    end, start = it.eval(node.this, row), it.eval(node.expression, row)
    if end is None or start is None:
        return None
    unit = (node.unit.name if node.unit is not None else "DAY").upper().rstrip("S")
    if unit == "DAY":
        return (_as_date(end) - _as_date(start)).days
    if unit == "WEEK":
        return (_as_date(end) - _as_date(start)).days // 7
    if unit in _PART_SECONDS:  # boundaries crossed: difference of the truncated epochs
        step = _PART_SECONDS[unit]
        return int(end.timestamp() // step - start.timestamp() // step)
    raise UnsupportedExpression(f"date_diff unit {unit}")


def _as_date(value) -> dt.date:
    return value.astimezone(dt.UTC).date() if isinstance(value, dt.datetime) else value


@handles(exp.Extract)
def _extract(it, node, row):
    value = it.eval(node.expression, row)
    if value is None:
        return None
    part = node.this.name.upper()
    if part in ("DOW", "ISODOW"):
        iso = value.isoweekday()
        return iso % 7 if part == "DOW" else iso
    if part in ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"):
        return getattr(value, part.lower())
    if part == "WEEK":
        return value.isocalendar()[1]
    raise UnsupportedExpression(f"EXTRACT({part})")


handles(exp.Identifier, exp.Var, exp.DataType)(lambda it, node, row: None)  # never evaluated alone
