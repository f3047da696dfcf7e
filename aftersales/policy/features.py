"""The case-feature catalogue: every column a rule condition may read, with its type and meaning.

Case assembly (`cases.py`) must produce exactly these columns, the expression validator only
admits these names, and `rules lint` type-checks conditions against an empty table built from
this catalogue. Vocabularies below are the contract's (§2, §3), not policy values: windows,
deadlines, bands and thresholds live in `rules/`.
"""

from __future__ import annotations

from dataclasses import dataclass

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

# Export labels (lower case) -> request type codes (contract §2.3 "Return Type").
RETURN_TYPE_CODES = {label.lower(): label.lower().replace(" ", "_") for label in RETURN_TYPES}


@dataclass(frozen=True)
class Feature:
    name: str
    sql_type: str
    doc: str


def _f(name: str, sql_type: str, doc: str) -> Feature:
    return Feature(name, sql_type, doc)


_BASE: tuple[Feature, ...] = (
    # identity and scope
    _f("case_id", "VARCHAR", "Return Order ID, Cancellation ID or Appeal ID"),
    _f("case_kind", "VARCHAR", "return_refund, replacement, cancellation or appeal"),
    _f("shop_id", "VARCHAR", "shop of the case"),
    _f("order_id", "VARCHAR", "order the case is about"),
    _f("market", "VARCHAR", "shop market (US, UK, TH, VN, ID, MY, PH, SG)"),
    _f("program", "VARCHAR", "local or cross_border"),
    _f("pack_id", "VARCHAR", "rule pack that judges the case"),
    _f("shop_timezone", "VARCHAR", "IANA zone of the shop"),
    _f("ship_from", "VARCHAR", "ISO country the shop ships from"),
    _f("is_mall", "BOOLEAN", "shop listed as Mall in the pack's mall_shops setting (exports carry no flag)"),
    _f(
        "request_type",
        "VARCHAR",
        "refund_only, return_and_refund, replacement, partial_refund, cancellation, appeal",
    ),
    _f("requested_remedy", "VARCHAR", "remedy the request asks for (appeals: the original request's)"),
    _f("request_time", "TIMESTAMPTZ", "request instant (appeals: submission, else availability)"),
    _f("request_local_date", "DATE", "shop-local date of the request: selects the rule versions in force"),
    _f("batch_date", "DATE", "business date being closed"),
    _f("cutoff_time", "TIMESTAMPTZ", "end of the batch date (24:00) in the shop's zone"),
    # order facts (order-level amounts are never summed across SKU lines)
    _f("order_found", "BOOLEAN", "the order appears in the orders export"),
    _f("order_status", "VARCHAR", "order status"),
    _f("order_type", "VARCHAR", "Normal or Pre-order"),
    _f("is_pre_order", "BOOLEAN", "pre-order"),
    _f("order_amount", "DECIMAL(18,2)", "order amount (order-level, taken once)"),
    _f("item_price", "DECIMAL(18,2)", "price of the item in dispute (request Item Price, else SKU line)"),
    _f("price_band", "VARCHAR", "low/high around the pack's price_band pivot; NULL if the pack has none"),
    _f("quantity", "INTEGER", "SKU quantity"),
    _f("product_category", "VARCHAR", "product category"),
    _f("fulfillment_type", "VARCHAR", "fulfilment type"),
    _f("shipping_provider", "VARCHAR", "shipping provider name"),
    _f("package_count", "INTEGER", "distinct packages / tracking numbers of the order"),
    _f("has_tracking", "BOOLEAN", "the order (or SKU line) carries a tracking ID"),
    _f("created_time", "TIMESTAMPTZ", "order created"),
    _f("paid_time", "TIMESTAMPTZ", "order paid"),
    _f("rts_time", "TIMESTAMPTZ", "ready to ship"),
    _f("shipped_time", "TIMESTAMPTZ", "handed to the carrier (first carrier scan)"),
    _f("delivered_time", "TIMESTAMPTZ", "delivered per tracking"),
    _f("delivered_at_request", "BOOLEAN", "tracking showed Delivered at the request time"),
    _f("shipped_at_request", "BOOLEAN", "the order was handed over at the request time"),
    _f("days_from_delivered", "INTEGER", "local calendar days from Delivered to the request"),
    _f("hours_from_paid", "DOUBLE", "elapsed hours from payment to the request"),
    _f("days_from_paid", "DOUBLE", "elapsed days from payment to the request"),
    _f("days_from_shipped", "DOUBLE", "elapsed days from handover to the request"),
    _f(
        "dispatch_bd",
        "DOUBLE",
        "business days from payment to handover (or to the request if not handed over)",
    ),
    _f(
        "dispatch_calendar_days",
        "INTEGER",
        "local calendar days from payment date to handover (or request) date",
    ),
    _f("rts_hours", "DOUBLE", "hours from payment to ready-to-ship (else handover, else the request)"),
    _f(
        "delivery_bd", "DOUBLE", "business days from payment to delivery (or to the request if not delivered)"
    ),
    # reasons
    _f("return_reason", "VARCHAR", "platform reason label"),
    _f("reason_code", "VARCHAR", "normalised reason (no_longer_needed, wrong_size, not_as_described, ...)"),
    _f(
        "reason_class",
        "VARCHAR",
        "buyer_fault, seller_fault, logistics or unclassified (pack reason_classes)",
    ),
    # seller response
    _f("seller_decision", "VARCHAR", "approved, rejected or NULL"),
    _f("seller_reject_reason", "VARCHAR", "seller reject reason label"),
    _f("seller_reject_code", "VARCHAR", "normalised reject / cancel-response reason"),
    _f("seller_response_time", "TIMESTAMPTZ", "seller response"),
    _f("seller_responded", "BOOLEAN", "seller responded by the batch cutoff"),
    _f("seller_response_hours", "DOUBLE", "elapsed hours from request to response (or cutoff if none)"),
    _f(
        "seller_response_bd",
        "DOUBLE",
        "business days from request to response (or cutoff): > N means later than N business days (contract §4)",
    ),
    _f(
        "seller_response_days", "INTEGER", "local calendar days from request date to response (or batch) date"
    ),
    _f(
        "review_hours",
        "DOUBLE",
        "elapsed hours from request to the first action on it (seller response, or the buyer shipping the return, which needs an approval) or the cutoff",
    ),
    _f(
        "review_bd",
        "DOUBLE",
        "business days from request to the first action on it (see review_hours): > N means not acted on within N business days",
    ),
    _f("review_days", "INTEGER", "local calendar days from request date to the first action (or batch) date"),
    # return flow
    _f("return_status", "VARCHAR", "return status"),
    _f("arbitration_status", "VARCHAR", "arbitration status"),
    _f("refund_amount", "DECIMAL(18,2)", "refund amount requested / paid"),
    _f("refund_share", "DOUBLE", "refund amount / item price"),
    _f("return_shipped_time", "TIMESTAMPTZ", "buyer shipped the return"),
    _f("return_delivered_time", "TIMESTAMPTZ", "return parcel back at the seller"),
    _f("seller_inspection_time", "TIMESTAMPTZ", "seller inspected the return"),
    _f("refund_time", "TIMESTAMPTZ", "refund paid"),
    _f("buyer_dispute_time", "TIMESTAMPTZ", "buyer escalated to the platform"),
    _f("platform_decision_time", "TIMESTAMPTZ", "platform decided"),
    _f("has_return_tracking", "BOOLEAN", "return tracking ID present"),
    _f("return_transit_days", "DOUBLE", "elapsed days from return drop-off to receipt (or cutoff)"),
    _f(
        "inspection_bd",
        "DOUBLE",
        "business days from return receipt to inspection (first of inspection, seller response or refund after receipt; else cutoff)",
    ),
    _f("disputed", "BOOLEAN", "buyer escalated by the cutoff"),
    _f(
        "dispute_days_after_rejection",
        "DOUBLE",
        "elapsed days from the seller's rejection to the dispute (or cutoff)",
    ),
    _f(
        "dispute_hours_after_rejection",
        "DOUBLE",
        "elapsed hours from the seller's rejection to the dispute (or cutoff)",
    ),
    _f("dispute_days_from_delivered", "INTEGER", "local calendar days from Delivered to the dispute"),
    # cancellation
    _f("requested_by", "VARCHAR", "buyer, seller or system"),
    _f("cancel_reason", "VARCHAR", "cancel reason label"),
    _f("cancel_reason_code", "VARCHAR", "normalised cancel reason"),
    _f(
        "cancel_reason_class",
        "VARCHAR",
        "buyer, seller_fault, late_shipment, logistics, platform, unclassified",
    ),
    _f("cancel_status", "VARCHAR", "cancel status"),
    _f("cancelled_time", "TIMESTAMPTZ", "order cancelled"),
    # appeal
    _f("appeal_type", "VARCHAR", "contract §2.7 appeal type"),
    _f("appeal_status", "VARCHAR", "appeal status"),
    _f("appeal_reason", "VARCHAR", "appeal reason"),
    _f("appeal_available_time", "TIMESTAMPTZ", "appeal became available"),
    _f("appeal_submitted_time", "TIMESTAMPTZ", "appeal submitted"),
    _f("appeal_submitted", "BOOLEAN", "appeal submitted by the cutoff"),
    _f("request_found", "BOOLEAN", "appeals: the appealed after-sales request is in the exports"),
    _f(
        "appeal_days_from_available",
        "DOUBLE",
        "elapsed days from availability (else platform decision, else refund) to submission (or cutoff)",
    ),
    _f("appeal_days_from_refund", "DOUBLE", "elapsed days from refund to submission (or cutoff)"),
    _f("return_days_after_refund", "DOUBLE", "elapsed days from refund to return receipt (or cutoff)"),
    _f(
        "return_days_after_dropoff",
        "DOUBLE",
        "elapsed days from return drop-off to submission/request (or cutoff) while not received",
    ),
    # buyer history (keyed pseudonym only)
    _f("buyer_pseudonym", "VARCHAR", "keyed pseudonym of the buyer"),
    _f("buyer_prior_requests", "INTEGER", "earlier after-sales requests by the same buyer pseudonym"),
    # evidence summary
    _f("evidence_items", "INTEGER", "evidence items on the case uploaded by the cutoff"),
    _f("evidence_invalid_items", "INTEGER", "of which invalid (size 0, malformed SHA-256)"),
)


def evidence_column(party: str, evidence_type: str) -> str:
    return f"ev_{party}_{evidence_type}"


_EVIDENCE: tuple[Feature, ...] = tuple(
    _f(evidence_column(p, t), "INTEGER", f"valid {t} items from the {p} uploaded by the cutoff")
    for p in PARTIES
    for t in EVIDENCE_TYPES
)

FEATURES: tuple[Feature, ...] = _BASE + _EVIDENCE
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_TYPES: dict[str, str] = {f.name: f.sql_type for f in FEATURES}
FEATURE_DOCS: dict[str, str] = {f.name: f.doc for f in FEATURES}


# What `case_features` stores besides the features: each case's evidence items (no file names),
# so a replay can re-check evidence completeness under candidate packs.
EVIDENCE_DETAIL_COLUMN = "evidence_detail"
EVIDENCE_ITEM_FIELDS: tuple[tuple[str, str], ...] = (
    ("party", "VARCHAR"),
    ("evidence_type", "VARCHAR"),
    ("uploaded_time", "TIMESTAMPTZ"),
    ("file_size_bytes", "BIGINT"),
    ("sha256", "VARCHAR"),
    ("is_valid", "BOOLEAN"),
)
EVIDENCE_DETAIL_TYPE = "STRUCT(" + ", ".join(f"{n} {t}" for n, t in EVIDENCE_ITEM_FIELDS) + ")[]"
# Leading columns of `case_features`, in their published order; they are features too.
_STORED_KEYS: tuple[tuple[str, str], ...] = (
    ("case_id", "VARCHAR NOT NULL"),
    ("case_kind", "VARCHAR NOT NULL"),
    ("shop_id", "VARCHAR NOT NULL"),
    ("order_id", "VARCHAR"),
    ("market", "VARCHAR NOT NULL"),
    ("program", "VARCHAR NOT NULL"),
    ("request_time", "TIMESTAMPTZ"),
)


def stored_case_columns() -> tuple[tuple[str, str], ...]:
    """`case_features` columns after batch_date and run_id: one typed column per feature.

    Typed columns rather than one JSON document per case: columnar storage compresses them about
    tenfold and a replay reads them back without parsing. A feature added to the catalogue becomes
    a column appended to the warehouse table on the next publish (warehouse_schema adds it).
    """
    keys = {name for name, _ in _STORED_KEYS}
    rest = tuple((f.name, f.sql_type) for f in FEATURES if f.name not in keys and f.name != "batch_date")
    return (*_STORED_KEYS, *rest, (EVIDENCE_DETAIL_COLUMN, EVIDENCE_DETAIL_TYPE))


def empty_case_table_sql(table: str = "policy_case") -> str:
    """DDL of an empty table with every feature column (lint type-checks conditions on it)."""
    cols = ",\n  ".join(f'"{f.name}" {f.sql_type}' for f in FEATURES)
    return f"CREATE OR REPLACE TEMP TABLE {table} (\n  {cols}\n)"
