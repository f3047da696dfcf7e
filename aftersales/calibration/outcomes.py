"""What the platform decided, in the decision vocabulary, and the columns that carry it.

Outcome mapping (documented in docs/ANALYST_GUIDE.md, "Calibration"):

| case kind | export column | platform outcome -> decision |
|---|---|---|
| return_refund, replacement | "Arbitration Status" | names the buyer ("Decided for buyer", "Buyer won") -> buyer_favour; names the seller -> seller_favour; anything else (e.g. "Under review") is not decided |
| appeal | "Appeal Status" | Approved (upheld, successful) -> seller_favour (appeal upheld); Rejected (denied, failed) -> buyer_favour; Available, Expired, Under review -> not decided |
| cancellation | "Cancel Status" | Cancelled (approved) -> buyer_favour (the cancellation went through); Rejected (declined) -> seller_favour; Pending -> not decided |

The platform never answers need_evidence, manual_review or partial_refund: a recommendation of
those is an abstention (need_evidence, manual_review) or a different ruling (partial_refund) and
counts as a disagreement; coverage says how often the engine abstained.

Outcome columns must never reach a rule: `refuse_outcome_rules` rejects a pack whose condition
names one, before any case is judged for calibration.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from aftersales.rulepack import RulePackError

# The platform's verdict on the case itself, per case kind (the columns calibration measures against).
OUTCOME_COLUMNS_BY_KIND: dict[str, tuple[str, ...]] = {
    "return_refund": ("arbitration_status", "platform_decision_time"),
    "replacement": ("arbitration_status", "platform_decision_time"),
    "appeal": ("appeal_status",),
    "cancellation": ("cancel_status",),
}
OUTCOME_COLUMNS: tuple[str, ...] = tuple(
    sorted({c for cols in OUTCOME_COLUMNS_BY_KIND.values() for c in cols})
)
# Decisions the platform can hand down; the rest of the vocabulary are abstentions.
PLATFORM_DECISIONS = ("buyer_favour", "seller_favour")
ABSTENTIONS = ("need_evidence", "manual_review")


# Status wording -> verdict, first match wins (refusals before grants: "unsuccessful" holds "success",
# "cancellation rejected" holds "cancel"); anything unmatched is not (yet) a decision.
REFUSED = r"reject|denied|declin|unsuccess|fail|not approved|lost"
GRANTED_APPEAL = r"approv|upheld|success|accepted|won"
GRANTED_CANCEL = r"cancell?ed|approv|accepted"


def platform_decision_sql(alias: str = "o") -> str:
    """SQL CASE: the platform's decision (buyer_favour / seller_favour) or NULL while undecided."""
    a = alias

    def has(column: str, pattern: str) -> str:
        return f"regexp_matches(lower(coalesce({a}.{column}, '')), '{pattern}')"

    return f"""CASE
        WHEN {a}.case_kind IN ('return_refund', 'replacement') THEN
            CASE WHEN {has("arbitration_status", "buyer")} THEN 'buyer_favour'
                 WHEN {has("arbitration_status", "seller")} THEN 'seller_favour' END
        WHEN {a}.case_kind = 'appeal' THEN
            CASE WHEN {has("appeal_status", REFUSED)} THEN 'buyer_favour'
                 WHEN {has("appeal_status", GRANTED_APPEAL)} THEN 'seller_favour' END
        WHEN {a}.case_kind = 'cancellation' THEN
            CASE WHEN {has("cancel_status", REFUSED)} THEN 'seller_favour'
                 WHEN {has("cancel_status", GRANTED_CANCEL)} THEN 'buyer_favour' END
    END"""


def platform_outcome_label_sql(alias: str = "o") -> str:
    """SQL: the export's own status text of the case's outcome column (kept as evidence of the mapping)."""
    a = alias
    return (
        f"CASE WHEN {a}.case_kind = 'appeal' THEN {a}.appeal_status "
        f"WHEN {a}.case_kind = 'cancellation' THEN {a}.cancel_status ELSE {a}.arbitration_status END"
    )


def columns_named(condition: str) -> set[str]:
    """Column names a rule condition reads (lower case)."""
    try:
        tree = sqlglot.parse_one(condition, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise RulePackError(f"condition does not parse: {exc}") from None
    return {c.name.lower() for c in tree.find_all(exp.Column)}


def outcome_reads(rule) -> set[str]:
    """Outcome columns one validated rule reads: in its condition, reason template or evidence deadlines."""
    named = columns_named(rule.when)
    if rule.reason_sql:
        named |= columns_named(rule.reason_sql)
    named |= {req.due_after for req in rule.evidence if req.due_after}
    return named & set(OUTCOME_COLUMNS)


def refuse_outcome_rules(policy) -> None:
    """Raise RulePackError when any validated policy rule reads a platform outcome column.

    A rule that reads the platform's verdict would agree with it by construction: calibration
    would measure nothing. `policy` is the validated PolicyBook (`validate_policy_packs`).
    """
    found = [
        f"{rule.label} reads {column}" for rule in policy.rules for column in sorted(outcome_reads(rule))
    ]
    if found:
        raise RulePackError(
            "calibration refused: rules read platform outcome columns "
            f"({', '.join(OUTCOME_COLUMNS)}): " + "; ".join(found)
        )
