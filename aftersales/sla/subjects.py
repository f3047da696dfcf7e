"""What the clocks run on: shops with their as-of instant, and the dated events of every entity.

Builds, on one DuckDB connection over the staging tables, the TEMP tables every clock reads:

- `sla_shops`    shop_id, market, program, timezone, chatbots_enabled, as_of
                 (as_of = end of batch_date, 24:00, in the shop's zone: contract §1)
- `sla_orders`   order-level facts folded from SKU lines (see `ORDERS_SQL`)
- `sla_subjects` one row per entity: (subject_id, shop_id, entity_kind, entity_id, item_price,
                 order_type, then one TIMESTAMPTZ column per event name of `SUBJECT_EVENTS`)

Event names are the vocabulary of `clocks.SLA_CATALOGUE`. Only events at or before the shop's
as-of instant exist: a batch sees the world as it was at the end of its date, so re-running an
old date on a later export gives the same answer. Exports overlap from day to day, so every
entity is folded over all of its staging rows (earliest time of each event).
"""

from __future__ import annotations

import datetime as dt

from aftersales.sla.chat import install_chat_waits

SHOPS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_shops AS
SELECT shop_id, market, program, timezone, chatbots_enabled,
       timezone(timezone, CAST(CAST(? AS DATE) + 1 AS TIMESTAMP)) AS as_of
FROM stg_shops
"""

# Order-level facts. An order is ready-to-ship / shipped when every line that is still live
# (not cancelled as of as_of) is; a line shipped without an RTS stamp was ready when it shipped.
# An order is cancelled when all its lines are. `was_paid` tells real orders from unpaid ones
# (cancelled by the system before payment), which health metrics leave out.
ORDERS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_orders AS
WITH lines AS (
    SELECT l.shop_id, l.order_id, l.order_type,
           CASE WHEN l.created_time <= s.as_of THEN l.created_time END AS created_at,
           CASE WHEN l.paid_time <= s.as_of THEN l.paid_time END AS paid_at,
           CASE WHEN least(l.rts_time, l.shipped_time) <= s.as_of THEN least(l.rts_time, l.shipped_time) END AS rts_at,
           CASE WHEN l.shipped_time <= s.as_of THEN l.shipped_time END AS shipped_at,
           CASE WHEN l.cancelled_time <= s.as_of THEN l.cancelled_time END AS cancelled_at
    FROM stg_order_lines AS l JOIN sla_shops AS s USING (shop_id)
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
SELECT shop_id, order_id, order_type, created_at, was_paid,
       coalesce(paid_at, created_at) AS paid_at,
       CASE WHEN live_lines > 0 AND live_rts = live_lines THEN last_rts_at END AS rts_at,
       CASE WHEN live_lines > 0 AND live_shipped = live_lines THEN last_shipped_at END AS shipped_at,
       CASE WHEN live_lines = 0 THEN last_cancelled_at END AS cancelled_at
FROM folded
"""

REQUESTS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_requests AS
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
FROM stg_aftersales_requests AS r JOIN sla_shops AS s USING (shop_id)
GROUP BY r.shop_id, r.return_order_id
"""

# A cancellation request needs the seller's answer only when the buyer asked (an empty
# "Requested By" is read as the buyer: the export lists buyers' requests). Uploading tracking
# (RTS or shipment of the order at or after the request) answers it too.
CANCELLATIONS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_cancellations AS
WITH c AS (
    SELECT c.shop_id, c.cancellation_id AS entity_id, any_value(c.order_id) AS order_id,
           min(c.request_time) FILTER (WHERE c.request_time <= s.as_of
               AND lower(coalesce(trim(c.requested_by), 'buyer')) = 'buyer') AS buyer_cancel_requested,
           min(c.seller_response_time) FILTER (WHERE c.seller_response_time <= s.as_of) AS seller_response,
           min(c.cancelled_time) FILTER (WHERE c.cancelled_time <= s.as_of) AS cancelled,
           any_value(s.as_of) AS as_of
    FROM stg_cancellations AS c JOIN sla_shops AS s USING (shop_id)
    GROUP BY c.shop_id, c.cancellation_id
)
SELECT c.shop_id, c.entity_id, c.buyer_cancel_requested, c.seller_response, c.cancelled,
       (SELECT min(least(l.rts_time, l.shipped_time)) FROM stg_order_lines AS l
        WHERE l.shop_id = c.shop_id AND l.order_id = c.order_id
          AND least(l.rts_time, l.shipped_time) >= c.buyer_cancel_requested
          AND least(l.rts_time, l.shipped_time) <= c.as_of) AS order_shipped
FROM c
"""

# The seller's appeal right opens when the appeal becomes available (the outcome); when the
# export leaves that empty, the platform's decision on the underlying request stands in.
APPEALS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_appeals AS
WITH a AS (
    SELECT a.shop_id, a.appeal_id AS entity_id, any_value(a.return_order_id) AS return_order_id,
           min(a.appeal_available_time) FILTER (WHERE a.appeal_available_time <= s.as_of) AS appeal_available,
           min(a.submitted_time) FILTER (WHERE a.submitted_time <= s.as_of) AS appeal_submitted
    FROM stg_appeals AS a JOIN sla_shops AS s USING (shop_id)
    GROUP BY a.shop_id, a.appeal_id
)
SELECT a.shop_id, a.entity_id, coalesce(a.appeal_available, r.platform_decision) AS appeal_available,
       r.refund, a.appeal_submitted
FROM a LEFT JOIN sla_requests AS r ON r.shop_id = a.shop_id AND r.entity_id = a.return_order_id
"""

# One row per entity ("subject") with every dated event of it as a column named after the event
# (the vocabulary of `clocks.SLA_CATALOGUE`; NULL = did not happen by as_of). Clocks read their
# start, end and void times from the same row, so no long event table is joined back per clock.
SUBJECTS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_subjects AS
SELECT CAST(row_number() OVER () AS INTEGER) AS subject_id, *
FROM (
    SELECT shop_id, 'order' AS entity_kind, order_id AS entity_id, NULL::DECIMAL(18, 2) AS item_price,
           order_type, created_at AS order_created, paid_at AS order_paid, rts_at AS order_rts,
           shipped_at AS order_shipped, cancelled_at AS order_cancelled
    FROM sla_orders
    UNION ALL BY NAME
    SELECT shop_id, 'request' AS entity_kind, entity_id, item_price, request_created, seller_response,
           seller_rejected, return_delivered, seller_inspection, refund, buyer_dispute, platform_decision
    FROM sla_requests
    UNION ALL BY NAME
    SELECT shop_id, 'cancellation' AS entity_kind, entity_id, buyer_cancel_requested, seller_response,
           cancelled, order_shipped
    FROM sla_cancellations
    UNION ALL BY NAME
    SELECT shop_id, 'appeal' AS entity_kind, entity_id, appeal_available, refund, appeal_submitted
    FROM sla_appeals
    UNION ALL BY NAME
    SELECT shop_id, 'message' AS entity_kind, entity_id, started_at AS buyer_wait_started,
           replied_at AS seller_reply
    FROM sla_chat_waits
)
"""

# The event columns of `sla_subjects`: every event name of the clock vocabulary.
SUBJECT_EVENTS: tuple[str, ...] = (
    "order_created",
    "order_paid",
    "order_rts",
    "order_shipped",
    "order_cancelled",
    "request_created",
    "seller_response",
    "seller_rejected",
    "return_delivered",
    "seller_inspection",
    "refund",
    "buyer_dispute",
    "platform_decision",
    "buyer_cancel_requested",
    "cancelled",
    "appeal_available",
    "appeal_submitted",
    "buyer_wait_started",
    "seller_reply",
)


def install_shops(con, batch_date: dt.date) -> None:
    """Create sla_shops: every shop with its as-of instant for `batch_date`."""
    con.execute(SHOPS_SQL, [batch_date])


def install_subjects(con, batch_date: dt.date) -> None:
    """Create sla_shops, the per-family tables, sla_chat_waits and sla_subjects."""
    install_shops(con, batch_date)
    con.execute(ORDERS_SQL)
    con.execute(REQUESTS_SQL)
    con.execute(CANCELLATIONS_SQL)
    con.execute(APPEALS_SQL)
    install_chat_waits(con)
    con.execute(SUBJECTS_SQL)
