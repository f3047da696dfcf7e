-- model: int_sla_cancellations
-- stage: sla
-- reads: stg_cancellations, stg_order_lines, int_sla_shops
-- materialized: temp
-- One row per cancellation request with its dated events by the shop's as-of instant. It needs
-- the seller's answer only when the buyer asked (an empty "Requested By" is read as the buyer: the
-- export lists buyers' requests); uploading tracking (RTS or shipment of the order at or after the
-- request) answers it too.
WITH c AS (
    SELECT c.shop_id, c.cancellation_id AS entity_id, any_value(c.order_id) AS order_id,
           min(c.request_time) FILTER (WHERE c.request_time <= s.as_of
               AND lower(coalesce(trim(c.requested_by), 'buyer')) = 'buyer') AS buyer_cancel_requested,
           min(c.seller_response_time) FILTER (WHERE c.seller_response_time <= s.as_of) AS seller_response,
           min(c.cancelled_time) FILTER (WHERE c.cancelled_time <= s.as_of) AS cancelled,
           any_value(s.as_of) AS as_of
    FROM stg_cancellations AS c JOIN int_sla_shops AS s USING (shop_id)
    GROUP BY c.shop_id, c.cancellation_id
)
SELECT c.shop_id, c.entity_id, c.buyer_cancel_requested, c.seller_response, c.cancelled,
       (SELECT min(least(l.rts_time, l.shipped_time)) FROM stg_order_lines AS l
        WHERE l.shop_id = c.shop_id AND l.order_id = c.order_id
          AND least(l.rts_time, l.shipped_time) >= c.buyer_cancel_requested
          AND least(l.rts_time, l.shipped_time) <= c.as_of) AS order_shipped
FROM c
