"""SQL values for the per-case interpreter: NULL-aware equality, DuckDB's numeric promotion,
literals, casts, and the registry of node handlers the other modules fill."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlglot import exp

if TYPE_CHECKING:
    from .sql_operators import Interpreter


class UnsupportedExpression(ValueError):
    """A node the interpreter does not implement (the validator may allow more than packs use)."""


class EvaluationError(Exception):
    """A condition raised on one case (the vectorised engine's TRY(...) yields NULL: an error hit)."""


Row = dict[str, object]
Handler = Callable[["Interpreter", exp.Expression, Row], object]
HANDLERS: dict[type[exp.Expression], Handler] = {}


def handles(*types: type[exp.Expression]):
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn

    return register


def numeric_operands(a, b):
    """Operands for arithmetic/comparison: DOUBLE wins over DECIMAL/INTEGER, as in DuckDB."""
    if isinstance(a, float) and isinstance(b, Decimal | int) and not isinstance(b, bool):
        return a, float(b)
    if isinstance(b, float) and isinstance(a, Decimal | int) and not isinstance(a, bool):
        return float(a), b
    if isinstance(a, dt.datetime) and type(b) is dt.date:
        return a, dt.datetime.combine(b, dt.time(), a.tzinfo)
    if isinstance(b, dt.datetime) and type(a) is dt.date:
        return dt.datetime.combine(a, dt.time(), b.tzinfo), b
    return a, b


def sql_equal(a, b) -> bool:
    """SQL `=` of two non-NULL values after DuckDB's numeric promotion."""
    a, b = numeric_operands(a, b)
    return a == b


def literal_value(node: exp.Literal):
    if node.is_string:
        return node.this
    text = str(node.this)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return Decimal(text) if "e" not in text.lower() else float(text)


INTERVAL_UNITS = {
    "DAY": "days",
    "DAYS": "days",
    "HOUR": "hours",
    "HOURS": "hours",
    "MINUTE": "minutes",
    "MINUTES": "minutes",
    "SECOND": "seconds",
    "SECONDS": "seconds",
    "WEEK": "weeks",
}


def like_regex(pattern: str, flags: int) -> re.Pattern:
    body = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(body, flags | re.DOTALL)


def sql_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sql_cast(value, type_name: str):
    if value is None:
        return None
    if type_name == "BOOLEAN":
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "t", "1", "yes", "y"):
                return True
            if low in ("false", "f", "0", "no", "n"):
                return False
            raise ValueError(value)
        return bool(value)
    if type_name in ("INT", "INTEGER", "BIGINT", "SMALLINT"):
        return int(Decimal(str(value)).to_integral_value(ROUND_HALF_UP))
    if type_name in ("DOUBLE", "FLOAT"):
        return float(value)
    if type_name == "DECIMAL":
        return Decimal(str(value))
    if type_name in ("VARCHAR", "TEXT"):
        return sql_text(value)
    if type_name == "DATE":
        return value.date() if isinstance(value, dt.datetime) else dt.date.fromisoformat(str(value))
    if type_name in ("TIMESTAMP", "TIMESTAMPTZ"):
        if isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)
    raise UnsupportedExpression(f"cast to {type_name}")
