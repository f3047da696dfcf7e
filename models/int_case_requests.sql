-- model: int_case_requests
-- stage: score
-- reads: stg_aftersales_requests
-- materialized: temp
-- One row per after-sales request (Return Order ID): the export row that has progressed
-- furthest wins, then the latest file and line; the export's Return Type label becomes a code
-- (contract §2.3).
SELECT r.*,
       CASE lower(trim(r.return_type))
            WHEN 'refund only' THEN 'refund_only'
            WHEN 'return and refund' THEN 'return_and_refund'
            WHEN 'replacement' THEN 'replacement'
            WHEN 'partial refund' THEN 'partial_refund'
            ELSE NULL END AS request_type_code,
       row_number() OVER () AS _rn
FROM stg_aftersales_requests r
QUALIFY row_number() OVER (
    PARTITION BY r.return_order_id
    ORDER BY (r.seller_response_time IS NOT NULL)::INT + (r.return_shipped_time IS NOT NULL)::INT
             + (r.return_delivered_time IS NOT NULL)::INT + (r.refund_time IS NOT NULL)::INT
             + (r.buyer_dispute_time IS NOT NULL)::INT + (r.platform_decision_time IS NOT NULL)::INT DESC,
             r.source_file DESC, r.line_number DESC) = 1
