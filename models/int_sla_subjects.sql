-- model: int_sla_subjects
-- stage: sla
-- reads: sla_orders, int_sla_requests, int_sla_cancellations, int_sla_appeals, int_sla_chat_waits
-- materialized: temp
-- One row per entity ("subject": order, request, cancellation, appeal, buyer wait) with every dated
-- event of it as a column named after the event (the vocabulary of `clocks.SLA_CATALOGUE`; NULL =
-- did not happen by as_of). Clocks read their start, end and void times from this one row, so no
-- long event table is joined back per clock. `subject_id` is a small join key for the clocks.
SELECT CAST(row_number() OVER () AS INTEGER) AS subject_id, *
FROM (
    SELECT shop_id, 'order' AS entity_kind, order_id AS entity_id, NULL::DECIMAL(18, 2) AS item_price,
           order_type, created_at AS order_created, paid_at AS order_paid, rts_at AS order_rts,
           shipped_at AS order_shipped, cancelled_at AS order_cancelled
    FROM sla_orders
    UNION ALL BY NAME
    SELECT shop_id, 'request' AS entity_kind, entity_id, item_price, request_created, seller_response,
           seller_rejected, return_delivered, seller_inspection, refund, buyer_dispute, platform_decision
    FROM int_sla_requests
    UNION ALL BY NAME
    SELECT shop_id, 'cancellation' AS entity_kind, entity_id, buyer_cancel_requested, seller_response,
           cancelled, order_shipped
    FROM int_sla_cancellations
    UNION ALL BY NAME
    SELECT shop_id, 'appeal' AS entity_kind, entity_id, appeal_available, refund, appeal_submitted
    FROM int_sla_appeals
    UNION ALL BY NAME
    SELECT shop_id, 'message' AS entity_kind, entity_id, started_at AS buyer_wait_started,
           replied_at AS seller_reply
    FROM int_sla_chat_waits
)
