-- model: int_case_orders
-- stage: score
-- reads: int_case_order_lines
-- materialized: temp
-- One row per order some case refers to: order-level facts taken once (the amount repeats on
-- every SKU line and is never summed), milestones as the earliest line's, delivery only when
-- every line is delivered.
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
FROM int_case_order_lines GROUP BY shop_id, order_id
