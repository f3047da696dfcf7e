"""Validation of rule conditions: a rule's `when` is a SQL boolean over case-feature columns only.

Every expression is parsed with sqlglot and checked against an allow-list of node types and
functions before anything runs: one statement, no subqueries, no tables, no DDL/DML, no file
or network readers, no aggregates or windows, only columns of the feature catalogue. What runs
is the re-rendered canonical SQL of the validated tree, never the author's raw text.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from aftersales.policy.features import FEATURE_DOCS, FEATURE_TYPES
from aftersales.rulepack import RulePackError

MAX_EXPRESSION_CHARS = 4000
# Deepest nesting of brackets, CASE ... END and prefix operators a condition may have. sqlglot's
# parser and generator recurse about 25 Python frames per level, so an unbounded depth ends in
# RecursionError (about 40 levels at Python's default limit); 12 levels is far beyond any rule a
# person writes and leaves the stack headroom of a Prefect task.
MAX_NESTING = 12

_DUCKDB = sqlglot.Dialect.get_or_raise("duckdb")
_OPENS = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE, TokenType.CASE}
_CLOSES = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE, TokenType.END}
_PREFIX = {TokenType.NOT, TokenType.DASH, TokenType.PLUS, TokenType.TILDE}

# Operators and plain value nodes a condition may use.
_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Tuple,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Xor,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.DPipe,
    exp.Case,
    exp.If,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.Interval,
    exp.Array,
)

# Scalar functions a condition may call (sqlglot classes; their SQL names are listed in errors).
_ALLOWED_FUNCTIONS: tuple[type[exp.Expression], ...] = (
    exp.Lower,
    exp.Upper,
    exp.Trim,
    exp.Length,
    exp.Coalesce,
    exp.Nullif,
    exp.Abs,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.Least,
    exp.Greatest,
    exp.Sign,
    exp.RegexpLike,
    exp.RegexpFullMatch,
    exp.StartsWith,
    exp.EndsWith,
    exp.Contains,
    exp.DateDiff,
    exp.ArrayContains,
    exp.Extract,
    exp.DayOfWeekIso,
)

_ALLOWED_CASTS = {
    "INT",
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "VARCHAR",
    "TEXT",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "BOOLEAN",
}

# Units that may appear as bare words (INTERVAL 3 DAY, date_diff('day', ...), EXTRACT(hour FROM ...)).
_UNIT_WORDS = {
    "DAY",
    "DAYS",
    "HOUR",
    "HOURS",
    "MINUTE",
    "MINUTES",
    "SECOND",
    "SECONDS",
    "WEEK",
    "MONTH",
    "YEAR",
    "DOW",
    "ISODOW",
}


def sql_literal(text: str) -> str:
    """A SQL string literal of `text` (quotes doubled): how pack values enter generated SQL."""
    return "'" + text.replace("'", "''") + "'"


class PolicyPackError(RulePackError):
    """A policy rule body or condition that must not run; the message names pack and rule."""


def _node_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function {node.name}()"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()}()"
    return type(node).__name__


def nesting_depth(text: str) -> int:
    """How deeply `text` nests (brackets, CASE ... END, runs of NOT/sign operators), from tokens only.

    The tokenizer does not recurse, so this is safe on any input; string literals do not count.
    """
    depth = deepest = prefix_run = 0
    for token in _DUCKDB.tokenize(text):
        kind = token.token_type
        prefix_run = prefix_run + 1 if kind in _PREFIX else 0
        if kind in _OPENS:
            depth += 1
        elif kind in _CLOSES:
            depth -= 1
        deepest = max(deepest, depth + prefix_run)
    return deepest


def validate_condition(text: str, where: str) -> str:
    """Validate one condition and return its canonical DuckDB SQL; raise PolicyPackError naming `where`."""
    if not isinstance(text, str) or not text.strip():
        raise PolicyPackError(f"{where}: 'when' must be a non-empty SQL boolean expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise PolicyPackError(f"{where}: condition longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        depth = nesting_depth(text)
    except TokenError as exc:
        raise PolicyPackError(f"{where}: condition does not parse: {str(exc).splitlines()[0]}") from None
    if depth > MAX_NESTING:
        raise PolicyPackError(
            f"{where}: condition nests {depth} levels deep (brackets, CASE, NOT); at most {MAX_NESTING}"
        )
    try:
        return _checked_sql(text, where)
    except RecursionError:  # the bound above should make this unreachable; never let it escape
        raise PolicyPackError(f"{where}: condition nests too deeply to check") from None


def _checked_sql(text: str, where: str) -> str:
    try:
        trees = [t for t in sqlglot.parse(text, dialect="duckdb") if t is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0]
        raise PolicyPackError(f"{where}: condition does not parse: {first}") from exc
    if len(trees) != 1:
        raise PolicyPackError(
            f"{where}: condition must be exactly one expression, found {len(trees)} statements"
        )
    tree = trees[0]
    for node in tree.walk():
        if isinstance(node, exp.Column):
            if node.table or node.args.get("db") or node.args.get("catalog"):
                raise PolicyPackError(
                    f"{where}: qualified column '{node.sql()}' is not allowed (use bare feature names)"
                )
            if node.name not in FEATURE_TYPES:
                raise PolicyPackError(f"{where}: unknown column '{node.name}' (not a case feature)")
            continue
        if isinstance(node, exp.Var):
            if (
                isinstance(node.parent, (exp.Interval, exp.DateDiff, exp.Extract))
                and node.name.upper() in _UNIT_WORDS
            ):
                continue
            raise PolicyPackError(f"{where}: unknown word '{node.name}' (not a case feature)")
        if isinstance(node, exp.DataType):
            type_name = node.sql(dialect="duckdb").split("(")[0].upper()
            if type_name not in _ALLOWED_CASTS:
                raise PolicyPackError(f"{where}: cast to {type_name} is not allowed")
            continue
        if isinstance(node, _ALLOWED_NODES + _ALLOWED_FUNCTIONS):
            continue
        if isinstance(node, (exp.Query, exp.Subquery, exp.Table, exp.Star)):
            raise PolicyPackError(
                f"{where}: {type(node).__name__.lower()} is not allowed in a condition "
                "(conditions read case features only)"
            )
        if isinstance(node, exp.Func):
            raise PolicyPackError(f"{where}: {_node_name(node)} is not allowed in a condition")
        raise PolicyPackError(
            f"{where}: {type(node).__name__.lower()} statement or operator is not allowed in a condition"
        )
    if isinstance(tree, exp.Column) and FEATURE_TYPES.get(tree.name) != "BOOLEAN":
        raise PolicyPackError(f"{where}: condition '{text}' is not a boolean expression")
    return tree.sql(dialect="duckdb")


def conjuncts(sql: str) -> set[str]:
    """Canonical top-level AND terms of a condition (for shadowing checks in lint)."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    while isinstance(tree, exp.Paren):
        tree = tree.this
    terms = list(tree.flatten()) if isinstance(tree, exp.And) else [tree]
    return {t.sql(dialect="duckdb") for t in terms}


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def reason_sql(template: str, where: str) -> str:
    """Turn a reason template ('requested {days_from_delivered} days after delivery') into SQL."""
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(sql_literal(template[pos : m.start()]))
        name = m.group(1)
        kind = FEATURE_TYPES.get(name)
        if kind is None:
            raise PolicyPackError(f"{where}: reason template uses unknown column '{name}'")
        if kind == "DOUBLE":
            value = f"CAST(round({name}, 1) AS VARCHAR)"
        elif kind == "TIMESTAMPTZ":  # shop wall time, with the zone named
            value = f"strftime(timezone(shop_timezone, {name}), '%Y-%m-%d %H:%M') || ' ' || shop_timezone"
        else:
            value = f"CAST({name} AS VARCHAR)"
        missing = f"({FEATURE_DOCS.get(name, name.replace('_', ' '))} not in the exports)"
        parts.append(f"coalesce({value}, {sql_literal(missing)})")
        pos = m.end()
    if pos < len(template):
        parts.append(sql_literal(template[pos:]))
    return " || ".join(parts) if parts else "''"
