"""Buyer-seller messages (contract 2.5) from API message records.

`content` is a JSON string (`{"content": "..."}` for TEXT) and personal data: only a TEXT
message's text is carried, as "Content", which the typing SELECT reads only to classify
greetings and measure length; other types carry no content. An ORDER_CARD names its order.
"""

from __future__ import annotations

from aftersales.ingest.api_json import api_vocabulary as v
from aftersales.ingest.api_json.json_fields import text, time_text


def messages_select() -> str:
    content = text("$.content")
    parsed = f"CASE WHEN json_valid({content}) THEN CAST({content} AS JSON) END"
    kind = f"upper(trim({text('$.type')}))"
    return f"""
    SELECT file, ord, 0 AS sub,
        coalesce({text("$.conversation_id")}, ctx_id) AS "Conversation ID",
        {text("$.id")} AS "Message ID",
        CASE WHEN {kind} = 'ORDER_CARD' THEN {text("$.order_id", parsed)} END AS "Order ID",
        {v.mapped_sql(text("$.sender.role"), v.SENDER_ROLES)} AS "Sender Role",
        {v.mapped_sql(text("$.type"), v.MESSAGE_TYPES, keep=False)} AS "Message Type",
        {time_text("$.create_time")} AS "Sent Time",
        CASE WHEN {kind} = 'TEXT'
             THEN CASE WHEN json_type({parsed}) = 'OBJECT' THEN {text("$.content", parsed)} ELSE {content} END
        END AS "Content"
    FROM api_versions WHERE shape = 'message' AND rank = 1"""
