"""Seller-health rules: the body of every rule in `rules/<pack>/health.yaml`, validated and loaded.

One rule per (pack, metric, market, program) may be in force on a day; it sets the metric's
trailing window (`window_days`), its `target` and optional `breach` band (fractions, compared as
written: "<= 0.025" vs "< 0.025"), and for sfcr / sfrr the labels that make a cancellation or a
request the seller's fault. The metrics themselves are SQL models (`models/int_health_*.sql`,
`models/seller_health.sql`); `install_health_rules` gives them the rules in force on the batch
date as the table `health_rules`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aftersales.rulepack import Rule, RuleBook, RulePackError, load_rulebook
from aftersales.sla.clocks import first_competing_pair
from aftersales.vocabulary import HEALTH_METRICS

HEALTH_FILE = "health.yaml"
METRICS = HEALTH_METRICS
OPS = ("<", "<=", ">", ">=")
LOWER_IS_BETTER = {"<", "<="}
NO_DATA = "no_data"  # status of a metric with no denominator in its window (value NULL)


@dataclass(frozen=True)
class Comparison:
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return {"<": x < self.value, "<=": x <= self.value, ">": x > self.value, ">=": x >= self.value}[
            self.op
        ]


@dataclass(frozen=True)
class HealthRule:
    rule: Rule
    metric: str
    window_days: int
    target: Comparison
    breach: Comparison | None
    cancel_by: tuple[str, ...] = ()
    buyer_reasons: tuple[str, ...] = ()
    system_after_missed: tuple[str, ...] = ()
    system_reasons: tuple[str, ...] = ()
    fault_reasons: tuple[str, ...] = ()
    liability_reasons: tuple[str, ...] = ()

    def status(self, value: float | None) -> str:
        """Python mirror of the SQL status, for documentation and rule tests."""
        if value is None:
            return NO_DATA
        if self.target.holds(value):
            return "ok"
        return "breach" if self.breach is None or self.breach.holds(value) else "warning"


def _comparison(raw: Any, where: str, name: str) -> Comparison:
    if not isinstance(raw, dict) or raw.get("op") not in OPS:
        raise RulePackError(f"{where}: {name} must be {{op: one of {OPS}, value: number}}")
    value = raw.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise RulePackError(f"{where}: {name} value must be a fraction between 0 and 1, got {value!r}")
    return Comparison(raw["op"], float(value))


def _labels(raw: Any, where: str, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
        raise RulePackError(f"{where}: {name} must be a list of labels")
    return tuple(_normalise_label(x) for x in raw)


def _normalise_label(label: str) -> str:
    """Labels compare case-insensitively, typographic apostrophes folded (as the int_health_* models do)."""
    return label.strip().lower().replace("\u2019", "'")


def parse_health_rule(rule: Rule) -> HealthRule:
    """Validate the body of one health.yaml rule; raises RulePackError naming pack and rule."""
    where = f"pack {rule.pack}, {rule.file}, rule {rule.id} v{rule.version}"
    body = rule.body
    known = {
        "metric",
        "window_days",
        "target",
        "breach",
        "seller_fault",
        "seller_fault_reasons",
        "liability_reasons",
    }
    unknown = set(body) - known
    if unknown:
        raise RulePackError(f"{where}: unknown key(s) {sorted(unknown)}")
    metric = body.get("metric")
    if metric not in METRICS:
        raise RulePackError(f"{where}: metric must be one of {METRICS}, got {metric!r}")
    window = body.get("window_days")
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise RulePackError(f"{where}: window_days must be a positive integer, got {window!r}")
    target = _comparison(body.get("target"), where, "target")
    breach = _comparison(body["breach"], where, "breach") if body.get("breach") is not None else None
    if breach is not None:
        lower = target.op in LOWER_IS_BETTER
        if (breach.op in LOWER_IS_BETTER) == lower:
            raise RulePackError(f"{where}: breach band must lie on the failing side of the target")
        probe = [target.value, breach.value, (target.value + breach.value) / 2]
        if (
            any(target.holds(x) and breach.holds(x) for x in probe)
            or (lower and breach.value < target.value)
            or (not lower and breach.value > target.value)
        ):
            raise RulePackError(f"{where}: breach band overlaps the target")
    extra: dict[str, tuple[str, ...]] = {}
    if metric == "sfcr":
        fault = body.get("seller_fault")
        if not isinstance(fault, dict) or set(fault) - {
            "cancel_by",
            "buyer_reasons",
            "system_reasons",
            "system_after_missed",
        }:
            raise RulePackError(
                f"{where}: sfcr needs seller_fault {{cancel_by, buyer_reasons?, system_reasons?, system_after_missed?}}"
            )
        extra["cancel_by"] = _labels(fault.get("cancel_by"), where, "seller_fault.cancel_by")
        extra["buyer_reasons"] = _labels(fault.get("buyer_reasons"), where, "seller_fault.buyer_reasons")
        extra["system_reasons"] = _labels(fault.get("system_reasons"), where, "seller_fault.system_reasons")
        missed = tuple(fault.get("system_after_missed") or ())
        if any(m not in ("dispatch", "auto_cancel") for m in missed):
            raise RulePackError(f"{where}: system_after_missed takes dispatch, auto_cancel")
        extra["system_after_missed"] = missed
        if not extra["cancel_by"]:
            raise RulePackError(f"{where}: seller_fault.cancel_by must name at least one party")
    elif "seller_fault" in body:
        raise RulePackError(f"{where}: seller_fault applies to sfcr only")
    if metric == "sfrr":
        extra["fault_reasons"] = _labels(body.get("seller_fault_reasons"), where, "seller_fault_reasons")
        extra["liability_reasons"] = _labels(body.get("liability_reasons"), where, "liability_reasons")
        if not extra["fault_reasons"]:
            raise RulePackError(f"{where}: sfrr needs seller_fault_reasons")
    elif "seller_fault_reasons" in body or "liability_reasons" in body:
        raise RulePackError(f"{where}: reason lists apply to sfrr only")
    return HealthRule(rule=rule, metric=metric, window_days=window, target=target, breach=breach, **extra)


def load_health_rules(rules: Path | str | RuleBook | None = None) -> list[HealthRule]:
    """Every health rule of every pack, validated; one per (pack, metric, market, program) per day."""
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    parsed = [parse_health_rule(r) for r in book.all_rules(HEALTH_FILE)]
    clash = first_competing_pair(parsed, lambda h: (h.rule.pack, h.metric))
    if clash:
        (pack, metric, market, program), a, b = clash
        raise RulePackError(
            f"pack {pack}: health rules {a.rule.id} v{a.rule.version} and {b.rule.id} "
            f"v{b.rule.version} both set {metric} for {market}/{program} from {b.rule.effective_from}"
        )
    return parsed


HEALTH_RULES_DDL = """
CREATE OR REPLACE TEMP TABLE health_rules (
    rule_id VARCHAR, rule_version INTEGER, market VARCHAR, program VARCHAR, metric VARCHAR,
    window_days INTEGER, target_op VARCHAR, target_value DOUBLE, breach_op VARCHAR, breach_value DOUBLE,
    cancel_by VARCHAR[], buyer_reasons VARCHAR[], system_reasons VARCHAR[], system_after_missed VARCHAR[],
    fault_reasons VARCHAR[], liability_reasons VARCHAR[]
)"""


def install_health_rules(con, rules: list[HealthRule], day: dt.date) -> int:
    """TEMP table `health_rules`: the versions in force on `day`, one row per market/program."""
    con.execute(HEALTH_RULES_DDL)
    rows = [
        (
            h.rule.id,
            h.rule.version,
            m,
            p,
            h.metric,
            h.window_days,
            h.target.op,
            h.target.value,
            h.breach.op if h.breach else None,
            h.breach.value if h.breach else None,
            list(h.cancel_by),
            list(h.buyer_reasons),
            list(h.system_reasons),
            list(h.system_after_missed),
            list(h.fault_reasons),
            list(h.liability_reasons),
        )
        for h in rules
        if h.rule.in_force(day)
        for m in h.rule.markets
        for p in h.rule.programs
    ]
    if rows:
        values = ", ".join(f"({', '.join('?' * 16)})" for _ in rows)
        con.execute(f"INSERT INTO health_rules VALUES {values}", [v for row in rows for v in row])
    return len(rows)
