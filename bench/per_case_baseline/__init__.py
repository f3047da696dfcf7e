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

The reference lives in the checkout's `bench/` folder, outside the `aftersales` package: it is a
yardstick of the benchmark and of the engine's parity test, not part of the product. The
benchmark loads it by path (`aftersales.bench.reference.per_case_baseline()`).
"""

from . import sql_functions, sql_operators  # noqa: F401  (importing registers every node handler)
from .per_case_engine import EvidenceItem, PerCaseEngine, Verdict
from .sql_operators import Interpreter
from .sql_values import EvaluationError, UnsupportedExpression
from .stored_cases import BaselineTiming, decode_case, judge_records, load_records, time_baseline

__all__ = [
    "BaselineTiming",
    "EvaluationError",
    "EvidenceItem",
    "Interpreter",
    "PerCaseEngine",
    "UnsupportedExpression",
    "Verdict",
    "decode_case",
    "judge_records",
    "load_records",
    "time_baseline",
]
