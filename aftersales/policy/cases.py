"""Case assembly: one case per after-sales request, cancellation request and appeal, with features.

Everything is whole-table SQL in the work database: staged rows are de-duplicated, joined to
their order (order-level amounts taken once, never summed across SKU lines), SKU line, shop,
rule pack, evidence and timeline, and every feature in `features.FEATURES` is computed as a
column of the temp table `policy_case`. Label normalisation (export wording -> codes) lives
here because it reads the export vocabulary; which codes are seller- or buyer-fault is policy
and comes from each pack's settings (`reason_classes`, `cancel_reason_classes`).
"""

from __future__ import annotations

import datetime as dt

from aftersales.policy.business_days import create_calendar
from aftersales.policy.expressions import sql_literal
from aftersales.policy.features import (
    EVIDENCE_TYPES,
    FEATURE_NAMES,
    PARTIES,
    RETURN_TYPE_CODES,
    evidence_column,
)
from aftersales.rulepack import RuleBook
from aftersales.sla.market_calendar import MARKET_CALENDARS

CASE_TABLE = "policy_case"
EVIDENCE_TABLE = "policy_evidence_item"
# An evidence item is valid when ingestion flagged it so, it has bytes and a well-formed SHA-256.
VALID_ITEM_SQL = (
    "coalesce(e.is_valid, FALSE) AND coalesce(e.file_size_bytes, 0) > 0 "
    "AND coalesce(regexp_full_match(e.sha256, '[0-9a-fA-F]{64}'), FALSE)"
)

# Export reason labels -> reason codes, first match wins (order matters: "wrong item" before size).
RETURN_REASON_PATTERNS: tuple[tuple[str, str], ...] = (
    ("counterfeit", r"counterfeit|fake|not authentic|inauthentic|replica"),
    (
        "not_received",
        r"not received|never (arrived|received)|did not receive|didn't receive|\blost\b|not delivered",
    ),
    ("late_delivery", r"\blate\b|delay|too long|overdue"),
    ("wrong_item", r"wrong (item|product)|different (item|product)|incorrect (item|product)"),
    ("missing_parts", r"missing|empty (package|parcel|box)|incomplete"),
    ("defective", r"defective|doesn't work|does not work|not working|malfunction|faulty"),
    ("package_damaged", r"damaged|broken|crushed|dented|leak|shattered"),
    ("not_as_described", r"match|not as described|description|inconsistent|different from"),
    ("poor_quality", r"quality|torn|stain|expired|mou?ld|smell|allerg"),
    ("wrong_size", r"size|too (big|small|large|tight|loose)|\bfit\b"),
    (
        "no_longer_needed",
        r"no longer|change(d)?( of| my)? mind|mistake|don't want|do not want|not needed|cheaper|better price|unwanted",
    ),
)

# Seller reject / response reasons -> codes (evidence tables rows 61-64 of the policy brief).
SELLER_REJECT_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "wrong_item_returned",
        r"wrong item returned|different item returned|not the (original|same) item|item swapped",
    ),
    (
        "return_not_received",
        r"return (package |parcel |item )?(not|never) (received|arrived)|did not receive the return|not received",
    ),
    (
        "returned_used",
        r"\bused\b|\bworn\b|damaged by (the )?buyer|not in (its )?(original|sellable|resellable) condition|seal broken|unsellable|not resellable|tampered",
    ),
    ("out_of_stock", r"out of stock|no stock|sold out"),
    ("product_packed", r"packed|already shipped|has been shipped|handed over|in transit|shipped"),
    ("agreement_with_buyer", r"agree|agreement|negotiat"),
    ("buyer_address_error", r"unable to change (the )?address|change (the )?address"),
    ("buyer_wrong_address", r"wrong address|incorrect address"),
    ("need_return", r"r&r|return and refund|need to return|apply for return"),
    ("item_correct", r"item is correct|correct item|as described|matches (the )?(listing|description)"),
    ("separate_packages", r"separate|multiple packages|another package"),
    ("authentic", r"authentic|genuine"),
    ("delivered", r"delivered|proof of delivery|received by (the )?buyer|signed"),
)

CANCEL_REASON_PATTERNS: tuple[tuple[str, str], ...] = (
    ("out_of_stock", r"out of stock|no stock|sold out|insufficient stock"),
    ("pricing_error", r"pric(e|ing) error|wrong pric|incorrect pric|mispric"),
    (
        "failed_to_ship",
        r"fail(ed)? to (ship|hand ?over|prepare|fulfil)|unable to (ship|fulfil|deliver)|not (handed over|collected)|auto.?cancel|logistics (status )?not updated|seller did not ship|shipping overdue",
    ),
    ("not_delivered_by_edd", r"estimated delivery|\bedd\b|not delivered by|not arrived by|not received by"),
    ("lsp_lost_damaged", r"\blost\b|damaged (in transit|en route)|carrier|logistics (issue|problem)"),
    ("late_shipment", r"late ship|\blate\b|takes too long|took too long|delay|not shipped|slow"),
    ("unpaid", r"unpaid|payment (timeout|not completed|failed|expired)|not paid"),
    ("fraud", r"fraud|\brisk|illegal|suspicious|experience protection"),
    ("payment_change", r"payment method"),
    ("address_change", r"address"),
    ("buyer_request", r"buyer('s)? request|requested by (the )?buyer|agreement|agreed with"),
    (
        "changed_mind",
        r"no longer|change(d)?( of| my)? mind|mistake|don't want|do not want|duplicate|cheaper|better price|change (the )?(item|order|colou?r|size|quantity)",
    ),
)


def code_case(column: str, patterns: tuple[tuple[str, str], ...], default: str = "other") -> str:
    """SQL CASE mapping a free-text label column to a code by the first matching pattern."""
    whens = "\n".join(
        f"        WHEN regexp_matches(lower({column}), {sql_literal(p)}) THEN {sql_literal(code)}"
        for code, p in patterns
    )
    return (
        f"CASE WHEN {column} IS NULL OR trim({column}) = '' THEN NULL\n{whens}\n"
        f"        ELSE {sql_literal(default)} END"
    )


def _load_pack_tables(con, book: RuleBook) -> None:
    """Pack scope and the settings case assembly needs, as small temp tables."""
    scope, reasons, cancels, bands, malls = [], [], [], [], []
    for pack in book.packs:
        for m in pack.markets:
            for p in pack.programs:
                scope.append((m, p, pack.id))
        for cls, codes in (pack.settings.get("reason_classes") or {}).items():
            reasons += [(pack.id, code, cls) for code in codes]
        for cls, codes in (pack.settings.get("cancel_reason_classes") or {}).items():
            cancels += [(pack.id, code, cls) for code in codes]
        band = pack.settings.get("price_band") or {}
        if band:
            bands.append((pack.id, float(band["pivot"]), band.get("pivot_band", "low")))
        malls += [(pack.id, str(s)) for s in pack.settings.get("mall_shops") or ()]
    for name, cols, rows in (
        ("policy_pack_scope", "market VARCHAR, program VARCHAR, pack_id VARCHAR", scope),
        ("policy_reason_class", "pack_id VARCHAR, code VARCHAR, cls VARCHAR", reasons),
        ("policy_cancel_class", "pack_id VARCHAR, code VARCHAR, cls VARCHAR", cancels),
        ("policy_price_band", "pack_id VARCHAR, pivot_price DECIMAL(18,2), pivot_band VARCHAR", bands),
        ("policy_mall_shop", "pack_id VARCHAR, shop_id VARCHAR", malls),
    ):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({cols})")
        if rows:
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def _calendar_range(con, batch_date: dt.date) -> tuple[dt.date, dt.date]:
    lo = con.execute(
        """
        SELECT least(
            (SELECT min(least(created_time, paid_time)) FROM stg_order_lines),
            (SELECT min(request_time) FROM stg_aftersales_requests),
            (SELECT min(request_time) FROM stg_cancellations),
            (SELECT min(least(appeal_available_time, submitted_time)) FROM stg_appeals))::DATE
        """
    ).fetchone()[0]
    first = (lo or batch_date) - dt.timedelta(days=10)
    return min(first, batch_date - dt.timedelta(days=10)), batch_date + dt.timedelta(days=40)


def _return_type_code(column: str) -> str:
    whens = " ".join(
        f"WHEN {sql_literal(label)} THEN {sql_literal(code)}" for label, code in RETURN_TYPE_CODES.items()
    )
    return f"CASE lower(trim({column})) {whens} ELSE NULL END"


def _evidence_pivot() -> str:
    cols = [
        f"count(*) FILTER (WHERE party = '{p}' AND evidence_type = '{t}' AND valid AND on_time) "
        f"AS {evidence_column(p, t)}"
        for p in PARTIES
        for t in EVIDENCE_TYPES
    ]
    return ",\n            ".join(cols)


def _local(ts: str) -> str:
    return f"timezone(b.shop_timezone, {ts})"


def _days(start: str, end: str) -> str:
    return f"(epoch({end}) - epoch({start})) / 86400.0"


def _hours(start: str, end: str) -> str:
    return f"(epoch({end}) - epoch({start})) / 3600.0"


# The order-line columns case assembly reads (policy_line): keys, the de-duplication order, what
# policy_order aggregates and what the line join takes.
ORDER_LINE_COLUMNS = ", ".join(
    (
        "shop_id", "order_id", "sku_id", "source_file", "line_number",
        "order_amount", "order_status", "order_type", "created_time", "paid_time", "rts_time",
        "shipped_time", "delivered_time", "cancelled_time", "tracking_id", "package_id",
        "fulfillment_type", "shipping_provider_name", "buyer_pseudonym", "product_category",
        "quantity", "sku_subtotal_after_discount", "sku_unit_original_price",
    )
)  # fmt: skip


def build_cases(con, batch_date: dt.date, book: RuleBook) -> int:
    """Create temp table `policy_case` (one row per case, every feature column); return its size.

    Cases whose shop is missing from the registry cannot be placed in a market and are left out
    (counted by `count_cases_without_shop`).
    """
    # Markets without a contract calendar get none: their business-day features stay NULL.
    markets = [
        r[0]
        for r in con.execute("SELECT DISTINCT market FROM stg_shops").fetchall()
        if r[0] in MARKET_CALENDARS
    ]
    first, last = _calendar_range(con, batch_date)
    create_calendar(con, markets or ["US"], first, last)

    con.execute(
        f"""
        -- Only orders some case refers to (appeals reach theirs through the request): the
        -- de-duplication window then runs over a fraction of the order lines. Only the columns
        -- case assembly reads (the export has 50).
        CREATE OR REPLACE TEMP TABLE policy_line AS
        SELECT {ORDER_LINE_COLUMNS} FROM stg_order_lines
        WHERE order_id IN (SELECT order_id FROM stg_aftersales_requests
                           UNION SELECT order_id FROM stg_cancellations)
        QUALIFY row_number() OVER (PARTITION BY shop_id, order_id, sku_id
                                   ORDER BY source_file DESC, line_number DESC) = 1;

        CREATE OR REPLACE TEMP TABLE policy_order AS
        SELECT shop_id, order_id,
               max(order_amount) AS order_amount,            -- repeated per line: taken once
               arg_max(order_status, line_number) AS order_status,
               arg_max(order_type, line_number) AS order_type,
               min(created_time) AS created_time,
               min(paid_time) AS paid_time,
               min(rts_time) AS rts_time,
               min(shipped_time) AS shipped_time,
               CASE WHEN count(delivered_time) = count(*) THEN max(delivered_time) END AS delivered_time,
               max(cancelled_time) AS order_cancelled_time,
               bool_or(coalesce(trim(tracking_id), '') <> '') AS has_tracking,
               count(DISTINCT coalesce(nullif(trim(package_id), ''), nullif(trim(tracking_id), ''))) AS package_count,
               arg_max(fulfillment_type, line_number) AS fulfillment_type,
               arg_max(shipping_provider_name, line_number) AS shipping_provider,
               arg_max(buyer_pseudonym, line_number) AS buyer_pseudonym,
               arg_max(product_category, line_number) AS product_category
        FROM policy_line GROUP BY shop_id, order_id;

        CREATE OR REPLACE TEMP TABLE policy_request AS
        SELECT r.*, {_return_type_code("r.return_type")} AS request_type_code,
               row_number() OVER () AS _rn
        FROM stg_aftersales_requests r
        QUALIFY row_number() OVER (
            PARTITION BY r.return_order_id
            ORDER BY (r.seller_response_time IS NOT NULL)::INT + (r.return_shipped_time IS NOT NULL)::INT
                     + (r.return_delivered_time IS NOT NULL)::INT + (r.refund_time IS NOT NULL)::INT
                     + (r.buyer_dispute_time IS NOT NULL)::INT + (r.platform_decision_time IS NOT NULL)::INT DESC,
                     r.source_file DESC, r.line_number DESC) = 1;

        CREATE OR REPLACE TEMP TABLE policy_prior AS
        SELECT q.return_order_id,
               -- return_order_id breaks ties: two requests of one buyer in the same second
               -- would otherwise count each other in an arbitrary order
               count(*) OVER (PARTITION BY o.buyer_pseudonym ORDER BY q.request_time, q.return_order_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prior_requests
        FROM policy_request q JOIN policy_order o USING (shop_id, order_id)
        WHERE o.buyer_pseudonym IS NOT NULL;
        """
    )

    request_cols = """
        q.shop_id, q.order_id, q.sku_id, q.request_type_code AS orig_request_type,
        q.request_time AS anchor_time, q.return_reason, q.return_status, q.arbitration_status,
        q.item_price AS req_item_price, q.refund_amount, lower(trim(q.seller_decision)) AS seller_decision,
        q.seller_reject_reason, q.seller_response_time, q.return_shipped_time, q.return_delivered_time,
        q.seller_inspection_time, q.refund_time, q.buyer_dispute_time, q.platform_decision_time,
        coalesce(trim(q.return_tracking_id), '') <> '' AS has_return_tracking
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE policy_base AS
        SELECT q.return_order_id AS case_id,
               CASE WHEN q.request_type_code = 'replacement' THEN 'replacement' ELSE 'return_refund' END AS case_kind,
               coalesce(q.request_type_code, 'unknown') AS request_type,
               coalesce(q.request_type_code, 'none') AS requested_remedy,
               q.request_time AS request_time, TRUE AS request_found, {request_cols}
        FROM policy_request q
        UNION ALL BY NAME
        SELECT c.cancellation_id AS case_id, 'cancellation' AS case_kind, 'cancellation' AS request_type,
               'cancel_order' AS requested_remedy, c.request_time, c.request_time AS anchor_time,
               c.shop_id, c.order_id, lower(trim(c.requested_by)) AS requested_by, c.cancel_reason,
               c.cancel_status, c.cancelled_time, c.seller_response_time,
               lower(trim(c.seller_decision)) AS seller_decision,
               -- the cancellation export has no reject reason; its status text may carry one
               CASE WHEN lower(trim(c.seller_decision)) = 'rejected' THEN c.cancel_status END AS seller_reject_reason,
               TRUE AS request_found
        FROM stg_cancellations c
        QUALIFY row_number() OVER (PARTITION BY c.cancellation_id ORDER BY c.source_file DESC, c.line_number DESC) = 1
        UNION ALL BY NAME
        SELECT a.appeal_id AS case_id, 'appeal' AS case_kind, 'appeal' AS request_type,
               coalesce(q.request_type_code, 'none') AS requested_remedy,
               coalesce(a.submitted_time, a.appeal_available_time) AS request_time,
               q.return_order_id IS NOT NULL AS request_found,
               lower(trim(a.appeal_type)) AS appeal_type, a.appeal_status, a.appeal_reason,
               a.appeal_available_time, a.submitted_time AS appeal_submitted_time,
               {request_cols.replace("q.shop_id,", "a.shop_id AS shop_id,")}
        FROM stg_appeals a LEFT JOIN policy_request q ON q.return_order_id = a.return_order_id
        QUALIFY row_number() OVER (PARTITION BY a.appeal_id ORDER BY a.source_file DESC, a.line_number DESC) = 1;
        """
    )

    # Shop, pack, order, line and the cutoff; cases without a known shop are dropped here.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE policy_joined AS
        SELECT b.* EXCLUDE (shop_id, order_id),
               b.shop_id, b.order_id,
               s.market, s.program, coalesce(tz.name, 'UTC') AS shop_timezone, s.ship_from,
               o.order_id IS NOT NULL AS order_found, o.order_status, o.order_type,
               o.order_amount, o.created_time, o.paid_time, o.rts_time, o.shipped_time AS order_shipped_time,
               o.delivered_time AS order_delivered_time, o.order_cancelled_time, o.has_tracking AS order_has_tracking,
               o.package_count, o.fulfillment_type, o.shipping_provider, o.buyer_pseudonym,
               coalesce(l.product_category, o.product_category) AS product_category,
               l.quantity, l.shipped_time AS line_shipped_time, l.delivered_time AS line_delivered_time,
               coalesce(trim(l.tracking_id), '') <> '' AS line_has_tracking,
               coalesce(b.req_item_price, l.sku_subtotal_after_discount / nullif(l.quantity, 0),
                        l.sku_unit_original_price)::DECIMAL(18,2) AS line_item_price,
               timezone(coalesce(tz.name, 'UTC'), (?::DATE + 1)::TIMESTAMP) AS cutoff_time,
               ?::DATE AS batch_date
        FROM policy_base b
        JOIN stg_shops s ON s.shop_id = b.shop_id
        -- an unknown zone name must not abort the batch: such a shop is read in UTC
        LEFT JOIN (SELECT name FROM pg_timezone_names()) tz ON tz.name = s.timezone
        LEFT JOIN policy_order o ON o.shop_id = b.shop_id AND o.order_id = b.order_id
        LEFT JOIN policy_line l ON l.shop_id = b.shop_id AND l.order_id = b.order_id AND l.sku_id = b.sku_id
        """,
        [batch_date, batch_date],
    )

    # Evidence items of the judged cases (no file names: only what completeness needs).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {EVIDENCE_TABLE} AS
        SELECT e.case_id, lower(trim(e.submitted_by)) AS party, lower(trim(e.evidence_type)) AS evidence_type,
               e.uploaded_time, e.file_size_bytes, e.sha256, e.is_valid
        FROM stg_evidence e
        WHERE e.case_id IN (SELECT case_id FROM policy_joined)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE policy_case_evidence AS
        -- MATERIALIZED: computed once per item; inlined, the validity test (a regex) would be
        -- re-evaluated inside each of the ~50 filtered counts below.
        WITH e AS MATERIALIZED (
            SELECT e.case_id, e.party, e.evidence_type, {VALID_ITEM_SQL} AS valid,
                   e.uploaded_time IS NOT NULL AND e.uploaded_time <= j.cutoff_time AS on_time
            FROM {EVIDENCE_TABLE} e JOIN policy_joined j ON j.case_id = e.case_id
        )
        SELECT e.case_id,
            count(*) FILTER (WHERE on_time) AS evidence_items,
            count(*) FILTER (WHERE on_time AND NOT valid) AS evidence_invalid_items,
            {_evidence_pivot()}
        FROM e
        GROUP BY e.case_id
        """
    )

    handover = "CASE WHEN b.shipped_time <= b.anchor_time THEN b.shipped_time ELSE b.anchor_time END"
    rts_ref = (
        "CASE WHEN b.rts_time <= b.anchor_time THEN b.rts_time "
        "WHEN b.shipped_time <= b.anchor_time THEN b.shipped_time ELSE b.anchor_time END"
    )
    delivered_ref = "CASE WHEN b.delivered_time <= b.anchor_time THEN b.delivered_time ELSE b.anchor_time END"
    response_end = "CASE WHEN b.seller_responded THEN b.seller_response_time ELSE b.cutoff_time END"
    review_end = (
        "least(CASE WHEN b.seller_responded THEN b.seller_response_time END, "
        "CASE WHEN b.return_shipped_time <= b.cutoff_time THEN b.return_shipped_time END, b.cutoff_time)"
    )
    dispute_end = "CASE WHEN b.disputed THEN b.buyer_dispute_time ELSE b.cutoff_time END"
    appeal_end = "CASE WHEN b.appeal_submitted THEN b.appeal_submitted_time ELSE b.cutoff_time END"
    received_ref = "CASE WHEN b.return_delivered_time <= b.cutoff_time THEN b.return_delivered_time ELSE b.cutoff_time END"
    # Inspection is done at the first of: inspection time, a seller response or refund after receipt.
    inspection_end = (
        "least(CASE WHEN b.seller_inspection_time <= b.cutoff_time THEN b.seller_inspection_time END, "
        "CASE WHEN b.seller_response_time >= b.return_delivered_time AND b.seller_responded "
        "THEN b.seller_response_time END, "
        "CASE WHEN b.refund_time >= b.return_delivered_time AND b.refund_time <= b.cutoff_time "
        "THEN b.refund_time END, b.cutoff_time)"
    )
    dropoff_end = f"CASE WHEN b.case_kind = 'appeal' THEN {appeal_end} ELSE b.cutoff_time END"
    order_time = "coalesce(b.paid_time, b.created_time)"
    evidence_cols = ",\n            ".join(
        f"coalesce(ev.{evidence_column(p, t)}, 0)::INTEGER AS {evidence_column(p, t)}"
        for p in PARTIES
        for t in EVIDENCE_TYPES
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {CASE_TABLE} AS
        WITH b AS (
            SELECT j.*,
                   coalesce(j.line_shipped_time, j.order_shipped_time) AS shipped_time,
                   coalesce(j.line_delivered_time, j.order_delivered_time) AS delivered_time,
                   j.seller_response_time IS NOT NULL AND j.seller_response_time <= j.cutoff_time AS seller_responded,
                   j.buyer_dispute_time IS NOT NULL AND j.buyer_dispute_time <= j.cutoff_time AS disputed,
                   j.appeal_submitted_time IS NOT NULL AND j.appeal_submitted_time <= j.cutoff_time AS appeal_submitted,
                   {code_case("j.return_reason", RETURN_REASON_PATTERNS)} AS reason_code,
                   {code_case("j.cancel_reason", CANCEL_REASON_PATTERNS)} AS cancel_reason_code,
                   {code_case("j.seller_reject_reason", SELLER_REJECT_PATTERNS)} AS seller_reject_code
            FROM policy_joined j
        )
        SELECT
            b.case_id, b.case_kind, b.shop_id, b.order_id, b.market, b.program, NULL::VARCHAR AS pack_id,
            b.shop_timezone, b.ship_from, NULL::BOOLEAN AS is_mall, b.request_type, b.requested_remedy,
            b.request_time, {_local("b.request_time")}::DATE AS request_local_date,
            b.batch_date, b.cutoff_time,
            b.order_found, b.order_status, b.order_type,
            coalesce(lower(b.order_type) LIKE '%pre%', FALSE) AS is_pre_order,
            b.order_amount,
            CASE WHEN b.case_kind = 'cancellation' THEN coalesce(b.line_item_price, b.order_amount)
                 ELSE b.line_item_price END AS item_price,
            NULL::VARCHAR AS price_band,
            b.quantity, b.product_category, b.fulfillment_type, b.shipping_provider, b.package_count,
            coalesce(b.line_has_tracking OR b.order_has_tracking, FALSE) AS has_tracking,
            b.created_time, b.paid_time, b.rts_time, b.shipped_time, b.delivered_time,
            coalesce(b.delivered_time <= b.anchor_time, FALSE) AS delivered_at_request,
            coalesce(b.shipped_time <= b.anchor_time, FALSE) AS shipped_at_request,
            date_diff('day', {_local("b.delivered_time")}::DATE, {_local("b.anchor_time")}::DATE) AS days_from_delivered,
            {_hours(order_time, "b.anchor_time")} AS hours_from_paid,
            {_days(order_time, "b.anchor_time")} AS days_from_paid,
            {_days("b.shipped_time", "b.anchor_time")} AS days_from_shipped,
            bd_elapsed(b.market, {_local(order_time)}, {_local(handover)}) AS dispatch_bd,
            date_diff('day', {_local(order_time)}::DATE, {_local(handover)}::DATE) AS dispatch_calendar_days,
            {_hours(order_time, rts_ref)} AS rts_hours,
            bd_elapsed(b.market, {_local(order_time)}, {_local(delivered_ref)}) AS delivery_bd,
            b.return_reason, b.reason_code,
            NULL::VARCHAR AS reason_class,
            b.seller_decision, b.seller_reject_reason, b.seller_reject_code, b.seller_response_time,
            b.seller_responded,
            {_hours("b.anchor_time", response_end)} AS seller_response_hours,
            bd_elapsed(b.market, {_local("b.anchor_time")}, {_local(response_end)}) AS seller_response_bd,
            date_diff('day', {_local("b.anchor_time")}::DATE,
                      CASE WHEN b.seller_responded THEN {_local("b.seller_response_time")}::DATE
                           ELSE b.batch_date END) AS seller_response_days,
            {_hours("b.anchor_time", review_end)} AS review_hours,
            bd_elapsed(b.market, {_local("b.anchor_time")}, {_local(review_end)}) AS review_bd,
            date_diff('day', {_local("b.anchor_time")}::DATE,
                      CASE WHEN {review_end} < b.cutoff_time THEN {_local(review_end)}::DATE
                           ELSE b.batch_date END) AS review_days,
            b.return_status, b.arbitration_status, b.refund_amount,
            (b.refund_amount / nullif(b.line_item_price, 0))::DOUBLE AS refund_share,
            b.return_shipped_time, b.return_delivered_time, b.seller_inspection_time, b.refund_time,
            b.buyer_dispute_time, b.platform_decision_time, coalesce(b.has_return_tracking, FALSE) AS has_return_tracking,
            {_days("b.return_shipped_time", received_ref)} AS return_transit_days,
            bd_elapsed(b.market, {_local("b.return_delivered_time")}, {_local(inspection_end)}) AS inspection_bd,
            b.disputed,
            CASE WHEN b.seller_decision = 'rejected' THEN {_days("b.seller_response_time", dispute_end)} END AS dispute_days_after_rejection,
            CASE WHEN b.seller_decision = 'rejected' THEN {_hours("b.seller_response_time", dispute_end)} END AS dispute_hours_after_rejection,
            date_diff('day', {_local("b.delivered_time")}::DATE, {_local("b.buyer_dispute_time")}::DATE) AS dispute_days_from_delivered,
            b.requested_by, b.cancel_reason, b.cancel_reason_code,
            NULL::VARCHAR AS cancel_reason_class,
            b.cancel_status, coalesce(b.cancelled_time, b.order_cancelled_time) AS cancelled_time,
            b.appeal_type, b.appeal_status, b.appeal_reason, b.appeal_available_time, b.appeal_submitted_time,
            b.appeal_submitted, b.request_found,
            {_days("coalesce(b.appeal_available_time, b.platform_decision_time, b.refund_time)", appeal_end)} AS appeal_days_from_available,
            {_days("b.refund_time", appeal_end)} AS appeal_days_from_refund,
            {_days("b.refund_time", received_ref)} AS return_days_after_refund,
            CASE WHEN b.return_delivered_time IS NULL OR b.return_delivered_time > {dropoff_end}
                 THEN {_days("b.return_shipped_time", dropoff_end)} END AS return_days_after_dropoff,
            b.buyer_pseudonym, coalesce(pr.prior_requests, 0)::INTEGER AS buyer_prior_requests,
            coalesce(ev.evidence_items, 0)::INTEGER AS evidence_items,
            coalesce(ev.evidence_invalid_items, 0)::INTEGER AS evidence_invalid_items,
            {evidence_cols}
        FROM b
        LEFT JOIN policy_prior pr ON pr.return_order_id = (CASE WHEN b.case_kind = 'appeal' THEN NULL ELSE b.case_id END)
        LEFT JOIN policy_case_evidence ev ON ev.case_id = b.case_id
        """
    )
    apply_pack_settings(con, book)
    columns = [r[0] for r in con.execute(f"DESCRIBE {CASE_TABLE}").fetchall()]
    if tuple(columns) != FEATURE_NAMES:
        missing = sorted(set(FEATURE_NAMES) - set(columns))
        extra = sorted(set(columns) - set(FEATURE_NAMES))
        raise RuntimeError(
            f"case assembly drifted from the feature catalogue: missing {missing}, extra {extra}"
        )
    return con.execute(f"SELECT count(*) FROM {CASE_TABLE}").fetchone()[0]


def apply_pack_settings(con, book: RuleBook) -> None:
    """(Re)compute the features that depend on pack settings: pack, Mall status, price band, classes.

    Run after assembly, and again when stored cases are re-scored under candidate packs.
    """
    _load_pack_tables(con, book)
    con.execute(
        f"""
        UPDATE {CASE_TABLE} AS c SET
            pack_id = s.pack_id, is_mall = s.is_mall, price_band = s.price_band,
            reason_class = s.reason_class, cancel_reason_class = s.cancel_reason_class
        FROM (
            SELECT c.case_id, ps.pack_id, ms.shop_id IS NOT NULL AS is_mall,
                   CASE WHEN pb.pivot_price IS NULL OR c.item_price IS NULL THEN NULL
                        WHEN c.item_price > pb.pivot_price THEN 'high'
                        WHEN c.item_price < pb.pivot_price THEN 'low'
                        ELSE pb.pivot_band END AS price_band,
                   CASE WHEN c.reason_code IS NULL THEN NULL ELSE coalesce(rc.cls, 'unclassified') END AS reason_class,
                   CASE WHEN c.cancel_reason_code IS NULL THEN NULL
                        ELSE coalesce(cc.cls, 'unclassified') END AS cancel_reason_class
            FROM {CASE_TABLE} c
            LEFT JOIN policy_pack_scope ps ON ps.market = c.market AND ps.program = c.program
            LEFT JOIN policy_mall_shop ms ON ms.pack_id = ps.pack_id AND ms.shop_id = c.shop_id
            LEFT JOIN policy_price_band pb ON pb.pack_id = ps.pack_id
            LEFT JOIN policy_reason_class rc ON rc.pack_id = ps.pack_id AND rc.code = c.reason_code
            LEFT JOIN policy_cancel_class cc ON cc.pack_id = ps.pack_id AND cc.code = c.cancel_reason_code
        ) AS s
        WHERE c.case_id = s.case_id
        """
    )


def count_cases_without_shop(con) -> int:
    """Requests, cancellations and appeals whose shop is not in the registry (not judged)."""
    return con.execute(
        "SELECT count(*) FROM policy_base b WHERE NOT EXISTS (SELECT 1 FROM stg_shops s WHERE s.shop_id = b.shop_id)"
    ).fetchone()[0]
