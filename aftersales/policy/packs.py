"""Policy-rule bodies (rules/<pack>/policy.yaml) on top of the common metadata of `rulepack`.

A policy rule, besides the common metadata, has:

    case_kinds: [return_refund, replacement]   # optional, default all four
    when: "days_from_delivered > 30"            # SQL boolean over case features (expressions.py)
    priority: 20                                # lower decides first; required with a decision
    effect:                                     # at least one of these (or an evidence list)
      decision: seller_favour                   # hard decision (contract vocabulary)
      liable_party: buyer                       # required with seller_favour
      remedy: none
      points: -30                               # score contribution (+ buyer, - seller)
      refund_pct: 0.5                           # share of the item price for a partial refund
      for_decisions: [buyer_favour]             # liability/remedy attributes apply to these outcomes
    evidence:                                   # required items; a gap can decide the case
      - party: seller
        type: proof_of_delivery
        accepted: [proof_of_delivery, tracking] # any of these satisfies (default: [type])
        due: {after: seller_response_time, hours: 24}   # default: the batch cutoff
        decisive: true                          # an unmet item makes the case need_evidence
        overdue: {decision: buyer_favour, liable_party: seller}  # once `due` has passed
    reason: "requested {days_from_delivered} days after delivery"   # rule_hits.reason template
    note: "alternative values, conflicts (free text)"

Everything is validated, and every condition is parsed (sqlglot) and type-checked on an empty
feature table, when the book is loaded: before any case is scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from aftersales.policy.expressions import PolicyPackError, reason_sql, validate_condition
from aftersales.policy.features import (
    CASE_KINDS,
    DECISIONS,
    EVIDENCE_TYPES,
    FEATURE_TYPES,
    LIABLE_PARTIES,
    PARTIES,
    REMEDIES,
    empty_case_table_sql,
)
from aftersales.rulepack import Rule, RuleBook, RulePack

POLICY_FILE = "policy.yaml"
BODY_KEYS = {"case_kinds", "when", "priority", "effect", "evidence", "reason", "note"}
EFFECT_KEYS = {"decision", "liable_party", "remedy", "points", "refund_pct", "for_decisions"}
EVIDENCE_KEYS = {"party", "type", "accepted", "due", "decisive", "overdue"}
DUE_KEYS = {"after", "hours", "days"}
OVERDUE_KEYS = {"decision", "liable_party", "remedy"}
DEFAULT_FOR_DECISIONS = ("buyer_favour", "partial_refund")
# Confidence weight of a deciding rule by firmness when pack.yaml `confidence.firmness` omits one
# (every shipped pack sets all three).
DEFAULT_FIRMNESS_WEIGHT = {"S": 0.95, "3P": 0.85, "I": 0.75}


@dataclass(frozen=True)
class Outcome:
    decision: str | None = None
    liable_party: str | None = None
    remedy: str | None = None


@dataclass(frozen=True)
class EvidenceRequirement:
    party: str
    evidence_type: str
    accepted: tuple[str, ...]
    due_after: str | None
    due_hours: float | None
    decisive: bool
    overdue: Outcome | None


@dataclass(frozen=True)
class PolicyRule:
    """One version of one policy rule, validated and ready to evaluate."""

    meta: Rule
    index: int
    case_kinds: tuple[str, ...]
    when: str  # canonical DuckDB SQL of the validated condition
    priority: int | None
    decision: str | None
    liable_party: str | None
    remedy: str | None
    points: float
    refund_pct: float | None
    for_decisions: tuple[str, ...]
    evidence: tuple[EvidenceRequirement, ...]
    reason_sql: str | None
    note: str | None = None

    @property
    def key(self) -> str:
        return f"{self.meta.pack}:{self.meta.id}@{self.meta.version}"

    @property
    def label(self) -> str:
        return f"pack {self.meta.pack}, rule {self.meta.id} v{self.meta.version}"

    @property
    def effect_label(self) -> str:
        parts = []
        if self.decision:
            parts.append(f"decision={self.decision}")
        if self.liable_party:
            parts.append(f"liable_party={self.liable_party}")
        if self.remedy:
            parts.append(f"remedy={self.remedy}")
        if self.refund_pct is not None:
            parts.append(f"refund_pct={self.refund_pct:g}")
        for req in self.evidence:
            parts.append(f"require={req.party}:{req.evidence_type}")
        if self.points:
            parts.append(f"points={self.points:+g}")
        return "; ".join(parts) or "info"


@dataclass(frozen=True)
class PackSettings:
    """Per-pack decision thresholds and confidence weights (pack.yaml)."""

    buyer_favour_min: float
    partial_refund_min: float
    seller_favour_max: float
    partial_refund_pct: float
    firmness_weight: dict[str, float]  # one weight per firmness (S, 3P, I), defaults filled in
    margin_scale: float
    manual_review_confidence: float
    seller_favour_liable: str
    buyer_favour_liable: str


@dataclass(frozen=True)
class PolicyBook:
    book: RuleBook
    rules: tuple[PolicyRule, ...]
    settings: dict[str, PackSettings] = field(default_factory=dict)

    @property
    def policy_version(self) -> str:
        return self.book.policy_version


def _where(rule: Rule) -> str:
    return f"pack {rule.pack}, {rule.file}, rule {rule.id} v{rule.version}"


def _choice(value: Any, allowed: tuple[str, ...], what: str, where: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise PolicyPackError(f"{where}: {what} '{value}' is not one of {', '.join(allowed)}")
    return value


def _number(value: Any, what: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyPackError(f"{where}: {what} must be a number, got {value!r}")
    return float(value)


def _outcome(raw: Any, where: str) -> Outcome:
    if not isinstance(raw, dict) or set(raw) - OVERDUE_KEYS:
        raise PolicyPackError(f"{where}: overdue must be a mapping of {sorted(OVERDUE_KEYS)}")
    out = Outcome(
        decision=_choice(raw.get("decision"), DECISIONS, "decision", where),
        liable_party=_choice(raw.get("liable_party"), LIABLE_PARTIES, "liable_party", where),
        remedy=_choice(raw.get("remedy"), REMEDIES, "remedy", where),
    )
    if out.decision is None:
        raise PolicyPackError(f"{where}: overdue needs a decision")
    return out


def _evidence(raw: Any, where: str) -> tuple[EvidenceRequirement, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise PolicyPackError(f"{where}: evidence must be a non-empty list of requirements")
    reqs = []
    for i, item in enumerate(raw, 1):
        at = f"{where}, evidence #{i}"
        if not isinstance(item, dict):
            raise PolicyPackError(f"{at}: must be a mapping")
        unknown = set(item) - EVIDENCE_KEYS
        if unknown:
            raise PolicyPackError(f"{at}: unknown keys {sorted(unknown)}")
        party = _choice(item.get("party"), PARTIES, "party", at)
        etype = _choice(item.get("type"), EVIDENCE_TYPES, "evidence type", at)
        if party is None or etype is None:
            raise PolicyPackError(f"{at}: needs party and type")
        accepted = tuple(item.get("accepted") or (etype,))
        for t in accepted:
            _choice(t, EVIDENCE_TYPES, "accepted evidence type", at)
        if etype not in accepted:
            accepted = (etype, *accepted)
        due = item.get("due")
        due_after = due_hours = None
        if due is not None:
            if not isinstance(due, dict) or set(due) - DUE_KEYS or "after" not in due:
                raise PolicyPackError(f"{at}: due must be {{after: <timestamp feature>, hours|days: N}}")
            due_after = due["after"]
            if FEATURE_TYPES.get(due_after) != "TIMESTAMPTZ":
                raise PolicyPackError(f"{at}: due.after '{due_after}' is not a timestamp case feature")
            hours = _number(due.get("hours"), "due.hours", at) or 0.0
            days = _number(due.get("days"), "due.days", at) or 0.0
            due_hours = hours + 24.0 * days
        decisive = item.get("decisive", True)
        if not isinstance(decisive, bool):
            raise PolicyPackError(f"{at}: decisive must be true or false")
        overdue = _outcome(item["overdue"], at) if item.get("overdue") is not None else None
        reqs.append(EvidenceRequirement(party, etype, accepted, due_after, due_hours, decisive, overdue))
    return tuple(reqs)


def parse_policy_rule(rule: Rule, index: int) -> PolicyRule:
    """Validate one policy rule's body (and its condition) and return it ready to evaluate."""
    where = _where(rule)
    body = rule.body
    unknown = set(body) - BODY_KEYS
    if unknown:
        raise PolicyPackError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(BODY_KEYS)})")
    kinds = tuple(body.get("case_kinds") or CASE_KINDS)
    for k in kinds:
        _choice(k, CASE_KINDS, "case kind", where)
    when = validate_condition(body.get("when"), where)
    effect = body.get("effect") or {}
    if not isinstance(effect, dict):
        raise PolicyPackError(f"{where}: effect must be a mapping")
    unknown = set(effect) - EFFECT_KEYS
    if unknown:
        raise PolicyPackError(
            f"{where}: unknown effect keys {sorted(unknown)} (allowed: {sorted(EFFECT_KEYS)})"
        )
    decision = _choice(effect.get("decision"), DECISIONS, "decision", where)
    liable = _choice(effect.get("liable_party"), LIABLE_PARTIES, "liable_party", where)
    remedy = _choice(effect.get("remedy"), REMEDIES, "remedy", where)
    points = _number(effect.get("points"), "points", where) or 0.0
    refund_pct = _number(effect.get("refund_pct"), "refund_pct", where)
    if refund_pct is not None and not 0 < refund_pct <= 1:
        raise PolicyPackError(f"{where}: refund_pct must be in (0, 1], got {refund_pct}")
    for_decisions = tuple(effect.get("for_decisions") or DEFAULT_FOR_DECISIONS)
    for d in for_decisions:
        _choice(d, DECISIONS, "for_decisions entry", where)
    evidence = _evidence(body.get("evidence"), where)
    if not (decision or liable or remedy or points or refund_pct or evidence):
        raise PolicyPackError(
            f"{where}: rule has no effect (decision, liable_party, remedy, points, refund_pct or evidence)"
        )
    priority = body.get("priority")
    needs_priority = decision or liable or remedy or refund_pct or any(r.decisive for r in evidence)
    if needs_priority and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise PolicyPackError(f"{where}: an integer priority is required (lower decides first)")
    if decision == "seller_favour" and liable is None:
        raise PolicyPackError(f"{where}: a seller_favour decision must name liable_party")
    reason = body.get("reason")
    return PolicyRule(
        meta=rule,
        index=index,
        case_kinds=kinds,
        when=when,
        priority=priority if isinstance(priority, int) else None,
        decision=decision,
        liable_party=liable,
        remedy=remedy,
        points=points,
        refund_pct=refund_pct,
        for_decisions=for_decisions,
        evidence=evidence,
        reason_sql=reason_sql(str(reason), where) if reason else None,
        note=str(body["note"]) if body.get("note") else None,
    )


def _pack_settings(pack: RulePack) -> PackSettings:
    where = f"pack {pack.id}, pack.yaml"
    s = pack.settings
    thresholds = s.get("decision_thresholds")
    if not isinstance(thresholds, dict):
        raise PolicyPackError(
            f"{where}: decision_thresholds (buyer_favour, partial_refund, seller_favour) missing"
        )
    try:
        buyer = float(thresholds["buyer_favour"])
        partial = float(thresholds["partial_refund"])
        seller = float(thresholds["seller_favour"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyPackError(
            f"{where}: decision_thresholds need numeric buyer_favour, partial_refund, seller_favour"
        ) from exc
    if not seller < partial <= buyer:
        raise PolicyPackError(
            f"{where}: thresholds must satisfy seller_favour < partial_refund <= buyer_favour"
        )
    conf = s.get("confidence") or {}
    given = conf.get("firmness") or {}
    weights = {k: float(given.get(k, default)) for k, default in DEFAULT_FIRMNESS_WEIGHT.items()}
    liable = s.get("default_liable") or {}
    return PackSettings(
        buyer_favour_min=buyer,
        partial_refund_min=partial,
        seller_favour_max=seller,
        partial_refund_pct=float(s.get("partial_refund_default_pct", 0.5)),
        firmness_weight=weights,
        margin_scale=float(conf.get("margin_scale", 40)),
        manual_review_confidence=float(conf.get("manual_review", 0.2)),
        seller_favour_liable=_choice(
            liable.get("seller_favour", "none"), LIABLE_PARTIES, "default_liable", where
        ),
        buyer_favour_liable=_choice(
            liable.get("buyer_favour", "seller"), LIABLE_PARTIES, "default_liable", where
        ),
    )


def bind_problems(rules: list[PolicyRule]) -> list[str]:
    """Type-check every condition and reason on an empty feature table: each must bind, conditions BOOLEAN.

    All rules are bound in one statement; only when that fails are they bound one by one, so each
    problem names its rule.
    """
    if not rules:
        return []
    problems: list[str] = []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(empty_case_table_sql("policy_case"))
        columns = [f"({r.when}) AS c{i}" for i, r in enumerate(rules)]
        columns += [f"({r.reason_sql}) AS r{i}" for i, r in enumerate(rules) if r.reason_sql]
        try:
            kinds = dict(
                (row[0], row[1])
                for row in con.execute(f"DESCRIBE SELECT {', '.join(columns)} FROM policy_case").fetchall()
            )
        except duckdb.Error:
            kinds = None
        for i, r in enumerate(rules):
            if kinds is not None:
                kind = kinds[f"c{i}"]
            else:
                try:
                    kind = con.execute(f"DESCRIBE SELECT ({r.when}) AS c FROM policy_case").fetchall()[0][1]
                except duckdb.Error as exc:
                    problems.append(f"{r.label}: condition does not type-check: {str(exc).splitlines()[0]}")
                    continue
                if r.reason_sql:
                    try:
                        con.execute(f"DESCRIBE SELECT {r.reason_sql} FROM policy_case")
                    except duckdb.Error as exc:
                        problems.append(
                            f"{r.label}: reason template does not type-check: {str(exc).splitlines()[0]}"
                        )
            if kind != "BOOLEAN":
                problems.append(f"{r.label}: condition is {kind}, not BOOLEAN")
    finally:
        con.close()
    return problems


def bind_check(rules: list[PolicyRule]) -> None:
    """Raise PolicyPackError on the first condition or reason that does not type-check."""
    problems = bind_problems(rules)
    if problems:
        raise PolicyPackError(problems[0])


def load_policy(book: RuleBook) -> PolicyBook:
    """Parse and validate every policy.yaml rule of every pack; raise PolicyPackError on the first problem."""
    rules: list[PolicyRule] = []
    for r in book.all_rules(POLICY_FILE):
        rules.append(parse_policy_rule(r, len(rules)))
    bind_check(rules)
    settings = {p.id: _pack_settings(p) for p in book.packs}
    return PolicyBook(book=book, rules=tuple(rules), settings=settings)
