"""The Open API's enumerations and how they read as export values (openapi.md, declarative).

A value outside these lists is kept as written (and reported in the file's ledger reason);
where the export column is a contract vocabulary, the quality gate then names it too.
"""

from __future__ import annotations

from aftersales.sql_quoting import sql_literal

RETURN_TYPES = {
    "REFUND": "Refund only",
    "RETURN_AND_REFUND": "Return and refund",
    "REPLACEMENT": "Replacement",
}
PARTIAL_REFUND = "Partial refund"

RETURN_STATUSES = (
    "RETURN_OR_REFUND_REQUEST_PENDING",
    "REFUND_OR_RETURN_REQUEST_REJECT",
    "AWAITING_BUYER_SHIP",
    "BUYER_SHIPPED_ITEM",
    "REJECT_RECEIVE_PACKAGE",
    "RETURN_OR_REFUND_REQUEST_SUCCESS",
    "RETURN_OR_REFUND_REQUEST_CANCEL",
    "RETURN_OR_REFUND_REQUEST_COMPLETE",
    "REPLACEMENT_REQUEST_PENDING",
    "REPLACEMENT_REQUEST_REJECT",
    "REPLACEMENT_REQUEST_REFUND_SUCCESS",
    "REPLACEMENT_REQUEST_CANCEL",
    "REPLACEMENT_REQUEST_COMPLETE",
    "AWAITING_BUYER_RESPONSE",
)
RETURN_PENDING = ("RETURN_OR_REFUND_REQUEST_PENDING", "REPLACEMENT_REQUEST_PENDING")
RETURN_REJECTED = ("REFUND_OR_RETURN_REQUEST_REJECT", "REPLACEMENT_REQUEST_REJECT")
# A seller's move out of pending to one of these approves the request (openapi.md; a move
# straight to completion approves it too).
RETURN_APPROVED = (
    "RETURN_OR_REFUND_REQUEST_SUCCESS",
    "AWAITING_BUYER_SHIP",
    "REPLACEMENT_REQUEST_REFUND_SUCCESS",
    "RETURN_OR_REFUND_REQUEST_COMPLETE",
    "REPLACEMENT_REQUEST_COMPLETE",
)
RETURN_SHIPPED = ("BUYER_SHIPPED_ITEM",)
RETURN_REFUNDED = ("RETURN_OR_REFUND_REQUEST_COMPLETE", "REPLACEMENT_REQUEST_COMPLETE")
ARBITRATION_STATUSES = ("IN_PROGRESS", "SUPPORT_BUYER", "SUPPORT_SELLER", "CLOSED")
ARBITRATION_OPEN = ("IN_PROGRESS",)
ARBITRATION_DECIDED = ("SUPPORT_BUYER", "SUPPORT_SELLER")

# Return record events that show a step the search records do not (names as the dumps carry
# them; matched case-insensitively). The buyer's escalation and the platform's decision are
# also read from `arbitration_status`; the earlier of the two wins.
RECORD_EVENTS = {
    "return_delivered": ("RETURN_PACKAGE_DELIVERED", "BUYER_RETURN_DELIVERED", "SELLER_RECEIVED_PACKAGE"),
    "inspected": ("SELLER_INSPECTED_PACKAGE", "SELLER_INSPECTION_COMPLETED"),
    "dispute": ("BUYER_ESCALATED", "BUYER_APPEAL_TO_PLATFORM", "ARBITRATION_STARTED"),
    "platform_decision": ("PLATFORM_DECISION", "ARBITRATION_DECIDED", "PLATFORM_RULED"),
}

# Record `role` (any letter case) -> evidence party; System and Operator act for the platform.
RECORD_PARTIES = {"BUYER": "Buyer", "SELLER": "Seller", "SYSTEM": "Platform", "OPERATOR": "Platform",
                  "PLATFORM": "Platform"}  # fmt: skip

CANCEL_TYPES = ("CANCEL", "BUYER_CANCEL")
CANCEL_STATUSES = {
    "CANCELLATION_REQUEST_PENDING": "Pending",
    "CANCELLATION_REQUEST_SUCCESS": "Cancelled",
    "CANCELLATION_REQUEST_COMPLETE": "Cancelled",
    "CANCELLATION_REQUEST_CANCELLED": "Rejected",
    "CANCELLATION_REQUEST_CANCEL": "Rejected",
}
CANCEL_PENDING = ("CANCELLATION_REQUEST_PENDING",)
CANCEL_DONE = ("CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE")
CANCEL_REFUSED = ("CANCELLATION_REQUEST_CANCELLED", "CANCELLATION_REQUEST_CANCEL")
REQUESTERS = {"BUYER": "Buyer", "SELLER": "Seller", "SYSTEM": "System"}

ORDER_STATUSES = {
    "UNPAID": "Unpaid",
    "ON_HOLD": "On hold",
    "AWAITING_SHIPMENT": "Awaiting Shipment",
    "PARTIALLY_SHIPPING": "Partially shipping",
    "AWAITING_COLLECTION": "Awaiting Collection",
    "IN_TRANSIT": "In Transit",
    "DELIVERED": "Delivered",
    "COMPLETED": "Completed",
    "CANCELLED": "Cancelled",
}
# Statuses that show the parcel has left the seller (a shipment happened).
ORDER_LEFT_WAREHOUSE = ("IN_TRANSIT", "DELIVERED", "COMPLETED")
CANCEL_INITIATORS = {"SELLER": "Seller", "BUYER": "Buyer", "SYSTEM": "System"}
FULFILLMENT_TYPES = {
    "FULFILLMENT_BY_SELLER": "Fulfillment by seller",
    "FULFILLMENT_BY_TIKTOK": "Fulfillment by TikTok Shop",
}
# Line `sku_type` (an order line's pre-order flag) -> "Normal or Pre-order".
SKU_TYPES = {"NORMAL": "Normal", "PRE_ORDER": "Pre-order"}

SENDER_ROLES = {
    "BUYER": "Buyer",
    "SHOP": "Seller",
    "CUSTOMER_SERVICE": "Seller",
    "ROBOT": "Chatbot",
    "SYSTEM": "System",
}
# Message `type` -> export "Message Type". API types with no export equivalent (cards of other
# kinds, notifications, service allocation, entry markers) are staged with an empty type.
MESSAGE_TYPES = {
    "TEXT": "text",
    "IMAGE": "image",
    "VIDEO": "video",
    "EMOTICONS": "sticker",
    "PRODUCT_CARD": "product_card",
    "ORDER_CARD": "order_card",
}
MESSAGE_TYPES_WITHOUT_EXPORT = (
    "RETURN_REFUND_CARD",
    "LOGISTICS_CARD",
    "COUPON_CARD",
    "NOTIFICATION",
    "ALLOCATED_SERVICE",
    "OTHER",
)
MESSAGE_TYPE_PREFIXES_WITHOUT_EXPORT = ("BUYER_ENTER_FROM_",)


def mapped_sql(expr: str, mapping: dict[str, str], keep: bool = True) -> str:
    """CASE mapping an API enum (trimmed, upper case) to its export value; others kept as written
    (`keep`) or NULL."""
    whens = " ".join(f"WHEN {sql_literal(k)} THEN {sql_literal(v)}" for k, v in mapping.items())
    return f"CASE upper(trim({expr})) {whens} ELSE {expr if keep else 'NULL'} END"


def in_sql(expr: str, values: tuple[str, ...]) -> str:
    return f"upper(trim({expr})) IN ({', '.join(map(sql_literal, values))})"
