"""The per-case baseline: the same rule packs judged one case at a time in plain Python.

This is how a rules-engine-per-record design works, and what the vectorised engine
(`aftersales.policy.evaluate` + `decide`) is measured against. For every case: pick the rule
versions in force (pack, markets, programs, case kinds, effective period on the case's local
request date), evaluate each condition with a small tree-walking interpreter of its validated
sqlglot AST (only the allow-listed operators and functions of `policy.expressions`, with SQL
NULL semantics), pair the evidence requirements of fired rules with the case's evidence items,
then decide exactly as `decide.py` does (winner by priority, evidence gaps, thresholds,
liability/remedy attributes, confidence).

Conditions are parsed once per rule version; the per-case work is the interpretation. The
baseline builds no reason or explanation text, so it does less than the engine it is compared
with: the measured ratio errs in the baseline's favour.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from aftersales.policy.features import EVIDENCE_DETAIL_COLUMN, FEATURE_NAMES
from aftersales.policy.packs import PackSettings, PolicyBook, PolicyRule

MIN_PRIORITY = -(2**31)
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class UnsupportedExpression(ValueError):
    """A node the interpreter does not implement (the validator may allow more than packs use)."""


class EvaluationError(Exception):
    """A condition raised on one case (the vectorised engine's TRY(...) yields NULL: an error hit)."""


# ---------------------------------------------------------------------------------- interpreter

Row = dict[str, object]
Handler = Callable[["Interpreter", exp.Expression, Row], object]
_HANDLERS: dict[type[exp.Expression], Handler] = {}


def _handles(*types: type[exp.Expression]):
    def register(fn: Handler) -> Handler:
        for t in types:
            _HANDLERS[t] = fn
        return fn

    return register


def _numeric(a, b):
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


def _equal(a, b) -> bool:
    """SQL `=` of two non-NULL values after DuckDB's numeric promotion."""
    a, b = _numeric(a, b)
    return a == b


def _literal_value(node: exp.Literal):
    if node.is_string:
        return node.this
    text = str(node.this)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return Decimal(text) if "e" not in text.lower() else float(text)


_INTERVAL_UNITS = {
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


def _like_regex(pattern: str, flags: int) -> re.Pattern:
    body = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(body, flags | re.DOTALL)


class Interpreter:
    """Evaluates one validated condition tree against one case (a dict of feature values)."""

    def __init__(self, tree: exp.Expression) -> None:
        self.tree = tree
        self.constants: dict[int, object] = {}
        self.regexes: dict[tuple[str, int], re.Pattern] = {}
        for node in tree.walk():
            if type(node) not in _HANDLERS:
                raise UnsupportedExpression(f"{type(node).__name__} in {tree.sql(dialect='duckdb')}")
            if isinstance(node, exp.Literal):
                self.constants[id(node)] = _literal_value(node)
            elif isinstance(node, exp.Interval):
                unit = node.unit.name.upper() if node.unit else "DAY"
                if unit not in _INTERVAL_UNITS:
                    raise UnsupportedExpression(f"INTERVAL unit {unit}")
                amount = Decimal(str(node.this.this))
                self.constants[id(node)] = dt.timedelta(**{_INTERVAL_UNITS[unit]: float(amount)})

    def __call__(self, row: Row):
        return self.eval(self.tree, row)

    def eval(self, node: exp.Expression, row: Row):
        return _HANDLERS[type(node)](self, node, row)

    def regex(self, pattern: str, flags: int = 0) -> re.Pattern:
        key = (pattern, flags)
        found = self.regexes.get(key)
        if found is None:
            found = self.regexes[key] = re.compile(pattern, flags)
        return found


@_handles(exp.Column)
def _column(it, node, row):
    return row[node.name]


@_handles(exp.Literal, exp.Interval)
def _constant(it, node, row):
    return it.constants[id(node)]


@_handles(exp.Boolean)
def _boolean(it, node, row):
    return bool(node.this)


@_handles(exp.Null)
def _null(it, node, row):
    return None


@_handles(exp.Paren)
def _paren(it, node, row):
    return it.eval(node.this, row)


@_handles(exp.Array, exp.Tuple)
def _array(it, node, row):
    return [it.eval(e, row) for e in node.expressions]


@_handles(exp.And)
def _and(it, node, row):
    left = it.eval(node.this, row)
    if left is False:
        return False
    right = it.eval(node.expression, row)
    if right is False:
        return False
    return None if left is None or right is None else True


@_handles(exp.Or)
def _or(it, node, row):
    left = it.eval(node.this, row)
    if left is True:
        return True
    right = it.eval(node.expression, row)
    if right is True:
        return True
    return None if left is None or right is None else False


@_handles(exp.Not)
def _not(it, node, row):
    value = it.eval(node.this, row)
    return None if value is None else not value


@_handles(exp.Xor)
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


@_handles(*_COMPARE)
def _compare(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    if a is None or b is None:
        return None
    a, b = _nan_ordered(*_numeric(a, b))
    try:
        return _COMPARE[type(node)](a, b)
    except TypeError as exc:
        raise EvaluationError(f"cannot compare {a!r} and {b!r}") from exc


@_handles(exp.NullSafeEQ, exp.NullSafeNEQ)
def _distinct(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    same = (a is None and b is None) or (a is not None and b is not None and _equal(a, b))
    return same if isinstance(node, exp.NullSafeEQ) else not same


@_handles(exp.Is)
def _is(it, node, row):
    value = it.eval(node.this, row)
    target = node.expression
    if isinstance(target, exp.Null):
        return value is None
    return value is bool(target.this)


@_handles(exp.In)
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
        if _equal(value, candidate):
            return True
    return None if seen_null else False


@_handles(exp.Between)
def _between(it, node, row):
    value, low, high = (
        it.eval(node.this, row),
        it.eval(node.args["low"], row),
        it.eval(node.args["high"], row),
    )
    lower = None if value is None or low is None else operator.ge(*_numeric(value, low))
    upper = None if value is None or high is None else operator.le(*_numeric(value, high))
    if lower is False or upper is False:
        return False
    return None if lower is None or upper is None else True


@_handles(exp.Like, exp.ILike)
def _like(it, node, row):
    value, pattern = it.eval(node.this, row), it.eval(node.expression, row)
    if value is None or pattern is None:
        return None
    flags = re.IGNORECASE if isinstance(node, exp.ILike) else 0
    key = ("like:" + pattern, flags)
    rx = it.regexes.get(key)
    if rx is None:
        rx = it.regexes[key] = _like_regex(pattern, flags)
    return rx.fullmatch(value) is not None


def _arith(op: str, a, b):
    if a is None or b is None:
        return None
    a, b = _numeric(a, b)
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


@_handles(*_ARITH)
def _arithmetic(it, node, row):
    return _arith(_ARITH[type(node)], it.eval(node.this, row), it.eval(node.expression, row))


@_handles(exp.Neg)
def _neg(it, node, row):
    value = it.eval(node.this, row)
    return None if value is None else -value


@_handles(exp.DPipe)
def _concat(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    return None if a is None or b is None else f"{_text(a)}{_text(b)}"


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@_handles(exp.Case)
def _case(it, node, row):
    operand = it.eval(node.this, row) if node.this is not None else None
    for branch in node.args.get("ifs") or ():
        cond = it.eval(branch.this, row)
        if node.this is not None:
            cond = None if operand is None or cond is None else _equal(operand, cond)
        if cond is True:
            return it.eval(branch.args["true"], row)
    default = node.args.get("default")
    return it.eval(default, row) if default is not None else None


@_handles(exp.If)
def _if(it, node, row):
    if it.eval(node.this, row) is True:
        return it.eval(node.args["true"], row)
    other = node.args.get("false")
    return it.eval(other, row) if other is not None else None


def _cast(value, type_name: str):
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
        return _text(value)
    if type_name == "DATE":
        return value.date() if isinstance(value, dt.datetime) else dt.date.fromisoformat(str(value))
    if type_name in ("TIMESTAMP", "TIMESTAMPTZ"):
        if isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)
    raise UnsupportedExpression(f"cast to {type_name}")


@_handles(exp.Cast, exp.TryCast)
def _cast_node(it, node, row):
    value = it.eval(node.this, row)
    type_name = node.to.sql(dialect="duckdb").split("(")[0].upper()
    try:
        return _cast(value, type_name)
    except (ValueError, TypeError, InvalidOperation) as exc:
        if isinstance(node, exp.TryCast):
            return None
        raise EvaluationError(f"cannot cast {value!r} to {type_name}") from exc


def _strict(fn):
    """A scalar function that returns NULL when its first argument is NULL."""

    def handler(it, node, row):
        value = it.eval(node.this, row)
        return None if value is None else fn(it, node, row, value)

    return handler


_handles(exp.Lower)(_strict(lambda it, n, r, v: v.lower()))
_handles(exp.Upper)(_strict(lambda it, n, r, v: v.upper()))
_handles(exp.Length)(_strict(lambda it, n, r, v: len(v)))
_handles(exp.Abs)(_strict(lambda it, n, r, v: abs(v)))
_handles(exp.Floor)(_strict(lambda it, n, r, v: math.floor(v)))
_handles(exp.Ceil)(_strict(lambda it, n, r, v: math.ceil(v)))
_handles(exp.Sign)(_strict(lambda it, n, r, v: (v > 0) - (v < 0)))
_handles(exp.DayOfWeekIso)(_strict(lambda it, n, r, v: v.isoweekday()))


@_handles(exp.Trim)
def _trim(it, node, row):
    value = it.eval(node.this, row)
    chars = node.expression
    if value is None:
        return None
    return value.strip(it.eval(chars, row)) if chars is not None else value.strip(" ")


@_handles(exp.Round)
def _round(it, node, row):
    value = it.eval(node.this, row)
    digits_node = node.args.get("decimals")
    digits = it.eval(digits_node, row) if digits_node is not None else 0
    if value is None or digits is None:
        return None
    exponent = Decimal(1).scaleb(-int(digits))
    rounded = Decimal(value).quantize(exponent, ROUND_HALF_UP)  # floats: their exact binary value
    return float(rounded) if isinstance(value, float) else rounded


@_handles(exp.Coalesce)
def _coalesce(it, node, row):
    for e in (node.this, *node.expressions):
        value = it.eval(e, row)
        if value is not None:
            return value
    return None


@_handles(exp.Nullif)
def _nullif(it, node, row):
    a, b = it.eval(node.this, row), it.eval(node.expression, row)
    if a is not None and b is not None and _equal(a, b):
        return None
    return a


def _extreme(pick):
    def handler(it, node, row):
        values = [v for v in (it.eval(e, row) for e in (node.this, *node.expressions)) if v is not None]
        if not values:
            return None  # DuckDB's least/greatest skip NULL arguments
        best = values[0]
        for v in values[1:]:
            a, b = _numeric(best, v)
            best = b if pick(b, a) else best
        return best

    return handler


_handles(exp.Least)(_extreme(lambda new, old: new < old))
_handles(exp.Greatest)(_extreme(lambda new, old: new > old))


def _regex_flags(it, node, row) -> int:
    flag = node.args.get("flag")
    text = it.eval(flag, row) if flag is not None else ""
    return re.IGNORECASE if text and "i" in text else 0


@_handles(exp.RegexpLike)
def _regexp_matches(it, node, row):
    value, pattern = it.eval(node.this, row), it.eval(node.expression, row)
    if value is None or pattern is None:
        return None
    return it.regex(pattern, _regex_flags(it, node, row)).search(value) is not None


@_handles(exp.RegexpFullMatch)
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


_handles(exp.StartsWith)(_string_test(lambda a, b: a.startswith(b)))
_handles(exp.EndsWith)(_string_test(lambda a, b: a.endswith(b)))
_handles(exp.Contains)(_string_test(lambda a, b: b in a))


@_handles(exp.ArrayContains)
def _array_contains(it, node, row):
    values, target = it.eval(node.this, row), it.eval(node.expression, row)
    if values is None:
        return None
    if target is None:
        return False
    return any(v is not None and _equal(v, target) for v in values)


_PART_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600}


@_handles(exp.DateDiff)
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


@_handles(exp.Extract)
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


_handles(exp.Identifier, exp.Var, exp.DataType)(lambda it, node, row: None)  # never evaluated alone


# ---------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class CompiledRule:
    rule: PolicyRule
    condition: Interpreter
    markets: frozenset[str]
    programs: frozenset[str]
    case_kinds: frozenset[str]


@dataclass(frozen=True)
class Verdict:
    case_id: str
    fired: frozenset[int]  # rule indexes whose condition held
    errors: frozenset[int]  # rule indexes whose condition raised
    decision: str
    liable_party: str
    remedy: str
    score: float
    confidence: float
    decided_by: str


@dataclass(frozen=True)
class EvidenceItem:
    party: str | None
    evidence_type: str | None
    uploaded_time: dt.datetime | None
    file_size_bytes: int | None
    sha256: str | None
    is_valid: bool | None

    @property
    def valid(self) -> bool:
        return bool(
            self.is_valid
            and (self.file_size_bytes or 0) > 0
            and self.sha256
            and SHA256.fullmatch(self.sha256)
        )


class PerCaseEngine:
    """Judges one case at a time: rule versions in force, interpreted conditions, evidence, decision."""

    def __init__(self, policy: PolicyBook) -> None:
        self.policy = policy
        self.by_pack: dict[str, list[CompiledRule]] = {}
        for rule in policy.rules:
            tree = sqlglot.parse_one(rule.when, dialect="duckdb")
            compiled = CompiledRule(
                rule,
                Interpreter(tree),
                frozenset(rule.meta.markets),
                frozenset(rule.meta.programs),
                frozenset(rule.case_kinds),
            )
            self.by_pack.setdefault(rule.meta.pack, []).append(compiled)

    def in_force(self, case: Row) -> Iterable[CompiledRule]:
        day = case["request_local_date"]
        if day is None:
            return
        for c in self.by_pack.get(case["pack_id"], ()):
            m = c.rule.meta
            if (
                case["market"] in c.markets
                and case["program"] in c.programs
                and case["case_kind"] in c.case_kinds
                and m.effective_from <= day
                and (m.effective_to is None or day < m.effective_to)
            ):
                yield c

    def judge(self, case: Row, evidence: list[EvidenceItem]) -> Verdict:
        fired: list[PolicyRule] = []
        errors: list[PolicyRule] = []
        for c in self.in_force(case):
            try:
                value = c.condition(case)
            except (EvaluationError, ArithmeticError, ValueError, TypeError, AttributeError):
                errors.append(c.rule)
                continue
            if value is True:
                fired.append(c.rule)
        return self.decide(case, fired, errors, evidence)

    # -- evidence (evidence.py) -----------------------------------------------------------------
    def _requirements(self, case: Row, fired: list[PolicyRule], evidence: list[EvidenceItem]):
        """(rule, requirement, gap kind or None, due_at) per required item of every fired rule."""
        cutoff = case["cutoff_time"]
        out = []
        for rule in fired:
            for req in rule.evidence:
                due = cutoff
                if req.due_after and case[req.due_after] is not None:
                    due = case[req.due_after] + dt.timedelta(seconds=req.due_hours * 3600.0)
                limit = min(due, cutoff)
                best, best_key = None, None
                for item in evidence:
                    if item.party != req.party or item.evidence_type not in req.accepted:
                        continue
                    if item.uploaded_time is not None and item.uploaded_time > cutoff:
                        continue
                    hours = (
                        (limit - item.uploaded_time).total_seconds() / 3600.0
                        if item.uploaded_time is not None
                        else None
                    )
                    on_time = hours is not None and hours >= 0
                    valid = item.valid
                    key = (
                        valid and on_time,
                        valid,
                        on_time,
                        item.uploaded_time is not None,
                        item.uploaded_time.timestamp() if item.uploaded_time else 0.0,
                    )
                    if best_key is None or key > best_key:
                        best, best_key = (item, hours), key
                out.append((rule, req, _gap(best), due))
        return out

    # -- decision (decide.py) ---------------------------------------------------------------------
    def decide(self, case: Row, fired, errors, evidence) -> Verdict:
        settings: PackSettings | None = self.policy.settings.get(case["pack_id"])
        reqs = self._requirements(case, fired, evidence)
        candidates = []  # (priority, kind_rank, rule_id, decision, liable, remedy, refund_pct, firmness, via)
        for rule in fired:
            if rule.decision is not None:
                candidates.append(
                    (_prio(rule.priority), 1, rule.meta.id, rule.decision, rule.liable_party, rule.remedy,
                     rule.refund_pct, rule.meta.firmness, "rule")
                )  # fmt: skip
        for rule, req, gap, due in reqs:
            if gap is None or not req.decisive:
                continue
            od = req.overdue
            overdue = od is not None and due <= case["cutoff_time"]
            candidates.append(
                (_prio(rule.priority), 0, rule.meta.id, od.decision if overdue else "need_evidence",
                 od.liable_party if overdue else None, od.remedy if overdue else None, None,
                 rule.meta.firmness, "overdue" if overdue else "evidence")
            )  # fmt: skip
        for rule in errors:
            candidates.append(
                (MIN_PRIORITY, -1, rule.meta.id, "manual_review", "none", "none", None, rule.meta.firmness, "error")
            )  # fmt: skip
        if case["pack_id"] is None:
            candidates.append((MIN_PRIORITY, -2, "", "manual_review", "none", "none", None, None, "no_pack"))
        winner = min(candidates, key=lambda c: c[:3]) if candidates else None

        score = float(sum(r.points for r in fired))
        completeness = sum(1 for r in reqs if r[2] is None) / len(reqs) if reqs else 1.0
        if winner is not None:
            decision = winner[3]
        elif score >= settings.buyer_favour_min:
            decision = "buyer_favour"
        elif score >= settings.partial_refund_min:
            decision = "partial_refund"
        elif score <= settings.seller_favour_max:
            decision = "seller_favour"
        else:
            decision = "manual_review"

        attrs = sorted(
            (r for r in fired if r.decision is None and decision in r.for_decisions),
            key=lambda r: (_prio(r.priority), r.meta.id),
        )
        a_liable = next((r.liable_party for r in attrs if r.liable_party is not None), None)
        a_remedy = next((r.remedy for r in attrs if r.remedy is not None), None)
        win_liable, win_remedy = (winner[4], winner[5]) if winner else (None, None)
        if decision in ("need_evidence", "manual_review"):
            liable = "none"
        elif win_liable is not None:
            liable = win_liable
        elif a_liable is not None:
            liable = a_liable
        elif decision == "seller_favour":
            liable = (settings.seller_favour_liable if settings else None) or "none"
        else:
            liable = (settings.buyer_favour_liable if settings else None) or "seller"
        if decision in ("need_evidence", "manual_review", "seller_favour"):
            remedy = "none"
        elif decision == "partial_refund":
            remedy = "partial_refund"
        else:
            remedy = win_remedy or a_remedy or case["requested_remedy"] or "none"

        confidence = _confidence(decision, winner, score, completeness, settings)
        via = winner[8] if winner else None
        decided_by = "no_pack" if via == "no_pack" else (winner[2] if winner else "score")
        return Verdict(
            str(case["case_id"]),
            frozenset(r.index for r in fired),
            frozenset(r.index for r in errors),
            decision,
            liable,
            remedy,
            score,
            confidence,
            decided_by,
        )


def _prio(priority: int | None) -> float:
    return math.inf if priority is None else priority  # SQL ORDER BY priority: NULLs last


def _gap(best) -> str | None:
    """The gap the GX suite finds for a requirement's best item (missing < invalid < late)."""
    if best is None:
        return "missing"
    item, hours = best
    if item.is_valid is False:
        return "invalid"
    if item.file_size_bytes is not None and item.file_size_bytes < 1:
        return "invalid"
    if item.sha256 is not None and not re.search(r"^[0-9a-fA-F]{64}$", item.sha256):
        return "invalid"
    if (hours if hours is not None else -1.0) < 0:
        return "late"
    return None


def _half_up(value: float, digits: int) -> float:
    """DuckDB's round(DOUBLE, n): the exact binary value rounded half away from zero
    (0.6375 is stored as 0.63749999... and becomes 0.637; 0.0625 is exact and becomes 0.063)."""
    return float(Decimal(value).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))


def _confidence(decision, winner, score, completeness, s: PackSettings | None) -> float:
    via = winner[8] if winner else None
    if via in ("error", "no_pack"):
        return 0.0
    if s is None:
        return 0.0
    evidence = 0.5 + 0.5 * completeness
    if via is not None:
        firmness = winner[7]
        weight = s.firmness_weight[firmness if firmness in ("S", "3P") else "I"]  # decide.py's CASE
        return _half_up(weight * evidence, 3)
    if decision == "manual_review":
        return _half_up(s.manual_review_confidence, 3)
    if decision == "buyer_favour":
        margin = score - s.buyer_favour_min
    elif decision == "partial_refund":
        margin = min(score - s.partial_refund_min, s.buyer_favour_min - score)
    else:
        margin = s.seller_favour_max - score
    share = min(1.0, max(0.0, margin) / s.margin_scale) if s.margin_scale else 0.0
    return _half_up((0.5 + 0.5 * share) * evidence, 3)


# ---------------------------------------------------------------------------------- loading

_STORED_SELECT = ", ".join(f'"{name}"' for name in FEATURE_NAMES) + f", {EVIDENCE_DETAIL_COLUMN}"


def decode_case(record: tuple) -> tuple[Row, list[EvidenceItem]]:
    """One stored `case_features` row -> feature values by name and evidence items.

    The row holds DuckDB's Python values of the catalogue types (DECIMAL as Decimal, instants as
    aware datetimes, dates as date), features in catalogue order followed by the evidence list.
    """
    case: Row = dict(zip(FEATURE_NAMES, record[:-1], strict=True))
    items = record[-1] or ()
    return case, [
        EvidenceItem(
            i["party"],
            i["evidence_type"],
            i["uploaded_time"],
            i["file_size_bytes"],
            i["sha256"],
            i["is_valid"],
        )
        for i in items
    ]


def load_records(
    db: Path, batch_date: dt.date, sample: int | None = None, seed: int = 7
) -> tuple[list[tuple[str, tuple]], int]:
    """((case_id, stored row) of the batch's cases, total cases), from stored `case_features`.

    With `sample`, a seeded random sample of that many cases (the latest run's row per case).
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"""
            SELECT case_id, {_STORED_SELECT} FROM case_features WHERE batch_date = ?
            QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY run_id DESC) = 1
            ORDER BY case_id
            """,
            [batch_date],
        ).fetchall()
    finally:
        con.close()
    records = [(row[0], row[1:]) for row in rows]
    total = len(records)
    if sample is not None and sample < total:
        picked = sorted(random.Random(seed).sample(range(total), sample))
        records = [records[i] for i in picked]
    return records, total


def judge_records(engine: PerCaseEngine, records: Iterable[tuple[str, tuple]]) -> list[Verdict]:
    """Decode and judge stored records one by one (what the faithfulness test compares)."""
    return [engine.judge(*decode_case(record)) for _, record in records]


@dataclass(frozen=True)
class BaselineTiming:
    cases_timed: int
    cases_total: int
    seconds_timed: float  # decode + evaluate + decide of the timed cases
    decode_seconds: float  # of which: turning each stored row into a feature dict and evidence items
    judge_seconds: float  # of which: rule versions in force, conditions, evidence, decision
    per_case_ms: float  # (decode + judge) per case
    judge_per_case_ms: float  # judge only, per case
    extrapolated_seconds: float  # per_case x cases_total
    extrapolated_judge_seconds: float  # judge_per_case x cases_total
    sampled: bool
    rules_evaluated: int  # rule versions in force, summed over the timed cases
    decisions: dict[str, int]


def time_baseline(
    db: Path, batch_date: dt.date, policy: PolicyBook, sample: int | None = 20_000, seed: int = 7
) -> BaselineTiming:
    """Judge (a seeded sample of) the batch's stored cases one record at a time, and time it."""
    records, total = load_records(db, batch_date, sample, seed)
    engine = PerCaseEngine(policy)
    decisions: dict[str, int] = {}
    decode_s = judge_s = 0.0
    evaluated = 0
    clock = time.perf_counter
    for _, record in records:
        t0 = clock()
        case, evidence = decode_case(record)
        t1 = clock()
        verdict = engine.judge(case, evidence)
        t2 = clock()
        decode_s += t1 - t0
        judge_s += t2 - t1
        decisions[verdict.decision] = decisions.get(verdict.decision, 0) + 1
        evaluated += sum(1 for _ in engine.in_force(case))  # untimed: a count for the report
    n = len(records) or 1
    return BaselineTiming(
        cases_timed=len(records),
        cases_total=total,
        seconds_timed=round(decode_s + judge_s, 3),
        decode_seconds=round(decode_s, 3),
        judge_seconds=round(judge_s, 3),
        per_case_ms=round((decode_s + judge_s) / n * 1000, 4),
        judge_per_case_ms=round(judge_s / n * 1000, 4),
        extrapolated_seconds=round((decode_s + judge_s) / n * total, 3),
        extrapolated_judge_seconds=round(judge_s / n * total, 3),
        sampled=len(records) < total,
        rules_evaluated=evaluated,
        decisions=dict(sorted(decisions.items())),
    )
