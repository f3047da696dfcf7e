"""Rebuilding the case table from stored `case_features`, so a batch can be re-judged later.

The nightly stores every feature of every case as JSON, plus the case's evidence items under
`_evidence`. Restoring parses them back with the feature catalogue's exact types (one SQL
statement, no per-case Python) and recomputes the features that depend on pack settings, so a
candidate pack that changes a reason class or a price band is judged on its own settings.
"""

from __future__ import annotations

import datetime as dt
import json

from aftersales.policy.cases import CASE_TABLE, EVIDENCE_TABLE, apply_pack_settings
from aftersales.policy.features import FEATURE_NAMES, FEATURES
from aftersales.rulepack import RuleBook

EVIDENCE_KEY = "_evidence"
_EVIDENCE_ITEM = {
    "party": "VARCHAR",
    "evidence_type": "VARCHAR",
    "uploaded_time": "TIMESTAMPTZ",
    "file_size_bytes": "BIGINT",
    "sha256": "VARCHAR",
    "is_valid": "BOOLEAN",
}


def restore_cases(con, batch_date: dt.date, book: RuleBook) -> int:
    """Create `policy_case` and `policy_evidence_item` from case_features of `batch_date`; return #cases."""
    spec = json.dumps({f.name: f.sql_type for f in FEATURES}).replace("'", "''")
    item_spec = json.dumps([_EVIDENCE_ITEM]).replace("'", "''")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE policy_stored AS
        SELECT case_id, features FROM case_features WHERE batch_date = ?
        QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY run_id DESC) = 1
        """,
        [batch_date],
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CASE_TABLE} AS "
        f"SELECT unnest(json_transform(features, '{spec}')) FROM policy_stored"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {EVIDENCE_TABLE} AS
        SELECT case_id, item.party, item.evidence_type, item.uploaded_time, item.file_size_bytes, item.sha256,
               item.is_valid
        FROM (
            SELECT case_id,
                   unnest(coalesce(json_transform(features -> '{EVIDENCE_KEY}', '{item_spec}'), [])) AS item
            FROM policy_stored
        )
        """
    )
    columns = tuple(r[0] for r in con.execute(f"DESCRIBE {CASE_TABLE}").fetchall())
    if columns != FEATURE_NAMES:
        raise RuntimeError("stored case features do not match the feature catalogue")
    apply_pack_settings(con, book)
    return con.execute(f"SELECT count(*) FROM {CASE_TABLE}").fetchone()[0]
