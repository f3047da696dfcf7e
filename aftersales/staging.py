"""Typed staging tables (`stg_*`): the interface between ingestion and everything downstream.

Ingestion writes exactly these tables into the run's work database; case assembly, scoring,
SLA clocks and seller health read only these (plus the rule packs). Tests of downstream
stages create them with `create_staging_tables` and insert small hand-made rows.

Conventions:
- every time is a TIMESTAMPTZ instant (the export's shop-local wall time, interpreted in the
  shop's IANA zone); get the local wall time back with `timezone(shop.timezone, ts)`;
- money is DECIMAL(18, 2) in the shop's market currency;
- IDs are clean text (no leading tab/apostrophe, trimmed);
- personal data never appears: buyer identity is `buyer_pseudonym` (keyed HMAC);
- `source_file` (path relative to the inbox) and `line_number` (1-based physical line of the
  row in its file, header = line 1) trace every row back to its input.
"""

from __future__ import annotations

STAGING_DDL: dict[str, str] = {
    "stg_shops": """
        CREATE TABLE IF NOT EXISTS stg_shops (
            shop_id VARCHAR PRIMARY KEY,
            shop_name VARCHAR,
            market VARCHAR NOT NULL,          -- US, UK, TH, VN, ID, MY, PH, SG
            program VARCHAR NOT NULL,         -- local, cross_border
            ship_from VARCHAR,                -- ISO country code
            timezone VARCHAR NOT NULL,        -- IANA name
            chatbots_enabled BOOLEAN NOT NULL
        )""",
    "stg_order_lines": """
        CREATE TABLE IF NOT EXISTS stg_order_lines (
            shop_id VARCHAR NOT NULL,
            order_id VARCHAR NOT NULL,
            sku_id VARCHAR NOT NULL,
            order_status VARCHAR,
            order_substatus VARCHAR,
            cancel_return_type VARCHAR,
            order_type VARCHAR,               -- "Normal or Pre-order"
            seller_sku VARCHAR,
            product_name VARCHAR,
            variation VARCHAR,
            quantity INTEGER,
            sku_return_quantity INTEGER,
            sku_unit_original_price DECIMAL(18, 2),
            sku_subtotal_before_discount DECIMAL(18, 2),
            sku_platform_discount DECIMAL(18, 2),
            sku_seller_discount DECIMAL(18, 2),
            sku_subtotal_after_discount DECIMAL(18, 2),
            shipping_fee_after_discount DECIMAL(18, 2),
            original_shipping_fee DECIMAL(18, 2),
            shipping_fee_seller_discount DECIMAL(18, 2),
            shipping_fee_platform_discount DECIMAL(18, 2),
            payment_platform_discount DECIMAL(18, 2),
            taxes DECIMAL(18, 2),
            order_amount DECIMAL(18, 2),        -- repeated on every line of the order: never sum
            order_refund_amount DECIMAL(18, 2), -- repeated on every line of the order: never sum
            created_time TIMESTAMPTZ,
            paid_time TIMESTAMPTZ,
            rts_time TIMESTAMPTZ,
            shipped_time TIMESTAMPTZ,
            delivered_time TIMESTAMPTZ,
            cancelled_time TIMESTAMPTZ,
            cancel_by VARCHAR,
            cancel_reason VARCHAR,
            fulfillment_type VARCHAR,
            warehouse_name VARCHAR,
            tracking_id VARCHAR,
            delivery_option VARCHAR,
            shipping_provider_name VARCHAR,
            buyer_pseudonym VARCHAR,          -- HMAC of "Buyer Username"; never the name itself
            country VARCHAR,
            state VARCHAR,
            city VARCHAR,
            payment_method VARCHAR,
            weight_kg DOUBLE,
            product_category VARCHAR,
            package_id VARCHAR,
            checked_status VARCHAR,
            checked_marked_by VARCHAR,
            source_file VARCHAR NOT NULL,
            line_number BIGINT NOT NULL
        )""",
    "stg_aftersales_requests": """
        CREATE TABLE IF NOT EXISTS stg_aftersales_requests (
            shop_id VARCHAR NOT NULL,
            return_order_id VARCHAR NOT NULL,
            order_id VARCHAR NOT NULL,
            sku_id VARCHAR,
            return_type VARCHAR NOT NULL,     -- Refund only, Return and refund, Replacement, Partial refund
            return_reason VARCHAR,
            return_status VARCHAR,
            arbitration_status VARCHAR,
            request_time TIMESTAMPTZ NOT NULL,
            item_price DECIMAL(18, 2),
            refund_amount DECIMAL(18, 2),
            currency VARCHAR,
            seller_response_time TIMESTAMPTZ,
            seller_decision VARCHAR,          -- Approved, Rejected, NULL
            seller_reject_reason VARCHAR,
            return_shipped_time TIMESTAMPTZ,
            return_delivered_time TIMESTAMPTZ,
            seller_inspection_time TIMESTAMPTZ,
            refund_time TIMESTAMPTZ,
            buyer_dispute_time TIMESTAMPTZ,
            platform_decision_time TIMESTAMPTZ,
            return_tracking_id VARCHAR,
            source_file VARCHAR NOT NULL,
            line_number BIGINT NOT NULL
        )""",
    "stg_cancellations": """
        CREATE TABLE IF NOT EXISTS stg_cancellations (
            shop_id VARCHAR NOT NULL,
            cancellation_id VARCHAR NOT NULL,
            order_id VARCHAR NOT NULL,
            requested_by VARCHAR,             -- Buyer, Seller, System
            cancel_reason VARCHAR,
            request_time TIMESTAMPTZ NOT NULL,
            seller_response_time TIMESTAMPTZ,
            seller_decision VARCHAR,          -- Approved, Rejected, NULL
            cancel_status VARCHAR,
            cancelled_time TIMESTAMPTZ,
            source_file VARCHAR NOT NULL,
            line_number BIGINT NOT NULL
        )""",
    "stg_messages": """
        CREATE TABLE IF NOT EXISTS stg_messages (
            shop_id VARCHAR NOT NULL,
            conversation_id VARCHAR NOT NULL,
            message_id VARCHAR NOT NULL,
            order_id VARCHAR,                 -- may be NULL
            sender_role VARCHAR NOT NULL,     -- Buyer, Seller, Chatbot, System
            message_type VARCHAR,             -- text, image, video, sticker, order_card, product_card
            sent_time TIMESTAMPTZ NOT NULL,
            is_greeting BOOLEAN NOT NULL,     -- bare greeting ("hi", "hello", "你好", ...): does not stop a clock
            content_length INTEGER,           -- the content itself is personal data and is dropped
            source_file VARCHAR NOT NULL,
            line_number BIGINT NOT NULL
        )""",
    "stg_evidence": """
        CREATE TABLE IF NOT EXISTS stg_evidence (
            shop_id VARCHAR NOT NULL,
            case_id VARCHAR NOT NULL,         -- Return Order ID, Cancellation ID or Appeal ID
            submitted_by VARCHAR NOT NULL,    -- Buyer, Seller, Carrier, Platform
            evidence_type VARCHAR NOT NULL,
            uploaded_time TIMESTAMPTZ,
            file_name VARCHAR,
            file_size_bytes BIGINT,
            sha256 VARCHAR,
            is_valid BOOLEAN NOT NULL,        -- size > 0 and a well-formed SHA-256 (64 hex chars)
            source_file VARCHAR NOT NULL,
            line_number BIGINT NOT NULL
        )""",
    "stg_appeals": """
        CREATE TABLE IF NOT EXISTS stg_appeals (
            shop_id VARCHAR NOT NULL,
            appeal_id VARCHAR NOT NULL,
            return_order_id VARCHAR NOT NULL,
            appeal_type VARCHAR NOT NULL,
            appeal_available_time TIMESTAMPTZ,
            submitted_time TIMESTAMPTZ,
            appeal_status VARCHAR,
            appeal_reason VARCHAR,
            source_file VARCHAR NOT NULL,
            line_number BIGINT NOT NULL
        )""",
}

STAGING_TABLES: tuple[str, ...] = tuple(STAGING_DDL)


def create_staging_tables(con) -> None:
    """Create every empty `stg_*` table on a DuckDB connection (idempotent)."""
    con.execute("SET TimeZone = 'UTC'")
    for ddl in STAGING_DDL.values():
        con.execute(ddl)
