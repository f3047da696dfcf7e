-- model: int_sla_chat_waits
-- stage: sla
-- reads: stg_messages, int_sla_shops
-- materialized: temp
-- One row per buyer wait: when a buyer started waiting for the seller and which real reply ended
-- the wait (contract §4, policy rows 68-72); the chat_reply clock runs on it.
-- - Only customer-initiated conversations count: the first message from a person (Buyer or Seller;
--   Chatbot and System messages are automatic and ignored here) is the buyer's. Seller-initiated
--   chats (broadcasts included) are out.
-- - Chats fully handled by the chatbot are out: the chatbot answered and no seller message exists
--   at all (as of the batch).
-- - A qualifying reply is a Seller message that is not a bare greeting ("hi", "你好" ...). Chatbot
--   and System messages and greetings do not stop the clock.
-- - A wait starts at the first buyer message after the seller's last qualifying reply (or the
--   conversation start) and ends at the next qualifying reply; its entity_id is the message id that
--   started it. A wait made only of bare buyer greetings is small talk and is not a wait.
-- - Messages are ordered by sent time, never by file position; at equal times the buyer's message
--   comes first (a reply stamped in the same second answers it), then message id.
-- - Messages after the shop's as-of instant do not exist yet; the same message id seen twice
--   (overlapping exports) counts once.
-- One GROUP BY keeps each message once (its earliest row), then one window pass per conversation
-- gives each message the conversation's facts, its epoch (qualifying replies strictly before it)
-- and the next qualifying reply after it; waits are the buyer messages of one epoch.
WITH msgs AS (
    SELECT m.shop_id, m.conversation_id, m.message_id, min(m.sent_time) AS sent_time,
           arg_min({'role': lower(trim(m.sender_role)), 'is_greeting': m.is_greeting},
                   {'sent_time': m.sent_time, 'source_file': m.source_file, 'line_number': m.line_number})
               AS first_row
    FROM stg_messages AS m JOIN int_sla_shops AS s USING (shop_id)
    WHERE m.sent_time <= s.as_of
    GROUP BY m.shop_id, m.conversation_id, m.message_id
), ranked AS (
    SELECT shop_id, conversation_id, message_id, sent_time, first_row.role AS role,
           first_row.is_greeting AS is_greeting,
           CASE first_row.role WHEN 'buyer' THEN 0 WHEN 'seller' THEN 1 WHEN 'chatbot' THEN 2 ELSE 3 END
               AS role_rank,
           first_row.role = 'seller' AND NOT first_row.is_greeting AS is_reply
    FROM msgs
), ordered AS (
    SELECT *,
           -- the conversation is the buyer's when a buyer message comes first (at equal times too)
           min(sent_time) FILTER (WHERE role = 'buyer') OVER whole AS first_buyer_at,
           min(sent_time) FILTER (WHERE role = 'seller') OVER whole AS first_seller_at,
           count(*) FILTER (WHERE role = 'seller') OVER whole AS seller_messages,
           count(*) FILTER (WHERE role = 'chatbot') OVER whole AS chatbot_messages,
           -- epoch = qualifying replies strictly before this message: buyer messages of one epoch
           -- form one wait, closed by the first qualifying reply after them
           coalesce(sum(CAST(is_reply AS INTEGER)) OVER (conversation ROWS BETWEEN UNBOUNDED PRECEDING
                                                                          AND 1 PRECEDING), 0) AS epoch,
           min(CASE WHEN is_reply THEN {'replied_at': sent_time, 'message_id': message_id} END)
               OVER (conversation ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_reply
    FROM ranked
    WINDOW conversation AS (PARTITION BY shop_id, conversation_id ORDER BY sent_time, role_rank, message_id),
           whole AS (conversation ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), waits AS (
    SELECT shop_id, conversation_id, epoch,
           first(message_id ORDER BY sent_time, message_id) AS entity_id,
           min(sent_time) AS started_at,
           bool_or(NOT is_greeting) AS substantive,
           count(*) AS buyer_messages,
           any_value(next_reply) AS next_reply
    FROM ordered
    WHERE role = 'buyer'
      AND first_buyer_at <= coalesce(first_seller_at, first_buyer_at)
      AND NOT (chatbot_messages > 0 AND seller_messages = 0)
    GROUP BY shop_id, conversation_id, epoch
)
SELECT shop_id, conversation_id, entity_id, started_at, next_reply.replied_at AS replied_at,
       next_reply.message_id AS reply_message_id, buyer_messages
FROM waits
WHERE substantive
