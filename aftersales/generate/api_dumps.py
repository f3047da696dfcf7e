"""A shop's data written as TikTok Shop Open API dumps instead of Seller Center exports.

What an integration pulling the API leaves in the inbox (shapes of ../shared/domain/openapi.md):
search response pages (orders, returns, cancellations), return records per return id, messages
per conversation, webhooks as JSON Lines. Requests are written as their status history: one
search-record version per status change (some changes only as type-12/11 webhooks), the latest
versions in one dump and the older ones (plus an overlap of equal latest versions) in another;
seller, platform and upload steps as return records. A few enum quirks of the platform's own
examples are planted (`cancel_type` "REQUEST_CANCEL_REFUND", `cancel_status` spelled "_CANCEL",
`is_combined_return` "true ").

Everything is built in DuckDB SQL over the generated frames (Arrow), like the CSV writers; the
same world written as CSV and as API JSON gives the same staged facts (docs/OPENAPI_MAPPING.md
lists what the API cannot carry).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from aftersales.generate.frames import Frame
from aftersales.generate.sampling import stage_rng
from aftersales.generate.shops import Shop
from aftersales.generate.writers import connect

# Export kinds an API shop delivers as JSON; appeals (no API) and evidence the return records
# cannot carry stay CSV exports.
API_KINDS = ("orders", "aftersales_requests", "cancellations", "messages", "evidence")
# Evidence a return record carries: an image or video of the buyer, the seller or the platform.
_RECORD_PARTIES = ("Buyer", "Seller", "Platform")
_RECORD_MEDIA = ("photo", "video", "unboxing_video")
PAGE_SIZE = 50
FOLDER = "openapi"

_MACROS = r"""
CREATE OR REPLACE MACRO api_money(x, dp) AS CASE WHEN x IS NULL THEN NULL
    WHEN dp = 0 THEN printf('%.0f', x / 100.0) ELSE printf('%.2f', x / 100.0) END;
CREATE OR REPLACE MACRO unit_share(x, q, k, dp) AS CASE WHEN x IS NULL THEN NULL
    WHEN k = 0 THEN x - (q - 1) * floor(x / q / (CASE WHEN dp = 0 THEN 100 ELSE 1 END)) * (CASE WHEN dp = 0 THEN 100 ELSE 1 END)
    ELSE floor(x / q / (CASE WHEN dp = 0 THEN 100 ELSE 1 END)) * (CASE WHEN dp = 0 THEN 100 ELSE 1 END) END;
CREATE OR REPLACE MACRO unix(t) AS CAST(epoch(t) AS BIGINT);
CREATE OR REPLACE MACRO api_key(label) AS upper(regexp_replace(trim(label), '[^A-Za-z0-9]+', '_', 'g'));
CREATE OR REPLACE MACRO page_body(list_key, recs, total) AS json_object(
    'code', 0, 'message', 'Success', 'request_id', md5(CAST(recs AS VARCHAR))[1:20],
    'data', json_object(CAST(list_key AS VARCHAR), recs, 'next_page_token', '', 'total_count', total));
"""


DELIVERIES = ("csv", "openapi", "mixed")


def api_shop_indexes(delivery: str, shops: list[Shop], seed: int) -> np.ndarray:
    """Shops delivering through the API: none (csv), all (openapi), or about half chosen by the
    seed (mixed, at least one)."""
    if delivery not in DELIVERIES:
        raise ValueError(f"unknown delivery format {delivery!r} (one of {', '.join(DELIVERIES)})")
    n = len(shops)
    if delivery == "csv":
        return np.zeros(0, dtype=np.int64)
    if delivery == "openapi":
        return np.arange(n, dtype=np.int64)
    rng = stage_rng(seed, "delivery")
    return np.sort(rng.choice(n, size=max(1, n // 2), replace=False)).astype(np.int64)


def split_api_world(world: dict, api_shops: np.ndarray) -> dict[str, Frame]:
    """Take the API shops' rows out of `world` (kind -> (frame, part, sort keys)), in place;
    return them per kind, in the world's own row order."""
    out: dict[str, Frame] = {}
    if not len(api_shops):
        return out
    for kind, (frame, part, keys) in list(world.items()):
        rows = api_rows(kind, frame, api_shops)
        if not len(rows):
            continue
        keep = np.setdiff1d(np.arange(len(frame)), rows)
        out[kind] = frame.take(rows)
        world[kind] = (
            frame.take(keep),
            None if part is None else part[keep],
            tuple(k[keep] for k in keys),
        )
    return out


def api_rows(kind: str, frame: Frame, api_shops: np.ndarray) -> np.ndarray:
    """Rows of a generated kind that an API shop delivers as JSON (the rest stay CSV)."""
    mine = np.isin(frame["shop"], api_shops)
    if kind == "evidence":
        parties = np.array(frame["submitted_by"].vocab.to_pylist(), dtype=object)[frame["submitted_by"].codes]
        types = np.array(frame["evidence_type"].vocab.to_pylist(), dtype=object)[frame["evidence_type"].codes]
        kinds = np.array(frame["case_kind"].vocab.to_pylist(), dtype=object)[frame["case_kind"].codes]
        names = frame["file_name"].values()
        mine &= (
            (kinds == "request")
            & np.isin(parties, _RECORD_PARTIES)
            & np.isin(types, _RECORD_MEDIA)
            & ~np.isnan(frame["t_uploaded"])
            & np.array([bool(n) and not any(c in n for c in "/?#") for n in names], dtype=bool)
        )
    elif kind not in API_KINDS:
        mine[:] = False
    return np.flatnonzero(mine)


def write_api_dumps(out: Path, frames: dict[str, Frame], shops: list[Shop]) -> list[tuple[str, str, int]]:
    """Write the API shops' dumps under `<shop>/openapi/`; (path, shop_id, records) per file."""
    con = connect()
    try:
        con.execute(_MACROS)
        con.register(
            "shop_info",
            pa.table({
                "shop": pa.array([s.index for s in shops], pa.int64()),
                "shop_id": [s.shop_id for s in shops],
                "currency": [s.market.currency for s in shops],
                "dp": pa.array([s.market.decimals for s in shops], pa.int64()),
            }),
        )  # fmt: skip
        for kind, frame in frames.items():
            table = frame.to_arrow()
            table = table.set_column(
                table.column_names.index("shop"), "shop", table.column("shop").cast(pa.int64())
            )
            con.register(f"f_{kind}", table)
        written: list[tuple[str, str, int]] = []
        for name, sql in _dump_queries(set(frames)).items():
            for shop_id, text, records in con.execute(sql).fetchall():
                path = out / shop_id / FOLDER / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                written.append((f"{shop_id}/{FOLDER}/{name}", shop_id, records))
        return sorted(written)
    finally:
        con.close()


def _array_file(bodies: str) -> str:
    """SELECT shop_id, file text (a JSON array of page bodies), records, from `bodies`."""
    return f"""SELECT shop_id, '[' || string_agg(CAST(body AS VARCHAR), E',\\n' ORDER BY page) || ']' || E'\\n',
                      CAST(sum(n) AS BIGINT)
               FROM ({bodies}) GROUP BY shop_id ORDER BY shop_id"""


def _lines_file(bodies: str) -> str:
    """SELECT shop_id, file text (JSON Lines, one body per line), records, from `bodies`."""
    return f"""SELECT shop_id, string_agg(CAST(body AS VARCHAR), E'\\n' ORDER BY page) || E'\\n',
                      CAST(sum(n) AS BIGINT)
               FROM ({bodies}) GROUP BY shop_id ORDER BY shop_id"""


def _pages(records: str, list_key: str, order: str) -> str:
    """Page bodies of PAGE_SIZE records from `records` (shop_id, rec, ordering columns)."""
    return f"""SELECT shop_id, page, page_body('{list_key}', list(rec ORDER BY {order}), count(*)) AS body,
                      count(*) AS n
               FROM (SELECT *, (row_number() OVER (PARTITION BY shop_id ORDER BY {order}) - 1) // {PAGE_SIZE} AS page
                     FROM ({records}))
               GROUP BY shop_id, page"""


def _dump_queries(kinds: set[str]) -> dict[str, str]:
    queries: dict[str, str] = {}
    if "orders" in kinds:
        queries["orders_search.json"] = _array_file(_pages(_ORDERS, "orders", "order_id"))
        queries["orders_search_previous.json"] = _array_file(
            _pages(f"SELECT * REPLACE (json_merge_patch(rec, json_object('update_time', "
                   f"CAST(rec->>'$.update_time' AS BIGINT) - 86400)) AS rec) FROM ({_ORDERS}) "
                   "WHERE hash(order_id) % 10 = 0", "orders", "order_id")
        )  # fmt: skip
    if "aftersales_requests" in kinds:
        queries["returns_search_latest.json"] = _array_file(
            _pages(f"SELECT * FROM ({_RETURN_VERSIONS}) WHERE latest", "return_orders", "return_id")
        )
        queries["returns_search_history.jsonl"] = _lines_file(
            _pages(
                f"SELECT * FROM ({_RETURN_VERSIONS}) WHERE NOT latest AND NOT as_webhook "
                "OR latest AND hash(return_id) % 5 = 0",
                "return_orders",
                "return_id, t",
            )
        )
        evidence = "f_evidence" if "evidence" in kinds else None
        queries["return_records.jsonl"] = _lines_file(_return_records(evidence))
    if "cancellations" in kinds:
        queries["cancellations_search.jsonl"] = _lines_file(
            _pages(_CANCELLATION_VERSIONS, "cancellations", "cancel_id, t")
        )
    if "aftersales_requests" in kinds or "cancellations" in kinds:
        parts = []
        if "aftersales_requests" in kinds:
            parts.append(
                f"SELECT shop_id, t, return_id AS id, hook FROM ({_RETURN_VERSIONS}) WHERE as_webhook"
            )
        if "cancellations" in kinds:
            parts.append(
                f"SELECT shop_id, t, cancel_id AS id, hook FROM ({_CANCELLATION_VERSIONS}) WHERE as_webhook"
            )
        queries["webhooks.jsonl"] = f"""
            SELECT shop_id, string_agg(CAST(hook AS VARCHAR), E'\\n' ORDER BY t, id) || E'\\n', count(*)
            FROM ({" UNION ALL ".join(parts)}) GROUP BY shop_id ORDER BY shop_id"""
    if "messages" in kinds:
        queries["messages.jsonl"] = _lines_file(_MESSAGES)
    return queries


_ORDERS = """
WITH l AS (SELECT f.*, s.shop_id, s.currency, s.dp FROM f_orders AS f JOIN shop_info AS s USING (shop)),
units AS (SELECT *, unnest(range(quantity)) AS k FROM l),
elems AS (
    SELECT order_id, line_no, k, json_object(
        'id', CAST(order_id AS VARCHAR) || '-' || line_no || '-' || k,
        'sku_id', CAST(sku_id AS VARCHAR), 'product_name', product_name, 'sku_name', variation,
        'seller_sku', seller_sku, 'currency', currency,
        'original_price', api_money(unit_price, dp),
        'sale_price', api_money(unit_share(subtotal_after, quantity, k, dp), dp),
        'platform_discount', api_money(unit_share(platform_discount, quantity, k, dp), dp),
        'seller_discount', api_money(unit_share(seller_discount, quantity, k, dp), dp),
        'package_id', CAST(package_id AS VARCHAR),
        'tracking_number', CASE WHEN tracking_no_or_null < 0 THEN NULL
                                ELSE tracking_prefix || lpad(CAST(tracking_no_or_null AS VARCHAR), 12, '0') END,
        'shipping_provider_name', shipping_provider, 'rts_time', unix(t_rts),
        'sku_type', CASE WHEN order_type = 'Pre-order' THEN 'PRE_ORDER' ELSE 'NORMAL' END,
        'product_category', category, 'display_status', api_key(order_substatus)) AS e
    FROM units),
items AS (SELECT order_id, list(e ORDER BY line_no, k) AS line_items FROM elems GROUP BY order_id)
SELECT shop_id, order_id, json_object(
    'id', CAST(order_id AS VARCHAR), 'status', api_key(any_value(order_substatus)),
    'user_id', CAST(md5_number_lower(any_value(buyer_username)) % 1000000000000000000 AS VARCHAR),
    'buyer_email', any_value(buyer_username) || '@buyer.example.com', 'buyer_nickname', any_value(buyer_username),
    'buyer_message', any_value(fill(buyer_message, recipient_first, buyer_name, phone, address, NULL, NULL)),
    'recipient_address', json_object('name', any_value(recipient_name), 'phone_number', any_value(phone),
        'postal_code', any_value(zipcode), 'full_address', any_value(address),
        'address_line2', any_value(address_extra)),
    'create_time', unix(min(t_created)), 'paid_time', unix(min(t_paid)), 'rts_time', unix(min(t_rts)),
    'collection_time', unix(min(t_shipped)), 'delivery_time', unix(min(t_delivered)),
    'cancel_time', unix(min(t_cancelled)),
    'update_time', unix(greatest(min(t_created), min(t_paid), min(t_rts), min(t_shipped), min(t_delivered),
                                 min(t_cancelled))),
    'cancellation_initiator', upper(any_value(cancel_by)), 'cancel_reason', any_value(cancel_reason),
    'fulfillment_type', CASE WHEN any_value(fulfillment) = 'Fulfillment by TikTok Shop'
                             THEN 'FULFILLMENT_BY_TIKTOK' ELSE 'FULFILLMENT_BY_SELLER' END,
    'delivery_option_name', any_value(delivery_option), 'shipping_provider', any_value(shipping_provider),
    'payment_method_name', any_value(payment_method),
    'payment', json_object('currency', any_value(currency),
        'total_amount', api_money(any_value(order_amount), any_value(dp)),
        'shipping_fee', api_money(any_value(shipping_after_discount), any_value(dp)),
        'original_shipping_fee', api_money(any_value(original_shipping_fee), any_value(dp)),
        'shipping_fee_seller_discount', api_money(any_value(shipping_seller_discount), any_value(dp)),
        'shipping_fee_platform_discount', api_money(any_value(shipping_platform_discount), any_value(dp)),
        'tax', api_money(any_value(taxes), any_value(dp))),
    'line_items', any_value(i.line_items)) AS rec
FROM l JOIN items AS i USING (order_id) GROUP BY shop_id, order_id"""

# Every status change of a request as a search-record version (t, status, arbitration status),
# the current status and arbitration carried forward.
_RETURN_VERSIONS = """
WITH r AS (
    SELECT f.*, s.shop_id, s.dp,
           CASE return_type WHEN 'Replacement' THEN 'REPLACEMENT_REQUEST_PENDING'
                ELSE 'RETURN_OR_REFUND_REQUEST_PENDING' END AS pending,
           CASE return_type WHEN 'Replacement' THEN 'REPLACEMENT_REQUEST_REJECT'
                ELSE 'REFUND_OR_RETURN_REQUEST_REJECT' END AS rejected,
           CASE return_type WHEN 'Replacement' THEN 'REPLACEMENT_REQUEST_REFUND_SUCCESS'
                WHEN 'Return and refund' THEN 'AWAITING_BUYER_SHIP' ELSE 'RETURN_OR_REFUND_REQUEST_SUCCESS' END AS approved,
           CASE return_type WHEN 'Replacement' THEN 'REPLACEMENT_REQUEST_COMPLETE'
                ELSE 'RETURN_OR_REFUND_REQUEST_COMPLETE' END AS complete
    FROM f_aftersales_requests AS f JOIN shop_info AS s USING (shop)),
ev AS (
    SELECT return_order_id, unix(t_request) AS t, 0 AS seq, pending AS status, NULL AS arb FROM r
    UNION ALL SELECT return_order_id, unix(t_seller_response), 1,
           CASE seller_decision WHEN 'Approved' THEN approved ELSE rejected END, NULL
        FROM r WHERE seller_decision IS NOT NULL AND t_seller_response IS NOT NULL
    UNION ALL SELECT return_order_id, CAST(round(approved_at) AS BIGINT), 1, approved, NULL
        FROM r WHERE seller_decision IS NULL AND approved_at IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_return_shipped), 2, 'BUYER_SHIPPED_ITEM', NULL
        FROM r WHERE t_return_shipped IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_dispute), 3, NULL, 'IN_PROGRESS' FROM r WHERE t_dispute IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_platform_decision), 4, NULL,
           CASE arbitration_status WHEN 'Decided for buyer' THEN 'SUPPORT_BUYER' ELSE 'SUPPORT_SELLER' END
        FROM r WHERE t_platform_decision IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_refund), 5, complete, NULL FROM r WHERE t_refund IS NOT NULL),
v AS (
    SELECT return_order_id, t, seq,
           last_value(status IGNORE NULLS) OVER w AS status, last_value(arb IGNORE NULLS) OVER w AS arb,
           row_number() OVER (PARTITION BY return_order_id ORDER BY t DESC, seq DESC) = 1 AS latest
    FROM ev WINDOW w AS (PARTITION BY return_order_id ORDER BY t, seq ROWS UNBOUNDED PRECEDING))
SELECT r.shop_id, r.return_order_id AS return_id, v.t, v.latest,
       NOT v.latest AND v.status = 'BUYER_SHIPPED_ITEM' AND hash(r.return_order_id) % 3 = 0 AS as_webhook,
       json_object(
           'return_id', CAST(r.return_order_id AS VARCHAR), 'order_id', CAST(r.order_id AS VARCHAR),
           'return_type', CASE r.return_type WHEN 'Return and refund' THEN 'RETURN_AND_REFUND'
                               WHEN 'Replacement' THEN 'REPLACEMENT' ELSE 'REFUND' END,
           'return_status', v.status, 'arbitration_status', v.arb, 'role', 'BUYER',
           'create_time', unix(r.t_request), 'update_time', v.t,
           'return_reason', 'ecom_' || lower(api_key(r.return_reason)), 'return_reason_text', r.return_reason,
           'refund_amount', json_object('currency', r.currency,
               'refund_total', api_money(r.refund_amount, r.dp), 'refund_subtotal', api_money(r.item_price, r.dp)),
           'partial_refund', CASE WHEN r.return_type = 'Partial refund'
                                  THEN json_object('amount', api_money(r.refund_amount, r.dp), 'currency', r.currency) END,
           'buyer_rejected_partial_refund', CASE WHEN r.return_type = 'Partial refund' THEN false END,
           'return_line_items', [json_object('sku_id', CAST(r.sku_id AS VARCHAR),
               'return_line_item_id', CAST(r.return_order_id AS VARCHAR) || '-1')],
           'return_tracking_number', CASE WHEN r.return_tracking_no < 0 THEN NULL
                                          ELSE 'RT' || lpad(CAST(r.return_tracking_no AS VARCHAR), 12, '0') END,
           'is_combined_return', CASE WHEN hash(r.return_order_id) % 7 = 0 THEN 'true ' ELSE 'false' END) AS rec,
       json_object('type', 12, 'tts_notification_id', md5(CAST(r.return_order_id AS VARCHAR) || v.t)[1:19],
           'shop_id', r.shop_id, 'timestamp', v.t,
           'data', json_object('return_id', CAST(r.return_order_id AS VARCHAR), 'order_id', CAST(r.order_id AS VARCHAR),
               'return_role', 'BUYER', 'return_status', v.status, 'update_time', v.t,
               'create_time', unix(r.t_request))) AS hook
FROM v JOIN r USING (return_order_id)"""


def _return_records(evidence: str | None) -> str:
    """One records response per return id (JSON Lines): request, decisions, steps, uploads."""
    uploads = ""
    if evidence is not None:
        uploads = f"""
    UNION ALL SELECT CAST(case_key AS BIGINT), unix(t_uploaded), 10 + row_number() OVER (ORDER BY case_key, t_uploaded, file_name),
           CASE submitted_by WHEN 'Buyer' THEN 'BUYER' WHEN 'Seller' THEN 'SELLER' ELSE 'SYSTEM' END,
           upper(submitted_by) || '_UPLOADED_EVIDENCE', NULL,
           CASE WHEN evidence_type = 'unboxing_video' THEN 'unboxing video' END,
           CASE WHEN evidence_type = 'photo' THEN [json_object('url', 'https://evidence.example.com/' || file_name,
               'size', file_size, 'sha256', sha256)] ELSE [] END,
           CASE WHEN evidence_type <> 'photo' THEN [json_object('url', 'https://evidence.example.com/' || file_name,
               'size', file_size, 'sha256', sha256)] ELSE [] END
    FROM {evidence}"""
    return f"""
WITH r AS (SELECT f.*, s.shop_id FROM f_aftersales_requests AS f JOIN shop_info AS s USING (shop)),
steps AS (
    SELECT return_order_id AS rid, unix(t_request) AS t, 0 AS seq, 'BUYER' AS role, 'BUYER_REQUESTED' AS event,
           NULL AS reason_text, NULL AS description, [] AS images, [] AS videos FROM r
    UNION ALL SELECT return_order_id, unix(t_seller_response), 1, 'SELLER',
           CASE seller_decision WHEN 'Approved' THEN 'SELLER_APPROVED' ELSE 'SELLER_REJECTED' END,
           seller_reject_reason, NULL, [], [] FROM r WHERE seller_decision IS NOT NULL AND t_seller_response IS NOT NULL
    UNION ALL SELECT return_order_id, CAST(round(approved_at) AS BIGINT), 1, 'SYSTEM', 'SYSTEM_AUTO_APPROVED', NULL, NULL, [], []
        FROM r WHERE seller_decision IS NULL AND approved_at IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_return_delivered), 3, 'SYSTEM', 'RETURN_PACKAGE_DELIVERED', NULL, NULL, [], []
        FROM r WHERE t_return_delivered IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_inspection), 4, 'SELLER', 'SELLER_INSPECTED_PACKAGE', NULL, NULL, [], []
        FROM r WHERE t_inspection IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_dispute), 5, 'BUYER', 'BUYER_ESCALATED', NULL, NULL, [], []
        FROM r WHERE t_dispute IS NOT NULL
    UNION ALL SELECT return_order_id, unix(t_platform_decision), 6, 'OPERATOR', 'PLATFORM_DECISION', NULL, NULL, [], []
        FROM r WHERE t_platform_decision IS NOT NULL{uploads}),
recs AS (
    SELECT r.shop_id, s.rid, list(json_object('event', s.event, 'role', s.role, 'reason_text', s.reason_text,
               'description', s.description, 'images', s.images, 'videos', s.videos, 'create_time', s.t)
               ORDER BY s.t, s.seq) AS records, count(*) AS n
    FROM steps AS s JOIN r ON r.return_order_id = s.rid GROUP BY r.shop_id, s.rid)
SELECT shop_id, rid AS page, json_object('code', 0, 'message', 'Success', 'request_id', md5(CAST(rid AS VARCHAR))[1:20],
           'return_id', CAST(rid AS VARCHAR), 'data', json_object('records', records)) AS body, n
FROM recs"""


_CANCELLATION_VERSIONS = """
WITH c AS (SELECT f.*, s.shop_id FROM f_cancellations AS f JOIN shop_info AS s USING (shop)),
ev AS (  -- PENDING only when the seller answered or the request still waits (see the module doc)
    SELECT cancellation_id, unix(t_request) AS t, 0 AS seq, 'CANCELLATION_REQUEST_PENDING' AS status FROM c
        WHERE seller_decision IS NOT NULL OR cancel_status = 'Pending'
    UNION ALL SELECT cancellation_id, unix(t_seller_response), 1,
           CASE seller_decision WHEN 'Approved' THEN 'CANCELLATION_REQUEST_SUCCESS'
                WHEN 'Rejected' THEN CASE WHEN hash(cancellation_id) % 4 = 0 THEN 'CANCELLATION_REQUEST_CANCEL'
                                          ELSE 'CANCELLATION_REQUEST_CANCELLED' END END
        FROM c WHERE seller_decision IS NOT NULL AND t_seller_response IS NOT NULL
    UNION ALL SELECT cancellation_id, unix(t_cancelled), 2, 'CANCELLATION_REQUEST_SUCCESS'
        FROM c WHERE t_cancelled IS NOT NULL AND seller_decision IS NULL)
SELECT c.shop_id, c.cancellation_id AS cancel_id, ev.t,
       ev.status = 'CANCELLATION_REQUEST_SUCCESS' AND hash(c.cancellation_id) % 4 = 1 AS as_webhook,
       json_object('cancel_id', CAST(c.cancellation_id AS VARCHAR), 'order_id', CAST(c.order_id AS VARCHAR),
           'cancel_type', CASE WHEN hash(c.cancellation_id) % 9 = 0 THEN 'REQUEST_CANCEL_REFUND'
                               WHEN c.requested_by = 'Buyer' THEN 'BUYER_CANCEL' ELSE 'CANCEL' END,
           'cancel_status', ev.status, 'role', upper(c.requested_by),
           'cancel_reason', 'ecom_' || lower(api_key(c.cancel_reason)), 'cancel_reason_text', c.cancel_reason,
           'create_time', unix(c.t_request), 'update_time', ev.t) AS rec,
       json_object('type', 11, 'tts_notification_id', md5(CAST(c.cancellation_id AS VARCHAR) || ev.t)[1:19],
           'shop_id', c.shop_id, 'timestamp', ev.t,
           'data', json_object('cancel_id', CAST(c.cancellation_id AS VARCHAR), 'order_id', CAST(c.order_id AS VARCHAR),
               'cancellations_role', upper(c.requested_by), 'cancel_status', ev.status, 'update_time', ev.t,
               'create_time', unix(c.t_request))) AS hook
FROM ev JOIN c USING (cancellation_id)"""

_MESSAGES = """
WITH m AS (SELECT f.*, s.shop_id FROM f_messages AS f JOIN shop_info AS s USING (shop)),
recs AS (
    SELECT shop_id, conversation_id, message_id, t_sent, json_object(
        'id', CAST(message_id AS VARCHAR), 'conversation_id', CAST(conversation_id AS VARCHAR),
        'index', CAST(row_number() OVER (PARTITION BY conversation_id ORDER BY t_sent, message_id) AS VARCHAR),
        'type', CASE message_type WHEN 'text' THEN 'TEXT' WHEN 'image' THEN 'IMAGE' WHEN 'video' THEN 'VIDEO'
                    WHEN 'sticker' THEN 'EMOTICONS' WHEN 'order_card' THEN 'ORDER_CARD'
                    WHEN 'product_card' THEN 'PRODUCT_CARD' ELSE 'OTHER' END,
        'content', CAST(CASE message_type
            WHEN 'text' THEN json_object('content', fill(content, buyer_first, buyer_name, buyer_phone, buyer_address,
                                                         CAST(nullif(order_id, -1) AS VARCHAR), product))
            WHEN 'order_card' THEN json_object('order_id', CAST(nullif(order_id, -1) AS VARCHAR))
            WHEN 'product_card' THEN json_object('product_name', product)
            ELSE json_object('url', 'https://im.example.com/' || message_id) END AS VARCHAR),
        'create_time', unix(t_sent), 'is_visible', true,
        'sender', json_object('im_user_id', md5(CAST(conversation_id AS VARCHAR) || sender_role)[1:16],
            'role', CASE sender_role WHEN 'Buyer' THEN 'BUYER' WHEN 'Chatbot' THEN 'ROBOT' WHEN 'System' THEN 'SYSTEM'
                         ELSE CASE WHEN message_id % 5 = 0 THEN 'CUSTOMER_SERVICE' ELSE 'SHOP' END END,
            'nickname', CASE sender_role WHEN 'Buyer' THEN buyer_name END)) AS rec
    FROM m)
SELECT shop_id, conversation_id AS page, json_object('code', 0, 'message', 'Success',
           'request_id', md5(CAST(conversation_id AS VARCHAR))[1:20],
           'data', json_object('messages', list(rec ORDER BY t_sent, message_id), 'next_page_token', '')) AS body,
       count(*) AS n
FROM recs GROUP BY shop_id, conversation_id"""
