"""Rebuilding the case table from stored `case_features`, so a batch can be re-judged later.

The nightly stores every feature of every case in its own typed column, plus the case's
evidence items (`evidence_detail`). Restoring reads them back with the feature catalogue's exact
types (one SQL statement, no per-case Python) and recomputes the features that depend on pack settings, so a
candidate pack that changes a reason class or a price band is judged on its own settings.
"""

from __future__ import annotations

import datetime as dt

from aftersales.policy.cases import CASE_TABLE, EVIDENCE_TABLE, FACTS_TABLE, apply_pack_settings
from aftersales.policy.features import EVIDENCE_DETAIL_COLUMN, EVIDENCE_ITEM_FIELDS, FEATURE_NAMES, FEATURES
from aftersales.rulepack import RuleBook


def restore_cases(con, batch_date: dt.date, book: RuleBook) -> int:
    """Create `int_case_features` and `int_case_evidence_items` from case_features of `batch_date`.

    Returns the number of cases. The stored features stand in for `int_case_facts`; the
    pack-dependent ones are then recomputed by the `int_case_features` model.
    """
    stored = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'case_features'"
        ).fetchall()
    }
    missing = [c for c in (*FEATURE_NAMES, EVIDENCE_DETAIL_COLUMN) if c not in stored]
    if missing:
        raise RuntimeError(
            f"stored case features lack column(s) of the feature catalogue: {', '.join(missing)}"
        )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE policy_stored AS
        SELECT * FROM case_features WHERE batch_date = ?
        QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY run_id DESC) = 1
        """,
        [batch_date],
    )
    # Every row the nightly writes has an evidence list (possibly empty); a NULL one is a row
    # stored before features had typed columns (one JSON document per case), whose typed
    # columns are all NULL: re-judging it would silently decide on missing facts.
    untyped = con.execute(
        f"SELECT count(*) FROM policy_stored WHERE {EVIDENCE_DETAIL_COLUMN} IS NULL"
    ).fetchone()[0]
    if untyped:
        raise RuntimeError(
            f"{untyped} stored case(s) of {batch_date} predate typed case features; run the nightly "
            "batch for that date again before replaying it"
        )
    typed = ", ".join(f'CAST("{f.name}" AS {f.sql_type}) AS "{f.name}"' for f in FEATURES)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {FACTS_TABLE} AS SELECT {typed} FROM policy_stored")
    fields = ", ".join(f"item.{name}" for name, _ in EVIDENCE_ITEM_FIELDS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {EVIDENCE_TABLE} AS
        SELECT case_id, {fields}
        FROM (SELECT case_id, unnest({EVIDENCE_DETAIL_COLUMN}) AS item FROM policy_stored)
        """
    )
    con.execute("DROP TABLE policy_stored")
    apply_pack_settings(con, book)
    return con.execute(f"SELECT count(*) FROM {CASE_TABLE}").fetchone()[0]
