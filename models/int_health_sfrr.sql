-- model: int_health_sfrr
-- stage: health
-- reads: int_health_windows, int_health_placed_orders, stg_aftersales_requests, rulings
-- materialized: temp
-- Seller-fault return rate per shop: orders with an after-sales request for a seller-fault reason
-- made in the window / orders placed in the window. Reasons in `seller_fault_reasons` always count;
-- reasons in `liability_reasons` (damaged, lost: the platform decides between seller and carrier,
-- row 34) count only when this batch's ruling holds the seller liable (`rulings`, written by the
-- scoring stage, is a declared input: the term is never dropped silently).
WITH requests AS (
    SELECT shop_id, return_order_id, any_value(order_id) AS order_id,
           replace(lower(trim(any_value(return_reason))), '’', '''') AS reason,
           min(request_time) AS request_time
    FROM stg_aftersales_requests
    GROUP BY shop_id, return_order_id
)
SELECT w.shop_id, 'sfrr' AS metric,
       (SELECT count(DISTINCT q.order_id) FROM requests AS q
        WHERE q.shop_id = w.shop_id AND q.request_time <= w.as_of
          AND CAST(shop_local(w.timezone, q.request_time) AS DATE) BETWEEN w.window_start AND w.window_end
          AND (list_contains(w.fault_reasons, q.reason)
               OR (list_contains(w.liability_reasons, q.reason)
                   AND EXISTS (SELECT 1 FROM rulings AS ru
                               WHERE ru.batch_date = CAST($batch_date AS DATE)
                                 AND ru.case_id = q.return_order_id AND ru.liable_party = 'seller')))) AS numerator,
       (SELECT count(*) FROM int_health_placed_orders AS p
        WHERE p.shop_id = w.shop_id AND p.metric = 'sfrr') AS denominator
FROM int_health_windows AS w
WHERE w.metric = 'sfrr'
