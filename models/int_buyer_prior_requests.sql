-- model: int_buyer_prior_requests
-- stage: score
-- reads: int_case_requests, int_case_orders
-- materialized: temp
-- One row per after-sales request of a known buyer: how many earlier requests the same buyer
-- pseudonym made at the same shop (feature buyer_prior_requests; keyed pseudonym only, never the
-- buyer). Per shop, like every case fact: shops are independent, so a shard of shops computes it
-- alone, and a Return Order ID is only unique within its shop.
SELECT q.shop_id,
       q.return_order_id,
       -- return_order_id breaks ties: two requests of one buyer in the same second
       -- would otherwise count each other in an arbitrary order
       count(*) OVER (PARTITION BY q.shop_id, o.buyer_pseudonym ORDER BY q.request_time, q.return_order_id
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prior_requests
FROM int_case_requests q JOIN int_case_orders o USING (shop_id, order_id)
WHERE o.buyer_pseudonym IS NOT NULL
