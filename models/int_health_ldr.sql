-- model: int_health_ldr
-- stage: health
-- reads: int_health_windows, sla_obligations
-- materialized: temp
-- Late dispatch rate per shop: orders whose carrier hand-over came after the dispatch deadline /
-- orders handed over (shipped, shop-local date) in the window. Uses the dispatch clocks met by
-- `order_shipped` (in SEA the hand-over step, not ready-to-ship); orders with no dispatch clock in
-- force (pre-orders, no rule) are in neither count.
SELECT w.shop_id, 'ldr' AS metric,
       count(*) FILTER (WHERE ob.met_at > ob.due_at) AS numerator, count(*) AS denominator
FROM int_health_windows AS w
JOIN sla_obligations AS ob
  ON ob.shop_id = w.shop_id AND ob.sla_id = 'dispatch' AND list_contains(ob.end_events, 'order_shipped')
WHERE w.metric = 'ldr' AND ob.status <> 'void' AND ob.met_at IS NOT NULL
  AND CAST(shop_local(w.timezone, ob.met_at) AS DATE) BETWEEN w.window_start AND w.window_end
GROUP BY w.shop_id
