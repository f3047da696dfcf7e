"""Cancellation requests (contract 2.4) from API search records and type-11 webhooks.

Cancellations have no return records: the first move out of CANCELLATION_REQUEST_PENDING is the
seller's decision (to success/complete: Approved; to cancelled: Rejected). A cancellation whose
history never shows PENDING (started by the seller or the system, or approved inside the buyer's
free window) has an empty Seller Decision and Seller Response Time.
"""

from __future__ import annotations

from aftersales.ingest.api_json import api_vocabulary as v
from aftersales.ingest.api_json.json_fields import instant_text, text, time_text, unix_seconds


def cancellations_select() -> str:
    pending = v.in_sql("status", v.CANCEL_PENDING)
    return f"""
    WITH history AS (
        SELECT key AS cancel_id, version AS t, upper(trim({text("$.cancel_status")})) AS status
        FROM api_versions WHERE shape = 'cancellation'
        UNION ALL
        SELECT {text("$.data.cancel_id")}, coalesce({unix_seconds("$.data.update_time")}, {unix_seconds("$.timestamp")}),
               upper(trim({text("$.data.cancel_status")}))
        FROM api_versions WHERE shape = 'cancellation_webhook'),
    asked AS (SELECT cancel_id, min(t) AS t FROM history WHERE {pending} GROUP BY cancel_id),
    moved AS (
        SELECT h.cancel_id, min(h.t) AS t, arg_min(h.status, h.t) AS status
        FROM history AS h JOIN asked AS a ON a.cancel_id = h.cancel_id AND h.t >= a.t
        WHERE h.status IS NOT NULL AND NOT {pending} GROUP BY h.cancel_id),
    done AS (SELECT cancel_id, min(t) AS t FROM history WHERE {v.in_sql("status", v.CANCEL_DONE)} GROUP BY cancel_id),
    decided AS (
        SELECT cancel_id, t,
               CASE WHEN {v.in_sql("status", v.CANCEL_DONE)} THEN 'Approved'
                    WHEN {v.in_sql("status", v.CANCEL_REFUSED)} THEN 'Rejected' END AS decision
        FROM moved)
    SELECT l.file, l.ord, 0 AS sub,
        l.key AS "Cancellation ID",
        {text("$.order_id", "l.rec")} AS "Order ID",
        {v.mapped_sql(text("$.role", "l.rec"), v.REQUESTERS)} AS "Requested By",
        coalesce({text("$.cancel_reason_text", "l.rec")}, {text("$.cancel_reason", "l.rec")}) AS "Cancel Reason",
        {time_text("$.create_time", "l.rec")} AS "Request Time",
        CASE WHEN d.decision IS NOT NULL THEN {instant_text("d.t")} END AS "Seller Response Time",
        d.decision AS "Seller Decision",
        {v.mapped_sql(text("$.cancel_status", "l.rec"), v.CANCEL_STATUSES)} AS "Cancel Status",
        {instant_text("c.t")} AS "Cancelled Time"
    FROM (SELECT * FROM api_versions WHERE shape = 'cancellation' AND rank = 1) AS l
    LEFT JOIN decided AS d ON d.cancel_id = l.key
    LEFT JOIN done AS c ON c.cancel_id = l.key"""
