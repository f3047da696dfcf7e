"""The contract's closed vocabularies (shared/domain/contract.md §2 and §3).

These are interface names that users and their tools depend on, not policy values: windows,
deadlines, bands and thresholds live in `rules/`. Ingestion validates inputs against the §2
lists, the policy engine and the views use the §3 lists.
"""

from __future__ import annotations

# §2 inputs
MARKETS = ("US", "UK", "TH", "VN", "ID", "MY", "PH", "SG")
# ISO 4217 currency of each market: export money is in the shop's market currency (a fact, not policy).
MARKET_CURRENCY = {
    "US": "USD",
    "UK": "GBP",
    "TH": "THB",
    "VN": "VND",
    "ID": "IDR",
    "MY": "MYR",
    "PH": "PHP",
    "SG": "SGD",
}
PROGRAMS = ("local", "cross_border")
RETURN_TYPES = ("Refund only", "Return and refund", "Replacement", "Partial refund")
SELLER_DECISIONS = ("Approved", "Rejected")
CANCEL_REQUESTERS = ("Buyer", "Seller", "System")
SENDER_ROLES = ("Buyer", "Seller", "Chatbot", "System")
MESSAGE_TYPES = ("text", "image", "video", "sticker", "order_card", "product_card")
EVIDENCE_SUBMITTERS = ("Buyer", "Seller", "Carrier", "Platform")
EVIDENCE_TYPES = (
    "photo",
    "video",
    "unboxing_video",
    "tracking",
    "proof_of_delivery",
    "chat_screenshot",
    "listing_snapshot",
    "invoice",
    "lab_report",
    "awb_photo",
    "packing_photo",
    "comparison_photo",
)
APPEAL_TYPES = (
    "arbitration_lost",
    "auto_refund_overdue",
    "speedy_refund",
    "return_not_received",
    "item_damaged_or_used",
    "wrong_item_returned",
)

# §3 outputs
CASE_KINDS = ("return_refund", "replacement", "cancellation", "appeal")
DECISIONS = ("buyer_favour", "partial_refund", "seller_favour", "need_evidence", "manual_review")
LIABLE_PARTIES = ("seller", "buyer", "carrier", "platform", "none")
REMEDIES = ("refund_only", "return_and_refund", "replacement", "partial_refund", "cancel_order", "none")
SLA_IDS = (
    "chat_reply",
    "aftersales_response",
    "cancellation_response",
    "return_inspection",
    "dispatch",
    "auto_cancel",
    "appeal_window",
    "dispute_window",
)
HEALTH_METRICS = ("sfcr", "ldr", "chat_reply_rate", "sfrr")
HEALTH_STATUSES = ("ok", "warning", "breach", "no_data")  # no_data: nothing to measure in the window
RUN_STATUSES = ("success", "failed")
