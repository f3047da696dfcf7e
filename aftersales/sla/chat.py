"""Chat waits: when a buyer started waiting for the seller, and when a real reply ended the wait.

Contract §4 and policy rows 68-72, in one window-function pass over `stg_messages`:

- Only customer-initiated conversations count: the first message from a person (Buyer or
  Seller; Chatbot and System messages are automatic and ignored here) is the buyer's.
  Seller-initiated chats (broadcasts included) are out.
- Chats fully handled by the chatbot are out: a conversation where the chatbot answered and no
  seller message exists at all (as of the batch).
- A qualifying reply is a Seller message that is not a bare greeting. Chatbot and System
  messages and greetings ("hi", "hello", "你好" ...) do not stop the clock.
- A wait starts at the first buyer message after the seller's last qualifying reply (or the
  conversation start) and ends at the next qualifying reply. Its entity_id is the message id
  that started it. A wait made only of bare buyer greetings is small talk and is not a wait.
- Messages are ordered by sent time, never by file position; at equal times the buyer's message
  comes first (a reply stamped in the same second answers it), then message id.
- Messages after the shop's as-of instant do not exist yet; the same message id seen twice
  (overlapping exports) counts once.

Result: TEMP table `sla_chat_waits` (shop_id, conversation_id, entity_id, started_at,
replied_at, reply_message_id, buyer_messages). Needs `sla_shops` (see `subjects`).
"""

from __future__ import annotations

CHAT_WAITS_SQL = """
CREATE OR REPLACE TEMP TABLE sla_chat_waits AS
WITH msgs AS (
    SELECT m.shop_id, m.conversation_id, m.message_id, lower(trim(m.sender_role)) AS role,
           m.sent_time, m.is_greeting
    FROM stg_messages AS m JOIN sla_shops AS s USING (shop_id)
    WHERE m.sent_time <= s.as_of
    QUALIFY row_number() OVER (PARTITION BY m.shop_id, m.conversation_id, m.message_id
                               ORDER BY m.sent_time, m.source_file, m.line_number) = 1
), ranked AS (
    SELECT *,
           CASE role WHEN 'buyer' THEN 0 WHEN 'seller' THEN 1 WHEN 'chatbot' THEN 2 ELSE 3 END AS role_rank,
           role = 'seller' AND NOT is_greeting AS is_reply
    FROM msgs
), conversations AS (
    SELECT shop_id, conversation_id,
           first(role ORDER BY sent_time, role_rank, message_id)
               FILTER (WHERE role IN ('buyer', 'seller')) AS initiator,
           count(*) FILTER (WHERE role = 'seller') AS seller_messages,
           count(*) FILTER (WHERE role = 'chatbot') AS chatbot_messages
    FROM ranked
    GROUP BY shop_id, conversation_id
), in_scope AS (
    SELECT r.*
    FROM ranked AS r JOIN conversations AS c USING (shop_id, conversation_id)
    WHERE c.initiator = 'buyer' AND NOT (c.chatbot_messages > 0 AND c.seller_messages = 0)
), epochs AS (
    -- epoch = qualifying replies strictly before this message: buyer messages of one epoch form
    -- one wait, and the reply whose own count-before equals that epoch closes it.
    SELECT *,
           coalesce(sum(CAST(is_reply AS INTEGER)) OVER (
               PARTITION BY shop_id, conversation_id ORDER BY sent_time, role_rank, message_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS epoch
    FROM in_scope
), waits AS (
    SELECT shop_id, conversation_id, epoch,
           first(message_id ORDER BY sent_time, role_rank, message_id) AS entity_id,
           min(sent_time) AS started_at,
           bool_or(NOT is_greeting) AS substantive,
           count(*) AS buyer_messages
    FROM epochs
    WHERE role = 'buyer'
    GROUP BY shop_id, conversation_id, epoch
), replies AS (
    SELECT shop_id, conversation_id, epoch, sent_time AS replied_at, message_id AS reply_message_id
    FROM epochs
    WHERE is_reply
)
SELECT w.shop_id, w.conversation_id, w.entity_id, w.started_at, r.replied_at, r.reply_message_id,
       w.buyer_messages
FROM waits AS w
LEFT JOIN replies AS r USING (shop_id, conversation_id, epoch)
WHERE w.substantive
"""


def install_chat_waits(con) -> int:
    """Create TEMP table `sla_chat_waits` from `stg_messages`; returns the number of waits."""
    con.execute(CHAT_WAITS_SQL)
    return con.execute("SELECT count(*) FROM sla_chat_waits").fetchall()[0][0]
