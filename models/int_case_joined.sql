-- model: int_case_joined
-- stage: score
-- reads: int_case_base, stg_shops, int_case_orders, int_case_order_lines
-- materialized: temp
-- One row per case whose shop is in the registry, joined to its shop (market, program, zone),
-- order and SKU line, with the batch cutoff (24:00 of the batch date in the shop's zone).
SELECT b.* EXCLUDE (shop_id, order_id),
       b.shop_id, b.order_id,
       s.market, s.program, s.shop_timezone, s.ship_from,
       o.order_id IS NOT NULL AS order_found, o.order_status, o.order_type,
       o.order_amount, o.created_time, o.paid_time, o.rts_time, o.shipped_time AS order_shipped_time,
       o.delivered_time AS order_delivered_time, o.order_cancelled_time, o.has_tracking AS order_has_tracking,
       o.package_count, o.fulfillment_type, o.shipping_provider, o.buyer_pseudonym,
       coalesce(l.product_category, o.product_category) AS product_category,
       l.quantity, l.shipped_time AS line_shipped_time, l.delivered_time AS line_delivered_time,
       coalesce(trim(l.tracking_id), '') <> '' AS line_has_tracking,
       coalesce(b.req_item_price, l.sku_subtotal_after_discount / nullif(l.quantity, 0),
                l.sku_unit_original_price)::DECIMAL(18,2) AS line_item_price,
       s.cutoff_time,
       $batch_date::DATE AS batch_date
FROM int_case_base b
-- zone and cutoff once per shop, not per case (a zone that is a column costs ICU a calendar a row)
JOIN (
    SELECT s.shop_id, s.market, s.program, s.ship_from, coalesce(tz.name, 'UTC') AS shop_timezone,
           timezone(coalesce(tz.name, 'UTC'), ($batch_date::DATE + 1)::TIMESTAMP) AS cutoff_time
    FROM stg_shops s
    -- an unknown zone name must not abort the batch: such a shop is read in UTC
    LEFT JOIN (SELECT name FROM pg_timezone_names()) tz ON tz.name = s.timezone
) s ON s.shop_id = b.shop_id
LEFT JOIN int_case_orders o ON o.shop_id = b.shop_id AND o.order_id = b.order_id
LEFT JOIN int_case_order_lines l ON l.shop_id = b.shop_id AND l.order_id = b.order_id AND l.sku_id = b.sku_id
