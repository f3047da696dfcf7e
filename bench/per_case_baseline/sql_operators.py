"""The tree-walking interpreter of one validated condition, and its operators (SQL NULL semantics)."""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from decimal import Decimal, InvalidOperation

from sqlglot import exp

from .sql_values import (
    HANDLERS,
    INTERVAL_UNITS,
    EvaluationError,
    Row,
    UnsupportedExpression,
    handles,
    like_regex,
    literal_value,
    numeric_operands,
    sql_cast,
    sql_equal,
    sql_text,
)


class Interpreter:
    """Evaluates one validated condition tree against one case (a dict of feature values)."""

    def __init__(self, tree: exp.Expression) -> None:
        self.tree = tree
        self.constants: dict[int, object] = {}
        self.regexes: dict[tuple[str, int], re.Pattern] = {}
        for node in tree.walk():
            if type(node) not in HANDLERS:
                raise UnsupportedExpression(f"{type(node).__name__} in {tree.sql(dialect='duckdb')}")
            if isinstance(node, exp.Literal):
                self.constants[id(node)] = literal_value(node)
            elif isinstance(node, exp.Interval):
                unit = node.unit.name.upper() if node.unit else "DAY"
                if unit not in INTERVAL_UNITS:
                    raise UnsupportedExpression(f"INTERVAL unit {unit}")
                amount = Decimal(str(node.this.this))
                self.constants[id(node)] = dt.timedelta(**{INTERVAL_UNITS[unit]: float(amount)})

    def __call__(self, row: Row):
        return self.eval(self.tree, row)

    def eval(self, node: exp.Expression, row: Row):
        return HANDLERS[type(node)](self, node, row)

    def regex(self, pattern: str, flags: int = 0) -> re.Pattern:
        key = (pattern, flags)
        found = self.regexes.get(key)
        if found is None:
            found = self.regexes[key] = re.compile(pattern, flags)
        return found


@handles(exp.Column)
def _column(it, node, row):
    return row[node.name]


@handles(exp.Literal, exp.Interval)
def _constant(it, node, row):
    return it.constants[id(node)]


@handles(exp.Boolean)
def _boolean(it, node, row):
    return bool(node.this)


@handles(exp.Null)
def _null(it, node, row):
    return None


@handles(exp.Paren)
def _paren(it, node, row):
    return it.eval(node.this, row)


@handles(exp.Array, exp.Tuple)
def _array(it, node, row):
    return [it.eval(e, row) for e in node.expressions]


@handles(exp.And)
def _and(it, node, row):
    left = it.eval(node.this, row)
    if left is False:
        return False
    right = it.eval(node.expression, row)
    if right is False:
        return False
    return None if left is None or right is None else True


@handles(exp.Or)
def _or(it, node, row):
    left = it.eval(node.this, row)
    if left is True:
        return True
    right = it.eval(node.expression, row)
    if right is True:
        return True
    return None if left is None or right is None else False


@handles(exp.Not)
def _not(it, node, row):
    value = it.eval(node.this, row)
    return None if value is None else not value


@handles(exp.Xor)
def _xor(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    return None if a is None or b is None else bool(a) != bool(b)


_COMPARE = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}


def _nan_ordered(a, b):
    """DuckDB orders NaN above every number and equal to itself; Python's NaN compares false."""
    a_nan = isinstance(a, float) and math.isnan(a)
    b_nan = isinstance(b, float) and math.isnan(b)
    if not (a_nan or b_nan):
        return a, b
    return (1, 0.0) if a_nan else (0, a), (1, 0.0) if b_nan else (0, b)


@handles(*_COMPARE)
def _compare(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    if a is None or b is None:
        return None
    a, b = _nan_ordered(*numeric_operands(a, b))
    try:
        return _COMPARE[type(node)](a, b)
    except TypeError as exc:
        raise EvaluationError(f"cannot compare {a!r} and {b!r}") from exc


@handles(exp.NullSafeEQ, exp.NullSafeNEQ)
def _distinct(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    same = (a is None and b is None) or (a is not None and b is not None and sql_equal(a, b))
    return same if isinstance(node, exp.NullSafeEQ) else not same


@handles(exp.Is)
def _is(it, node, row):
    value = it.eval(node.this, row)
    target = node.expression
    if isinstance(target, exp.Null):
        return value is None
    return value is bool(target.this)


@handles(exp.In)
def _in(it, node, row):
    value = it.eval(node.this, row)
    if value is None:
        return None
    seen_null = False
    for e in node.expressions:
        candidate = it.eval(e, row)
        if candidate is None:
            seen_null = True
            continue
        if sql_equal(value, candidate):
            return True
    return None if seen_null else False


@handles(exp.Between)
def _between(it, node, row):
    value, low, high = (
        it.eval(node.this, row),
        it.eval(node.args["low"], row),
        it.eval(node.args["high"], row),
    )
    lower = None if value is None or low is None else operator.ge(*numeric_operands(value, low))
    upper = None if value is None or high is None else operator.le(*numeric_operands(value, high))
    if lower is False or upper is False:
        return False
    return None if lower is None or upper is None else True


@handles(exp.Like, exp.ILike)
def _like(it, node, row):
    value, pattern = it.eval(node.this, row), it.eval(node.expression, row)
    if value is None or pattern is None:
        return None
    flags = re.IGNORECASE if isinstance(node, exp.ILike) else 0
    key = ("like:" + pattern, flags)
    rx = it.regexes.get(key)
    if rx is None:
        rx = it.regexes[key] = like_regex(pattern, flags)
    return rx.fullmatch(value) is not None


def _arith(op: str, a, b):
    if a is None or b is None:
        return None
    a, b = numeric_operands(a, b)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":  # DuckDB: `/` is floating-point division (x/0 is +-inf)
            x, y = float(a), float(b)
            if y == 0:
                return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x)
            return x / y
        if b == 0:
            raise EvaluationError("division by zero in modulo")
        return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else a - b * int(a / b)
    except (TypeError, InvalidOperation) as exc:
        raise EvaluationError(f"cannot compute {a!r} {op} {b!r}") from exc


_ARITH = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}


@handles(*_ARITH)
def _arithmetic(it, node, row):
    return _arith(_ARITH[type(node)], it.eval(node.this, row), it.eval(node.expression, row))


@handles(exp.Neg)
def _neg(it, node, row):
    value = it.eval(node.this, row)
    return None if value is None else -value


@handles(exp.DPipe)
def _concat(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    return None if a is None or b is None else f"{sql_text(a)}{sql_text(b)}"


@handles(exp.Case)
def _case(it, node, row):
    operand = it.eval(node.this, row) if node.this is not None else None
    for branch in node.args.get("ifs") or ():
        cond = it.eval(branch.this, row)
        if node.this is not None:
            cond = None if operand is None or cond is None else sql_equal(operand, cond)
        if cond is True:
            return it.eval(branch.args["true"], row)
    default = node.args.get("default")
    return it.eval(default, row) if default is not None else None


@handles(exp.If)
def _if(it, node, row):
    if it.eval(node.this, row) is True:
        return it.eval(node.args["true"], row)
    other = node.args.get("false")
    return it.eval(other, row) if other is not None else None


@handles(exp.Cast, exp.TryCast)
def _cast_node(it, node, row):
    value = it.eval(node.this, row)
    type_name = node.to.sql(dialect="duckdb").split("(")[0].upper()
    try:
        return sql_cast(value, type_name)
    except (ValueError, TypeError, InvalidOperation) as exc:
        if isinstance(node, exp.TryCast):
            return None
        raise EvaluationError(f"cannot cast {value!r} to {type_name}") from exc
