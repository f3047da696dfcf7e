-- model: int_health_placed_orders
-- stage: health
-- reads: int_health_windows, sla_orders
-- materialized: temp
-- One row per (shop, metric, order) placed (created, shop-local date) in the metric's window: the
-- denominator of sfcr and sfrr. An order cancelled before it was ever paid is not an order and
-- counts nowhere.
SELECT w.shop_id, w.metric, o.order_id
FROM int_health_windows AS w JOIN sla_orders AS o ON o.shop_id = w.shop_id
WHERE w.metric IN ('sfcr', 'sfrr')
  AND CAST(shop_local(w.timezone, o.created_at) AS DATE) BETWEEN w.window_start AND w.window_end
  AND (o.was_paid OR o.cancelled_at IS NULL)
