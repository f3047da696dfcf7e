-- model: int_case_base
-- stage: score
-- reads: int_case_requests, stg_cancellations, stg_appeals
-- materialized: temp
-- One row per case (after-sales request, cancellation or appeal; latest export row wins) with
-- the request facts every kind shares, before the shop is known: cases whose shop is missing
-- from the registry are counted from here (`cases.count_cases_without_shop`).
SELECT q.return_order_id AS case_id,
       CASE WHEN q.request_type_code = 'replacement' THEN 'replacement' ELSE 'return_refund' END AS case_kind,
       coalesce(q.request_type_code, 'unknown') AS request_type,
       coalesce(q.request_type_code, 'none') AS requested_remedy,
       q.request_time AS request_time, TRUE AS request_found,
       q.shop_id, q.order_id, q.sku_id, q.request_type_code AS orig_request_type,
       q.request_time AS anchor_time, q.return_reason, q.return_status, q.arbitration_status,
       q.item_price AS req_item_price, q.refund_amount, lower(trim(q.seller_decision)) AS seller_decision,
       q.seller_reject_reason, q.seller_response_time, q.return_shipped_time, q.return_delivered_time,
       q.seller_inspection_time, q.refund_time, q.buyer_dispute_time, q.platform_decision_time,
       coalesce(trim(q.return_tracking_id), '') <> '' AS has_return_tracking
FROM int_case_requests q
UNION ALL BY NAME
SELECT c.cancellation_id AS case_id, 'cancellation' AS case_kind, 'cancellation' AS request_type,
       'cancel_order' AS requested_remedy, c.request_time, c.request_time AS anchor_time,
       c.shop_id, c.order_id, lower(trim(c.requested_by)) AS requested_by, c.cancel_reason,
       c.cancel_status, c.cancelled_time, c.seller_response_time,
       lower(trim(c.seller_decision)) AS seller_decision,
       -- the cancellation export has no reject reason; its status text may carry one
       CASE WHEN lower(trim(c.seller_decision)) = 'rejected' THEN c.cancel_status END AS seller_reject_reason,
       TRUE AS request_found
FROM stg_cancellations c
QUALIFY row_number() OVER (PARTITION BY c.cancellation_id ORDER BY c.source_file DESC, c.line_number DESC) = 1
UNION ALL BY NAME
SELECT a.appeal_id AS case_id, 'appeal' AS case_kind, 'appeal' AS request_type,
       coalesce(q.request_type_code, 'none') AS requested_remedy,
       coalesce(a.submitted_time, a.appeal_available_time) AS request_time,
       q.return_order_id IS NOT NULL AS request_found,
       lower(trim(a.appeal_type)) AS appeal_type, a.appeal_status, a.appeal_reason,
       a.appeal_available_time, a.submitted_time AS appeal_submitted_time,
       a.shop_id AS shop_id, q.order_id, q.sku_id, q.request_type_code AS orig_request_type,
       q.request_time AS anchor_time, q.return_reason, q.return_status, q.arbitration_status,
       q.item_price AS req_item_price, q.refund_amount, lower(trim(q.seller_decision)) AS seller_decision,
       q.seller_reject_reason, q.seller_response_time, q.return_shipped_time, q.return_delivered_time,
       q.seller_inspection_time, q.refund_time, q.buyer_dispute_time, q.platform_decision_time,
       coalesce(trim(q.return_tracking_id), '') <> '' AS has_return_tracking
FROM stg_appeals a LEFT JOIN int_case_requests q ON q.return_order_id = a.return_order_id
QUALIFY row_number() OVER (PARTITION BY a.appeal_id ORDER BY a.source_file DESC, a.line_number DESC) = 1
