"""Returns, refunds and replacements (contract 2.3) and their evidence items (2.6) from API data.

A search record is a snapshot; the export's event times come from the request's status history
(every version seen across dumps and every type-12 webhook, ordered by `update_time`) and from
its return records (openapi.md, "Deriving the export facts"). A fact the history cannot show
stays empty, never guessed.
"""

from __future__ import annotations

from aftersales.ingest.api_json import api_vocabulary as v
from aftersales.ingest.api_json.json_fields import instant_text, text, time_text, unix_seconds
from aftersales.sql_quoting import sql_literal


def _events(name: str) -> str:
    return v.in_sql("event", v.RECORD_EVENTS[name])


def prepare_return_history(con) -> None:
    """`api_return_history` (return_id, t, status, arb) and `api_return_records` (distinct records)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE api_return_history AS
            SELECT key AS return_id, version AS t, upper(trim({text("$.return_status")})) AS status,
                   upper(trim({text("$.arbitration_status")})) AS arb
            FROM api_versions WHERE shape = 'return_order'
            UNION ALL
            SELECT {text("$.data.return_id")}, coalesce({unix_seconds("$.data.update_time")}, {unix_seconds("$.timestamp")}),
                   upper(trim({text("$.data.return_status")})), upper(trim({text("$.data.arbitration_status")}))
            FROM api_versions WHERE shape = 'return_webhook'"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE api_return_records AS
            SELECT file, ord, coalesce({text("$.return_id")}, ctx_id) AS return_id,
                   {unix_seconds("$.create_time")} AS t, lower(trim({text("$.role")})) AS role,
                   upper(trim({text("$.event")})) AS event, {text("$.reason_text")} AS reason_text,
                   concat_ws(' ', {text("$.event")}, {text("$.description")}, {text("$.note")},
                             {text("$.reason_text")}) AS said,
                   rec
            FROM api_versions WHERE shape = 'return_record' AND rank = 1"""
    )


def returns_select() -> str:
    """One export row per return (its winning search record), columns named by contract header."""
    pending = v.in_sql("status", v.RETURN_PENDING)
    return f"""
    WITH latest AS (
        SELECT file, ord, key AS return_id, rec FROM api_versions WHERE shape = 'return_order' AND rank = 1),
    moved AS (  -- the first move out of pending, and the status it moved to
        SELECT return_id, min(t) AS t, arg_min(status, t) AS status
        FROM api_return_history WHERE status IS NOT NULL AND NOT {pending} GROUP BY return_id),
    seller AS (  -- the seller's record at that move (none: the system or platform moved it)
        SELECT m.return_id, m.t, m.status, arg_min(r.reason_text, r.ord) AS reason_text
        FROM moved AS m JOIN api_return_records AS r ON r.return_id = m.return_id AND r.t = m.t AND r.role = 'seller'
        GROUP BY ALL),
    history AS (
        SELECT return_id,
               min(t) FILTER (WHERE {v.in_sql("status", v.RETURN_SHIPPED)}) AS shipped,
               min(t) FILTER (WHERE {v.in_sql("status", v.RETURN_REFUNDED)}) AS refunded,
               min(t) FILTER (WHERE {v.in_sql("arb", v.ARBITRATION_OPEN)}) AS disputed,
               min(t) FILTER (WHERE {v.in_sql("arb", v.ARBITRATION_DECIDED)}) AS decided
        FROM api_return_history GROUP BY return_id),
    steps AS (
        SELECT return_id,
               min(t) FILTER (WHERE {_events("return_delivered")}) AS delivered,
               min(t) FILTER (WHERE {_events("inspected")}) AS inspected,
               min(t) FILTER (WHERE {_events("dispute")}) AS disputed,
               min(t) FILTER (WHERE {_events("platform_decision")}) AS decided
        FROM api_return_records GROUP BY return_id),
    line_prices AS (
        SELECT {text("$.id", "li")} AS line_id, {text("$.sale_price", "li")} AS sale_price
        FROM (SELECT unnest(json_extract(rec, '$.line_items[*]')) AS li
              FROM api_versions WHERE shape = 'order' AND rank = 1))
    SELECT l.file, l.ord, 0 AS sub,
        l.return_id AS "Return Order ID",
        {text("$.order_id", "l.rec")} AS "Order ID",
        {text("$.return_line_items[0].sku_id", "l.rec")} AS "SKU ID",
        CASE WHEN json_type(l.rec, '$.partial_refund') = 'OBJECT'
                  AND NOT coalesce(lower({text("$.buyer_rejected_partial_refund", "l.rec")}) = 'true', FALSE)
             THEN {sql_literal(v.PARTIAL_REFUND)}
             ELSE {v.mapped_sql(text("$.return_type", "l.rec"), v.RETURN_TYPES)} END AS "Return Type",
        coalesce({text("$.return_reason_text", "l.rec")}, {text("$.return_reason", "l.rec")}) AS "Return Reason",
        {text("$.return_status", "l.rec")} AS "Return Status",
        {text("$.arbitration_status", "l.rec")} AS "Arbitration Status",
        {time_text("$.create_time", "l.rec")} AS "Request Time",
        coalesce(p.sale_price, {text("$.refund_amount.refund_subtotal", "l.rec")}) AS "Item Price",
        {text("$.refund_amount.refund_total", "l.rec")} AS "Refund Amount",
        {text("$.refund_amount.currency", "l.rec")} AS "Currency",
        CASE WHEN s.return_id IS NOT NULL AND s.status IN ({_list(v.RETURN_REJECTED + v.RETURN_APPROVED)})
             THEN {instant_text("s.t")} END AS "Seller Response Time",
        CASE WHEN s.status IN ({_list(v.RETURN_REJECTED)}) THEN 'Rejected'
             WHEN s.status IN ({_list(v.RETURN_APPROVED)}) THEN 'Approved' END AS "Seller Decision",
        CASE WHEN s.status IN ({_list(v.RETURN_REJECTED)}) THEN s.reason_text END AS "Seller Reject Reason",
        {instant_text("h.shipped")} AS "Return Shipped Time",
        {instant_text("st.delivered")} AS "Return Delivered Time",
        {instant_text("st.inspected")} AS "Seller Inspection Time",
        {instant_text("h.refunded")} AS "Refund Time",
        {instant_text("least(h.disputed, st.disputed)")} AS "Buyer Dispute Time",
        {instant_text("least(h.decided, st.decided)")} AS "Platform Decision Time",
        {text("$.return_tracking_number", "l.rec")} AS "Return Tracking ID"
    FROM latest AS l
    LEFT JOIN seller AS s USING (return_id)
    LEFT JOIN history AS h USING (return_id)
    LEFT JOIN steps AS st USING (return_id)
    LEFT JOIN (SELECT line_id, min(sale_price) AS sale_price FROM line_prices GROUP BY line_id) AS p
        ON p.line_id = {text("$.return_line_items[0].order_line_item_id", "l.rec")}"""


def evidence_select() -> str:
    """One evidence row per image or video of a return record: the record's party and time."""
    party = v.mapped_sql("role", v.RECORD_PARTIES)
    media = " UNION ALL ".join(
        f"""SELECT file, ord, return_id, role, t, said, {kind!r} AS media,
                   unnest(range(1, len(items) + 1)) AS n, unnest(items) AS e
            FROM (SELECT *, json_extract(rec, '$.{kind}[*]') AS items FROM api_return_records
                  WHERE json_type(rec, '$.{kind}') = 'ARRAY')"""
        for kind in ("images", "videos")
    )
    url = f"CASE WHEN json_type(e) = 'VARCHAR' THEN json_extract_string(e, '$') ELSE {text('$.url', 'e')} END"
    return f"""
    SELECT file, ord, (CASE media WHEN 'images' THEN 0 ELSE 100000 END) + n AS sub,
        return_id AS "Case ID",
        {party} AS "Submitted By",
        CASE WHEN media = 'images' THEN 'photo'
             WHEN regexp_matches(lower(said), 'unboxing') THEN 'unboxing_video' ELSE 'video' END AS "Evidence Type",
        {instant_text("t")} AS "Uploaded Time",
        NULLIF(regexp_extract({url}, '([^/?#]+)(?:[?#].*)?$', 1), '') AS "File Name",
        {text("$.size", "e")} AS "File Size Bytes",
        {text("$.sha256", "e")} AS "SHA256"
    FROM ({media})"""


def _list(values: tuple[str, ...]) -> str:
    return ", ".join(map(sql_literal, values))
