-- model: int_sla_appeals
-- stage: sla
-- reads: stg_appeals, int_sla_shops, int_sla_requests
-- materialized: temp
-- One row per appeal with its dated events by the shop's as-of instant. The seller's appeal right
-- opens when the appeal becomes available (the outcome); when the export leaves that empty, the
-- platform's decision on the underlying request stands in.
WITH a AS (
    SELECT a.shop_id, a.appeal_id AS entity_id, any_value(a.return_order_id) AS return_order_id,
           min(a.appeal_available_time) FILTER (WHERE a.appeal_available_time <= s.as_of) AS appeal_available,
           min(a.submitted_time) FILTER (WHERE a.submitted_time <= s.as_of) AS appeal_submitted
    FROM stg_appeals AS a JOIN int_sla_shops AS s USING (shop_id)
    GROUP BY a.shop_id, a.appeal_id
)
SELECT a.shop_id, a.entity_id, coalesce(a.appeal_available, r.platform_decision) AS appeal_available,
       r.refund, a.appeal_submitted
FROM a LEFT JOIN int_sla_requests AS r ON r.shop_id = a.shop_id AND r.entity_id = a.return_order_id
