"""Judging one case: rule versions in force, interpreted conditions, evidence, decision (as decide.py)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlglot

from aftersales.policy.packs import PackSettings, PolicyBook, PolicyRule

from .sql_operators import Interpreter
from .sql_values import EvaluationError, Row

MIN_PRIORITY = -(2**31)
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


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
