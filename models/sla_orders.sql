-- model: sla_orders
-- stage: sla
-- reads: stg_order_lines, int_sla_shops
-- One row per order, folded from its SKU lines as of the shop's as-of instant: when it was created,
-- paid, ready to ship, shipped, cancelled. Order clocks start and end on these events, and the
-- health stage counts placed and cancelled orders from them (a declared output of the SLA stage,
-- kept in the work database, never published).
-- An order is ready-to-ship / shipped when every line still live (not cancelled by as_of) is; a
-- line shipped without an RTS stamp was ready when it shipped. An order is cancelled when all its
-- lines are. `was_paid` tells real orders from unpaid ones (cancelled by the system before payment).
WITH lines AS (
    SELECT l.shop_id, l.order_id, l.order_type,
           CASE WHEN l.created_time <= s.as_of THEN l.created_time END AS created_at,
           CASE WHEN l.paid_time <= s.as_of THEN l.paid_time END AS paid_at,
           CASE WHEN least(l.rts_time, l.shipped_time) <= s.as_of THEN least(l.rts_time, l.shipped_time) END AS rts_at,
           CASE WHEN l.shipped_time <= s.as_of THEN l.shipped_time END AS shipped_at,
           CASE WHEN l.cancelled_time <= s.as_of THEN l.cancelled_time END AS cancelled_at
    FROM stg_order_lines AS l JOIN int_sla_shops AS s USING (shop_id)
), folded AS (
    SELECT shop_id, order_id,
           max(order_type) AS order_type,
           min(created_at) AS created_at,
           min(paid_at) AS paid_at,
           min(paid_at) IS NOT NULL AS was_paid,
           count(*) AS lines,
           count(*) FILTER (WHERE cancelled_at IS NULL) AS live_lines,
           count(*) FILTER (WHERE cancelled_at IS NULL AND rts_at IS NOT NULL) AS live_rts,
           count(*) FILTER (WHERE cancelled_at IS NULL AND shipped_at IS NOT NULL) AS live_shipped,
           max(rts_at) FILTER (WHERE cancelled_at IS NULL) AS last_rts_at,
           max(shipped_at) FILTER (WHERE cancelled_at IS NULL) AS last_shipped_at,
           max(cancelled_at) AS last_cancelled_at
    FROM lines
    GROUP BY shop_id, order_id
)
SELECT CAST($batch_date AS DATE) AS batch_date, shop_id, order_id, order_type, created_at, was_paid,
       coalesce(paid_at, created_at) AS paid_at,
       CASE WHEN live_lines > 0 AND live_rts = live_lines THEN last_rts_at END AS rts_at,
       CASE WHEN live_lines > 0 AND live_shipped = live_lines THEN last_shipped_at END AS shipped_at,
       CASE WHEN live_lines = 0 THEN last_cancelled_at END AS cancelled_at
FROM folded
