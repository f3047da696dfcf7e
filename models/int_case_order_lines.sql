-- model: int_case_order_lines
-- stage: score
-- reads: stg_order_lines, stg_aftersales_requests, stg_cancellations
-- materialized: temp
-- One row per ordered SKU line (shop, order, SKU; the latest export row wins) of an order some
-- case refers to: appeals reach theirs through the request, so the de-duplication window runs
-- over a fraction of the order lines, and only the columns case assembly reads (the export has 50).
SELECT shop_id, order_id, sku_id, source_file, line_number,
       order_amount, order_status, order_type, created_time, paid_time, rts_time,
       shipped_time, delivered_time, cancelled_time, tracking_id, package_id,
       fulfillment_type, shipping_provider_name, buyer_pseudonym, product_category,
       quantity, sku_subtotal_after_discount, sku_unit_original_price
FROM stg_order_lines
WHERE order_id IN (SELECT order_id FROM stg_aftersales_requests
                   UNION SELECT order_id FROM stg_cancellations)
QUALIFY row_number() OVER (PARTITION BY shop_id, order_id, sku_id
                           ORDER BY source_file DESC, line_number DESC) = 1
