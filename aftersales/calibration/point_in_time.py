"""Point-in-time cases: every case the platform decided, as it stood just before the decision.

For each decided case the stored `case_features` row of the last batch date whose cut-off
(24:00 shop time) lies before the platform's decision is taken, and judged again under the
packs in force (`aftersales.orchestration.what_if.rescore_cases`, the replay's seam). A stored
row can still know more than the platform's desk did at that instant when the batch was run
late or backfilled from a later export, so every row is cut at its cut-off first:

- the platform's verdict columns ("Arbitration Status", "Appeal Status", "Cancel Status") are NULL,
  always, and so is the decision instant of the case's own kind (`outcomes.OUTCOME_COLUMNS_BY_KIND`;
  an appeal keeps the earlier arbitration's decision time it contests, when before the cut-off);
- undated states (`UNDATED_STATES`: a status may already show the verdict) are NULL;
- every timestamp feature dated after the cut-off is NULL;
- every derived feature computed from such a timestamp (`DERIVED_FROM`) is NULL;
- evidence items uploaded after the cut-off are dropped.

Features already computed "as of the batch cut-off" by case assembly (`CUT_AT_ASSEMBLY`) and
facts fixed when the request was made (`REQUEST_FACTS`) pass unchanged. Every feature of the
catalogue is in exactly one of these classes (a test holds the catalogue to it), so a feature
added later cannot slip through unclassified.

Decision instants: returns carry "Platform Decision Time"; a cancellation is decided when it
was cancelled ("Cancelled Time") or rejected ("Seller Response Time"); the appeal export has no
decision time, so an appeal is taken as submitted (the first batch whose cut-off follows
"Submitted Time"), its status masked.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from aftersales import database
from aftersales.calibration.outcomes import (
    OUTCOME_COLUMNS_BY_KIND,
    platform_decision_sql,
    platform_outcome_label_sql,
)
from aftersales.lakehouse.side_tables import attach_published
from aftersales.policy.features import EVIDENCE_DETAIL_COLUMN, FEATURE_NAMES, FEATURE_TYPES
from aftersales.publish.swap import insert_common_columns
from aftersales.warehouse_schema import create_result_tables

# States without a date: the stored value may be the one reached after the decision.
UNDATED_STATES: tuple[str, ...] = ("return_status", "order_status")
# Derived features -> the timestamps they are computed from (see policy/cases.py).
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "days_from_delivered": ("delivered_time",),
    "hours_from_paid": ("paid_time", "created_time"),
    "days_from_paid": ("paid_time", "created_time"),
    "days_from_shipped": ("shipped_time",),
    "dispatch_bd": ("paid_time", "created_time"),
    "dispatch_calendar_days": ("paid_time", "created_time"),
    "rts_hours": ("paid_time", "created_time"),
    "delivery_bd": ("paid_time", "created_time"),
    "has_tracking": ("shipped_time",),
    "package_count": ("shipped_time",),
    "shipping_provider": ("shipped_time",),
    "seller_decision": ("seller_response_time",),
    "seller_reject_reason": ("seller_response_time",),
    "seller_reject_code": ("seller_response_time",),
    "return_transit_days": ("return_shipped_time",),
    "has_return_tracking": ("return_shipped_time",),
    "inspection_bd": ("return_delivered_time",),
    "dispute_days_after_rejection": ("seller_response_time",),
    "dispute_hours_after_rejection": ("seller_response_time",),
    "dispute_days_from_delivered": ("buyer_dispute_time", "delivered_time"),
    "appeal_type": ("appeal_available_time",),
    "appeal_reason": ("appeal_submitted_time",),
    "appeal_days_from_available": ("appeal_available_time", "platform_decision_time", "refund_time"),
    "appeal_days_from_refund": ("refund_time",),
    "return_days_after_refund": ("refund_time", "return_delivered_time"),
    "return_days_after_dropoff": ("return_shipped_time", "return_delivered_time"),
}
# Computed by case assembly against the batch cut-off (facts after it already left out).
CUT_AT_ASSEMBLY: tuple[str, ...] = (
    "delivered_at_request", "shipped_at_request", "seller_responded", "seller_response_hours",
    "seller_response_bd", "seller_response_days", "review_hours", "review_bd", "review_days",
    "disputed", "appeal_submitted", "evidence_items", "evidence_invalid_items",
)  # fmt: skip
# Fixed when the case was opened (identity, scope, order and request facts, pack settings).
REQUEST_FACTS: tuple[str, ...] = (
    "case_id", "case_kind", "shop_id", "order_id", "market", "program", "pack_id", "shop_timezone",
    "ship_from", "is_mall", "request_type", "requested_remedy", "request_local_date", "batch_date",
    "order_found", "order_type", "is_pre_order", "order_amount", "item_price", "price_band", "quantity",
    "product_category", "fulfillment_type", "return_reason", "reason_code", "reason_class",
    "refund_amount", "refund_share", "requested_by", "cancel_reason", "cancel_reason_code",
    "cancel_reason_class", "request_found", "buyer_pseudonym", "buyer_prior_requests",
)  # fmt: skip
OUTCOME_FEATURES: tuple[str, ...] = ("arbitration_status", "appeal_status", "cancel_status")

NOT_CALIBRATABLE = {
    "no_decision_time": "decided, but the export gives no decision instant",
    "not_submitted": "appeal decided without a submission time",
    "no_features_before_decision": "no stored case features on a batch date before the decision",
    # With `calibrate --inbox` (calibration/rebuild.py):
    "not_in_exports_before_decision": "rebuilt from the exports, but the case did not exist before the decision",
    "rebuild_cutoff_not_before_decision": "the rebuilt batch's cut-off does not precede the decision",
}


def timestamp_features() -> tuple[str, ...]:
    return tuple(n for n in FEATURE_NAMES if FEATURE_TYPES[n] == "TIMESTAMPTZ")


def feature_classes() -> dict[str, str]:
    """feature -> how calibration treats it (timestamp, derived, assembly_cut, request_fact, outcome, undated)."""
    classes: dict[str, str] = {}
    for name in timestamp_features():
        classes[name] = "timestamp"
    for group, names in (
        ("derived", tuple(DERIVED_FROM)),
        ("assembly_cut", CUT_AT_ASSEMBLY),
        ("request_fact", REQUEST_FACTS),
        ("outcome", OUTCOME_FEATURES),
        ("undated", UNDATED_STATES),
    ):
        for name in names:
            if name in classes:
                raise RuntimeError(f"feature {name} is classified twice ({classes[name]}, {group})")
            classes[name] = group
    evidence = [n for n in FEATURE_NAMES if n.startswith("ev_")]
    for name in evidence:  # counted by case assembly over items uploaded by the cut-off
        classes.setdefault(name, "assembly_cut")
    return classes


def _after(column: str) -> str:
    return f'coalesce(s."{column}" > s.cutoff_time, FALSE)'


def masked_select_sql() -> str:
    """SELECT list over stored rows `s`: every feature cut at `s.cutoff_time` (see module doc)."""
    classes = feature_classes()
    unclassified = [n for n in FEATURE_NAMES if n not in classes]
    if unclassified:
        raise RuntimeError(f"features without a point-in-time class: {', '.join(unclassified)}")
    own_outcome = {
        col: [k for k, cols in OUTCOME_COLUMNS_BY_KIND.items() if col in cols]
        for cols in OUTCOME_COLUMNS_BY_KIND.values()
        for col in cols
    }
    items = []
    for name in FEATURE_NAMES:
        if name == "batch_date":  # the storage key, set by the caller
            continue
        typ = FEATURE_TYPES[name]
        kept = f's."{name}"'
        if name == "cutoff_time":
            value = kept
        elif classes[name] in ("outcome", "undated"):
            value = "NULL"
        elif name in own_outcome:
            kinds = ", ".join(f"'{k}'" for k in own_outcome[name])
            dated = f" OR {_after(name)}" if classes[name] == "timestamp" else ""
            value = f"CASE WHEN s.case_kind IN ({kinds}){dated} THEN NULL ELSE {kept} END"
        elif classes[name] == "timestamp":
            value = f"CASE WHEN {_after(name)} THEN NULL ELSE {kept} END"
        elif classes[name] == "derived":
            late = " OR ".join(_after(dep) for dep in DERIVED_FROM[name])
            value = f"CASE WHEN {late} THEN NULL ELSE {kept} END"
        else:
            value = kept
        items.append(f'CAST({value} AS {typ}) AS "{name}"')
    items.append(
        f"list_filter(s.{EVIDENCE_DETAIL_COLUMN}, lambda x: x.uploaded_time IS NOT NULL "
        f"AND x.uploaded_time <= s.cutoff_time) AS {EVIDENCE_DETAIL_COLUMN}"
    )
    return ",\n    ".join(items)


def select_cases(con, first: date, last: date) -> None:
    """Temp table `calibration_pick` over attached warehouse `wh`: one row per decided case.

    The outcome is read from the case's latest stored row (the most recent knowledge of it);
    `asof_batch_date` is the stored batch the case is judged from (NULL: not calibratable, with
    `not_calibratable`). Cases are selected by the shop-local date of the decision (appeals: of
    the submission; a verdict without any date: the latest batch date that shows it) between
    `first` and `last`.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE calibration_latest AS
        SELECT case_id, case_kind, batch_date AS seen_batch_date, shop_id, market, program, shop_timezone,
               request_type,
               arbitration_status, platform_decision_time, appeal_status, cancel_status,
               cancelled_time, seller_response_time, appeal_submitted_time, request_time
        FROM wh.case_features
        QUALIFY row_number() OVER (PARTITION BY case_id, case_kind ORDER BY batch_date DESC, run_id DESC) = 1;

        CREATE OR REPLACE TEMP TABLE calibration_decided AS
        SELECT v.*,
               CASE WHEN v.case_kind IN ('return_refund', 'replacement') THEN v.platform_decision_time
                    WHEN v.case_kind = 'cancellation' AND v.platform_decision = 'buyer_favour'
                         THEN coalesce(v.cancelled_time, v.seller_response_time)
                    WHEN v.case_kind = 'cancellation' THEN v.seller_response_time
               END AS decision_time,
               CASE WHEN v.case_kind = 'appeal' THEN 'appeal_submitted' ELSE 'before_decision' END AS cutoff_basis
        FROM (SELECT o.*, {platform_decision_sql("o")} AS platform_decision,
                     {platform_outcome_label_sql("o")} AS platform_outcome
              FROM calibration_latest o) v;
        DELETE FROM calibration_decided WHERE platform_decision IS NULL;

        CREATE OR REPLACE TEMP TABLE calibration_pick AS
        WITH stored AS (
            SELECT s.case_id, s.case_kind, s.batch_date, s.run_id, s.cutoff_time, s.request_time
            FROM wh.case_features s
            QUALIFY row_number() OVER (PARTITION BY s.batch_date, s.case_id, s.case_kind ORDER BY s.run_id DESC) = 1
        ), candidates AS (
            SELECT d.case_id, d.case_kind, s.batch_date, s.run_id, s.cutoff_time
            FROM calibration_decided d JOIN stored s USING (case_id, case_kind)
            WHERE s.request_time <= s.cutoff_time
              AND ((d.case_kind <> 'appeal' AND s.cutoff_time < d.decision_time)
                   OR (d.case_kind = 'appeal' AND s.cutoff_time >= d.appeal_submitted_time))
        ), chosen AS (
            SELECT c.* FROM candidates c
            QUALIFY row_number() OVER (
                PARTITION BY case_id, case_kind
                ORDER BY CASE WHEN case_kind = 'appeal' THEN -epoch(cutoff_time) ELSE epoch(cutoff_time) END DESC
            ) = 1
        )
        SELECT d.*,
               coalesce(timezone(d.shop_timezone, coalesce(d.decision_time, d.appeal_submitted_time))::DATE,
                        d.seen_batch_date) AS decision_local_date,
               c.batch_date AS asof_batch_date, c.run_id AS asof_run_id, c.cutoff_time,
               CASE WHEN c.batch_date IS NOT NULL THEN 'stored' END AS features_from,
               CASE WHEN c.batch_date IS NOT NULL THEN NULL
                    WHEN d.case_kind = 'appeal' AND d.appeal_submitted_time IS NULL THEN 'not_submitted'
                    WHEN d.case_kind <> 'appeal' AND d.decision_time IS NULL THEN 'no_decision_time'
                    ELSE 'no_features_before_decision' END AS not_calibratable
        FROM calibration_decided d LEFT JOIN chosen c USING (case_id, case_kind)
        WHERE coalesce(timezone(d.shop_timezone, coalesce(d.decision_time, d.appeal_submitted_time))::DATE,
                       d.seen_batch_date) BETWEEN ? AND ?;
        """,
        [first, last],
    )


def snapshot_point_in_time(
    warehouse: Path, private_db: Path, first: date, last: date, key_date: date
) -> dict[date, int]:
    """Write the picked cases' cut rows into the private database's `case_features`; cases per as-of date.

    All rows are stored under one `key_date` so that the engine judges them in one pass: judging
    reads each case's own dates and cut-off (features), never the storage key, and every case
    appears once. The warehouse is attached read-only: a nightly publish running meanwhile is
    neither blocked nor seen half-done. `calibration_pick` is kept in the private database.
    """
    private_db.parent.mkdir(parents=True, exist_ok=True)
    con = database.connect(private_db)
    try:
        create_result_tables(con)
        attach_published(con, warehouse, "wh")
        select_cases(con, first, last)
        con.execute("CREATE OR REPLACE TABLE calibration_pick AS SELECT * FROM temp.calibration_pick")
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE calibration_cut AS
            SELECT ?::DATE AS batch_date, s.run_id, {masked_select_sql()}
            FROM wh.case_features s
            JOIN calibration_pick p
              ON p.case_id = s.case_id AND p.case_kind = s.case_kind
             AND p.asof_batch_date = s.batch_date AND p.asof_run_id = s.run_id
            """,
            [key_date],
        )
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute("DELETE FROM case_features")
        insert_common_columns(con, f"{catalog}.case_features", "temp.calibration_cut")
        con.execute("DETACH wh")
        counts = con.execute(
            "SELECT asof_batch_date, count(*) FROM calibration_pick WHERE asof_batch_date IS NOT NULL "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return {day: n for day, n in counts}
