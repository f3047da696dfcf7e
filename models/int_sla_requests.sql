-- model: int_sla_requests
-- stage: sla
-- reads: stg_aftersales_requests, int_sla_shops
-- materialized: temp
-- One row per after-sales request with the earliest time of each of its events by the shop's
-- as-of instant (exports overlap from day to day, so a request is folded over all its rows).
SELECT r.shop_id, r.return_order_id AS entity_id,
       max(r.item_price) AS item_price,
       min(r.request_time) FILTER (WHERE r.request_time <= s.as_of) AS request_created,
       min(r.seller_response_time) FILTER (WHERE r.seller_response_time <= s.as_of) AS seller_response,
       min(r.seller_response_time) FILTER (WHERE r.seller_response_time <= s.as_of
                                             AND lower(trim(r.seller_decision)) = 'rejected') AS seller_rejected,
       min(r.return_delivered_time) FILTER (WHERE r.return_delivered_time <= s.as_of) AS return_delivered,
       min(r.seller_inspection_time) FILTER (WHERE r.seller_inspection_time <= s.as_of) AS seller_inspection,
       min(r.refund_time) FILTER (WHERE r.refund_time <= s.as_of) AS refund,
       min(r.buyer_dispute_time) FILTER (WHERE r.buyer_dispute_time <= s.as_of) AS buyer_dispute,
       min(r.platform_decision_time) FILTER (WHERE r.platform_decision_time <= s.as_of) AS platform_decision
FROM stg_aftersales_requests AS r JOIN int_sla_shops AS s USING (shop_id)
GROUP BY r.shop_id, r.return_order_id
