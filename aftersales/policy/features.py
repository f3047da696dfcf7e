"""The policy engine's view of the case-feature catalogue: names, types and meanings, vocabularies.

The catalogue itself is `models/int_case_facts.sql` (each feature's SQL beside its type and
meaning), read by `aftersales.case_columns`, which the warehouse schema reads too. The
expression validator only admits these names and `rules lint` type-checks conditions against an
empty table built from them. Vocabularies below are the contract's (§2, §3), not policy values:
windows, deadlines, bands and thresholds live in `rules/`.
"""

from __future__ import annotations

from aftersales.case_columns import (  # noqa: F401 - re-exported for the policy modules
    EVIDENCE_DETAIL_COLUMN,
    EVIDENCE_ITEM_FIELDS,
    FEATURE_DOCS,
    FEATURE_NAMES,
    FEATURE_TYPES,
    FEATURES,
    Feature,
)
from aftersales.vocabulary import (  # noqa: F401 - re-exported for the policy modules
    APPEAL_TYPES,
    CASE_KINDS,
    DECISIONS,
    EVIDENCE_TYPES,
    LIABLE_PARTIES,
    REMEDIES,
    RETURN_TYPES,
)

PARTIES = ("buyer", "seller", "carrier", "platform")


def evidence_column(party: str, evidence_type: str) -> str:
    """Feature counting a party's valid on-time items of one evidence type (int_case_evidence_counts)."""
    return f"ev_{party}_{evidence_type}"


def empty_case_table_sql(table: str = "policy_case") -> str:
    """DDL of an empty table with every feature column (lint type-checks conditions on it)."""
    cols = ",\n  ".join(f'"{f.name}" {f.sql_type}' for f in FEATURES)
    return f"CREATE OR REPLACE TEMP TABLE {table} (\n  {cols}\n)"
