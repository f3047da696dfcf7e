-- model: int_health_sfcr
-- stage: health
-- reads: int_health_windows, int_health_placed_orders, sla_obligations, stg_order_lines, stg_cancellations
-- materialized: temp
-- Seller-fault cancellation rate per shop: seller-fault cancelled orders / orders placed in the
-- window. An order is seller-fault cancelled, as of the batch, when one of its lines was cancelled
-- by a party in `seller_fault.cancel_by`; or by the buyer with a reason in
-- `seller_fault.buyer_reasons` (TH: "Late shipment"); or by the system with a reason in
-- `seller_fault.system_reasons` or after one of the order's `seller_fault.system_after_missed`
-- clocks had passed unmet; or when the seller itself requested the cancellation
-- (stg_cancellations). Labels compare case-insensitively with typographic apostrophes folded.
WITH missed AS (   -- per order, the earliest due instant of a system_after_missed clock that passed unmet
    SELECT ob.shop_id, ob.entity_id AS order_id, min(ob.due_at) AS first_missed_due
    FROM int_health_windows AS w
    JOIN sla_obligations AS ob ON ob.shop_id = w.shop_id AND ob.entity_kind = 'order'
    WHERE w.metric = 'sfcr' AND list_contains(w.system_after_missed, ob.sla_id)
      AND (ob.met_at IS NULL OR ob.met_at > ob.due_at)
    GROUP BY ob.shop_id, ob.entity_id
), cancelled_lines AS (
    SELECT shop_id, order_id, cancelled_time,
           replace(lower(trim(cancel_by)), '’', '''') AS cancel_by,
           replace(lower(trim(cancel_reason)), '’', '''') AS cancel_reason
    FROM stg_order_lines
), seller_cancelled AS (
    SELECT DISTINCT w.shop_id, l.order_id
    FROM int_health_windows AS w
    JOIN cancelled_lines AS l ON l.shop_id = w.shop_id
    LEFT JOIN missed AS ms ON ms.shop_id = l.shop_id AND ms.order_id = l.order_id
    WHERE w.metric = 'sfcr' AND l.cancelled_time <= w.as_of AND (
          list_contains(w.cancel_by, l.cancel_by)
       OR (l.cancel_by = 'buyer' AND list_contains(w.buyer_reasons, l.cancel_reason))
       OR (l.cancel_by = 'system' AND list_contains(w.system_reasons, l.cancel_reason))
       OR (l.cancel_by = 'system' AND ms.first_missed_due <= l.cancelled_time))
    UNION
    SELECT w.shop_id, c.order_id
    FROM int_health_windows AS w
    JOIN stg_cancellations AS c ON c.shop_id = w.shop_id
    WHERE w.metric = 'sfcr' AND replace(lower(trim(c.requested_by)), '’', '''') = 'seller'
      AND c.cancelled_time <= w.as_of
)
SELECT p.shop_id, 'sfcr' AS metric, count(sc.order_id) AS numerator, count(*) AS denominator
FROM int_health_placed_orders AS p LEFT JOIN seller_cancelled AS sc USING (shop_id, order_id)
WHERE p.metric = 'sfcr'
GROUP BY p.shop_id
