"""Evidence completeness: required (party, evidence type) items checked with a Great Expectations suite.

Fired rules with an `evidence` list produce requirement rows (SQL). Each requirement is paired
with its best candidate item from the evidence manifest (same case, party and an accepted type,
uploaded by the batch cutoff; valid and on-time items first). The GX suite then asserts, per
requirement row, that an item is present, valid (size > 0, well-formed SHA-256, flagged valid by
ingestion) and uploaded before the deadline that applies. Failing rows become gaps
(`missing`, `invalid`, `late`) that feed the decision and the `evidence_gaps` table.
"""

from __future__ import annotations

import os

import pandas as pd

from aftersales.policy.cases import CASE_TABLE, EVIDENCE_TABLE, install_case_macros
from aftersales.policy.evaluate import HIT_TABLE
from aftersales.policy.expressions import sql_literal
from aftersales.policy.packs import PolicyBook

REQ_TABLE = "policy_requirement"
SUITE_NAME = "policy_evidence_completeness"
SHA256_REGEX = r"^[0-9a-fA-F]{64}$"

# Expectation -> the gap it reveals (first failing one wins, in this order).
GAP_ORDER = ("missing", "invalid", "late")


def build_requirements(con, policy: PolicyBook) -> int:
    """Create temp table `policy_requirement`: one row per (case, fired rule, required item)."""
    branches = []
    for rule in policy.rules:
        for j, req in enumerate(rule.evidence):
            if req.due_after:
                due = f"coalesce(c.{req.due_after} + to_seconds({req.due_hours * 3600.0}), c.cutoff_time)"
            else:
                due = "c.cutoff_time"
            od = req.overdue
            branches.append(
                f"""SELECT h.case_id, {rule.index} AS rule_index, {j} AS req_idx, {sql_literal(req.party)} AS party,
                       {sql_literal(req.evidence_type)} AS evidence_type,
                       [{", ".join(sql_literal(t) for t in req.accepted)}]::VARCHAR[] AS accepted,
                       {due} AS due_at, c.cutoff_time, {str(req.decisive).upper()} AS decisive_spec,
                       {sql_literal(od.decision) if od else "NULL"}::VARCHAR AS overdue_decision,
                       {sql_literal(od.liable_party) if od and od.liable_party else "NULL"}::VARCHAR AS overdue_liable,
                       {sql_literal(od.remedy) if od and od.remedy else "NULL"}::VARCHAR AS overdue_remedy
                FROM {HIT_TABLE} h JOIN {CASE_TABLE} c USING (case_id)
                WHERE h.rule_index = {rule.index} AND h.status = 'fired'"""
            )
    union = (
        "\nUNION ALL\n".join(branches)
        if branches
        else (
            "SELECT NULL::VARCHAR case_id, NULL::INTEGER rule_index, NULL::INTEGER req_idx, NULL::VARCHAR party, "
            "NULL::VARCHAR evidence_type, NULL::VARCHAR[] accepted, NULL::TIMESTAMPTZ due_at, "
            "NULL::TIMESTAMPTZ cutoff_time, NULL::BOOLEAN decisive_spec, NULL::VARCHAR overdue_decision, "
            "NULL::VARCHAR overdue_liable, NULL::VARCHAR overdue_remedy WHERE FALSE"
        )
    )
    install_case_macros(con)  # evidence_item_valid: the same validity test as the case features
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {REQ_TABLE} AS
        WITH req AS (SELECT row_number() OVER (ORDER BY case_id, rule_index, req_idx) AS req_id, * FROM ({union})),
        item AS (
            SELECT r.req_id, e.evidence_type AS found_type, e.uploaded_time, e.file_size_bytes, e.sha256,
                   e.is_valid,
                   evidence_item_valid(e.is_valid, e.file_size_bytes, e.sha256) AS valid,
                   (epoch(least(r.due_at, r.cutoff_time)) - epoch(e.uploaded_time)) / 3600.0 AS hours_before_due
            FROM req r JOIN {EVIDENCE_TABLE} e
              ON e.case_id = r.case_id AND e.party = r.party AND list_contains(r.accepted, e.evidence_type)
             AND (e.uploaded_time IS NULL OR e.uploaded_time <= r.cutoff_time)
            QUALIFY row_number() OVER (
                PARTITION BY r.req_id
                ORDER BY (valid AND coalesce(hours_before_due >= 0, FALSE)) DESC, valid DESC,
                         coalesce(hours_before_due >= 0, FALSE) DESC, e.uploaded_time DESC NULLS LAST) = 1
        )
        SELECT req.*, item.req_id IS NOT NULL AS found, item.found_type, item.uploaded_time,
               item.file_size_bytes, item.sha256, item.is_valid,
               CASE WHEN item.req_id IS NOT NULL THEN coalesce(item.hours_before_due, -1.0) END AS hours_before_due,
               NULL::VARCHAR AS gap_kind
        FROM req LEFT JOIN item USING (req_id)
        """
    )
    return con.execute(f"SELECT count(*) FROM {REQ_TABLE}").fetchone()[0]


def _suite(gx):
    """The completeness suite: one expectation per way an evidence item can fail (kind in `meta`)."""
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for expectation in (
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="found", value_set=[True], meta={"gap_kind": "missing"}
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="is_valid", value_set=[True], meta={"gap_kind": "invalid"}
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="file_size_bytes", min_value=1, meta={"gap_kind": "invalid"}
        ),
        gx.expectations.ExpectColumnValuesToMatchRegex(
            column="sha256", regex=SHA256_REGEX, meta={"gap_kind": "invalid"}
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="hours_before_due", min_value=0, meta={"gap_kind": "late"}
        ),
    ):
        suite.add_expectation(expectation)
    return suite


def validate_requirements(frame: pd.DataFrame) -> dict[int, str]:
    """Run the GX suite over requirement rows; return {req_id: gap_kind} for every failing row."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("policy_evidence").add_dataframe_asset("requirements")
    batch = asset.add_batch_definition_whole_dataframe("all_requirements")
    suite = context.suites.add(_suite(gx))
    # Validated on the batch directly rather than through a ValidationDefinition: its run() also
    # serialises the whole result into the (ephemeral) results store, which nobody reads here and
    # which cost as much as the validation itself (~1.1 s for the 270k requirement rows of the
    # default benchmark inbox). Only the failing req_ids are needed: without the failing values
    # (and the pandas query GX would otherwise render) the result is a fraction of the size.
    result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["req_id"],
            "exclude_unexpected_values": True,
            "return_unexpected_index_query": False,
        },
    )
    failures: dict[int, str] = {}
    for r in result.results:
        if r.success:
            continue
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"evidence suite failed to run: {r.exception_info.get('exception_message')}")
        kind = r.expectation_config.meta["gap_kind"]
        for req_id in _failing_ids(r.result.get("unexpected_index_list")):
            if req_id not in failures or GAP_ORDER.index(kind) < GAP_ORDER.index(failures[req_id]):
                failures[req_id] = kind
    return failures


def _failing_ids(index_list) -> list[int]:
    """req_ids of an unexpected_index_list: [{"req_id": [ids]}] when values are excluded, else one
    {"req_id": id, <column>: value} per failing row."""
    ids: list[int] = []
    for entry in index_list or ():
        value = entry["req_id"]
        if isinstance(value, list | tuple):
            ids.extend(int(v) for v in value)
        else:
            ids.append(int(value))
    return ids


def check_evidence(con, policy: PolicyBook) -> int:
    """Build requirements, validate them with GX and record each row's gap kind; return #gaps."""
    if build_requirements(con, policy) == 0:
        return 0
    frame = con.execute(
        f"SELECT req_id, found, is_valid, file_size_bytes, sha256, hours_before_due FROM {REQ_TABLE} ORDER BY req_id"
    ).df()
    frame["is_valid"] = frame["is_valid"].astype("object").where(frame["found"], None)
    failures = validate_requirements(frame)
    if failures:
        # One bulk insert from a frame: executemany costs ~0.5 ms per row (16 s for the 30k gaps
        # of the default benchmark inbox).
        gaps = pd.DataFrame(
            {
                "req_id": pd.Series(list(failures), dtype="int64"),
                "gap_kind": pd.Series(list(failures.values()), dtype=object),
            }
        )
        con.execute("CREATE OR REPLACE TEMP TABLE policy_gap_kind (req_id BIGINT, gap_kind VARCHAR)")
        con.register("policy_gap_kind_frame", gaps)
        con.execute("INSERT INTO policy_gap_kind SELECT req_id, gap_kind FROM policy_gap_kind_frame")
        con.unregister("policy_gap_kind_frame")
        con.execute(
            f"UPDATE {REQ_TABLE} r SET gap_kind = g.gap_kind FROM policy_gap_kind g WHERE g.req_id = r.req_id"
        )
    return len(failures)
