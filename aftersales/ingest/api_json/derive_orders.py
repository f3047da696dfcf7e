"""Order SKU lines (contract 2.2) from API order records.

`line_items` has one element per unit: one SKU line per distinct `sku_id`, Quantity = its element
count, line amounts summed over its elements, the unit price taken from its first element.
Shipped Time is `collection_time`; without it, the earliest line `rts_time` with a tracking
number, but only when the order's status shows the parcel left (in transit, delivered,
completed): a label printed for a parcel still waiting for the carrier is not a shipment.
Personal data: only `user_id` is carried (as "Buyer Username", pseudonymised by the typing
SELECT); `buyer_email`, `buyer_nickname`, `buyer_message` and `recipient_address` are never read.

Each order is parsed once (`json_transform` into a struct of the fields read, lenient: a field
of another type reads as NULL), not once per field and unit.
"""

from __future__ import annotations

import json

from aftersales.ingest.api_json import api_vocabulary as v
from aftersales.ingest.api_json.json_fields import instant_text

_LINE_FIELDS = (
    "id", "sku_id", "seller_sku", "product_name", "sku_name", "original_price", "sale_price",
    "platform_discount", "seller_discount", "package_id", "tracking_number", "shipping_provider_name",
    "sku_type", "product_category", "rts_time",
)  # fmt: skip
_ORDER_FIELDS = (
    "status", "user_id", "create_time", "paid_time", "rts_time", "collection_time", "delivery_time",
    "cancel_time", "cancellation_initiator", "cancel_reason", "fulfillment_type", "tracking_number",
    "delivery_option_name", "shipping_provider", "payment_method_name",
)  # fmt: skip
_PAYMENT_FIELDS = (
    "shipping_fee", "original_shipping_fee", "shipping_fee_seller_discount", "shipping_fee_platform_discount",
    "tax", "total_amount",
)  # fmt: skip
ORDER_STRUCTURE = json.dumps(
    {f: "VARCHAR" for f in _ORDER_FIELDS}
    | {
        "payment": {f: "VARCHAR" for f in _PAYMENT_FIELDS},
        "line_items": [{f: "VARCHAR" for f in _LINE_FIELDS}],
    }
)


def _t(expr: str) -> str:
    return f"NULLIF(trim({expr}), '')"


def _time(expr: str) -> str:
    """Unix seconds text -> ISO 8601 UTC; a value that is no unix time kept as written."""
    x = _t(expr)
    return (
        f"CASE WHEN {x} IS NULL OR {x} = '0' THEN NULL "
        f"WHEN TRY_CAST({x} AS BIGINT) IS NOT NULL THEN {instant_text(f'TRY_CAST({x} AS BIGINT)')} ELSE {x} END"
    )


def _sum(field: str) -> str:
    """Sum of a money string over a SKU's elements, as text; kept as written when one is no number."""
    x = _t(f"li.{field}")
    return (
        f"CASE WHEN count({x}) = 0 THEN NULL "
        f"WHEN count({x}) = count(TRY_CAST({x} AS DECIMAL(18, 2))) "
        f"THEN CAST(sum(TRY_CAST({x} AS DECIMAL(18, 2))) AS VARCHAR) "
        f"ELSE min({x}) FILTER (WHERE TRY_CAST({x} AS DECIMAL(18, 2)) IS NULL) END"
    )


def _first(field: str) -> str:
    return f"arg_min({_t(f'li.{field}')}, n)"


def orders_select() -> str:
    rts = f"NULLIF(TRY_CAST({_t('li.rts_time')} AS BIGINT), 0)"
    return f"""
    WITH o AS (
        SELECT file, ord, key AS order_id, json_transform(rec, '{ORDER_STRUCTURE}') AS r
        FROM api_versions WHERE shape = 'order' AND rank = 1),
    units AS (
        SELECT file, ord, order_id, unnest(range(1, len(r.line_items) + 1)) AS n, unnest(r.line_items) AS li
        FROM o WHERE len(r.line_items) > 0),
    lines AS (
        SELECT file, ord, order_id, {_t("li.sku_id")} AS sku_id, min(n) AS first_n, count(*) AS quantity,
               {_first("seller_sku")} AS seller_sku, {_first("product_name")} AS product_name,
               {_first("sku_name")} AS sku_name, {_first("original_price")} AS unit_price,
               {_sum("original_price")} AS before_discount, {_sum("platform_discount")} AS platform_discount,
               {_sum("seller_discount")} AS seller_discount, {_sum("sale_price")} AS after_discount,
               {_first("package_id")} AS package_id, {_first("tracking_number")} AS tracking_number,
               {_first("shipping_provider_name")} AS provider, {_first("sku_type")} AS sku_type,
               {_first("product_category")} AS category, min({rts}) AS line_rts,
               min({rts}) FILTER (WHERE {_t("li.tracking_number")} IS NOT NULL) AS tracked_rts
        FROM units GROUP BY file, ord, order_id, sku_id)
    SELECT l.file, l.ord, l.first_n AS sub,
        l.order_id AS "Order ID",
        {v.mapped_sql(_t("r.status"), v.ORDER_STATUSES)} AS "Order Status",
        {v.mapped_sql("sku_type", v.SKU_TYPES)} AS "Normal or Pre-order",
        sku_id AS "SKU ID",
        seller_sku AS "Seller SKU",
        product_name AS "Product Name",
        sku_name AS "Variation",
        CAST(quantity AS VARCHAR) AS "Quantity",
        unit_price AS "SKU Unit Original Price",
        before_discount AS "SKU Subtotal Before Discount",
        platform_discount AS "SKU Platform Discount",
        seller_discount AS "SKU Seller Discount",
        after_discount AS "SKU Subtotal After Discount",
        {_t("r.payment.shipping_fee")} AS "Shipping Fee After Discount",
        {_t("r.payment.original_shipping_fee")} AS "Original Shipping Fee",
        {_t("r.payment.shipping_fee_seller_discount")} AS "Shipping Fee Seller Discount",
        {_t("r.payment.shipping_fee_platform_discount")} AS "Shipping Fee Platform Discount",
        {_t("r.payment.tax")} AS "Taxes",
        {_t("r.payment.total_amount")} AS "Order Amount",
        {_time("r.create_time")} AS "Created Time",
        {_time("r.paid_time")} AS "Paid Time",
        coalesce({instant_text("line_rts")}, {_time("r.rts_time")}) AS "RTS Time",
        coalesce({_time("r.collection_time")},
                 CASE WHEN {v.in_sql(_t("r.status"), v.ORDER_LEFT_WAREHOUSE)} THEN {instant_text("tracked_rts")} END)
            AS "Shipped Time",
        {_time("r.delivery_time")} AS "Delivered Time",
        {_time("r.cancel_time")} AS "Cancelled Time",
        {v.mapped_sql(_t("r.cancellation_initiator"), v.CANCEL_INITIATORS)} AS "Cancel By",
        {_t("r.cancel_reason")} AS "Cancel Reason",
        {v.mapped_sql(_t("r.fulfillment_type"), v.FULFILLMENT_TYPES)} AS "Fulfillment Type",
        coalesce(tracking_number, {_t("r.tracking_number")}) AS "Tracking ID",
        {_t("r.delivery_option_name")} AS "Delivery Option",
        coalesce(provider, {_t("r.shipping_provider")}) AS "Shipping Provider Name",
        {_t("r.user_id")} AS "Buyer Username",
        {_t("r.payment_method_name")} AS "Payment Method",
        category AS "Product Category",
        package_id AS "Package ID"
    FROM lines AS l JOIN o USING (file, ord)"""
