-- model: int_health_chat_reply_rate
-- stage: health
-- reads: int_health_windows, sla_obligations
-- materialized: temp
-- Chat reply rate per shop: customer-initiated waits answered by their due time / waits whose due
-- time fell in the window and has passed (open waits are not counted yet).
SELECT w.shop_id, 'chat_reply_rate' AS metric,
       count(*) FILTER (WHERE ob.met_at <= ob.due_at) AS numerator, count(*) AS denominator
FROM int_health_windows AS w
JOIN sla_obligations AS ob ON ob.shop_id = w.shop_id AND ob.sla_id = 'chat_reply'
WHERE w.metric = 'chat_reply_rate' AND ob.due_at <= ob.as_of
  AND ob.due_local_date BETWEEN w.window_start AND w.window_end
GROUP BY w.shop_id
