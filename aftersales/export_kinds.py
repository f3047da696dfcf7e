"""The export kinds of contract §2: header signatures, aliases, typing and data-quality facts.

Everything that differs between export kinds is declared here as data, so that recognition,
typing SQL, quality suites, personal-data masking and staging all read the same definition.
It sits above `ingest` and `quality`, which both look down at it (neither imports the other's
declarations).
A column is identified by its contract header ("Order ID"); `target` is its `stg_*` column.

Column types:
- `id`: cleaned identifier (leading tab / apostrophe / Excel `="..."` wrapper removed, trimmed);
- `text`: trimmed text, empty = NULL;
- `enum`: text canonicalised case/punctuation-insensitively to one of `values`;
- `time`: shop-local wall time -> TIMESTAMPTZ; `money`: amount -> DECIMAL(18, 2);
- `int` / `bigint` / `float` / `bool`: numbers and flags; `tz`: an IANA time-zone name;
- `pii`: personal data, never stored (masked in quarantine `raw`);
- `username`: personal data turned into `buyer_pseudonym`; `content`: personal data read only
  to derive `is_greeting` and `content_length`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cached_property

from aftersales.vocabulary import (
    APPEAL_TYPES,
    CANCEL_REQUESTERS,
    EVIDENCE_SUBMITTERS,
    EVIDENCE_TYPES,
    MARKETS,
    MESSAGE_TYPES,
    PROGRAMS,
    RETURN_TYPES,
    SELLER_DECISIONS,
    SENDER_ROLES,
)

PARSED_TYPES = frozenset({"time", "money", "int", "bigint", "float", "bool"})
PERSONAL_TYPES = frozenset({"pii", "username", "content"})

# How a quarantine reason names what a parsed type's text failed to be ("... is not an amount").
TYPE_NOUNS = {
    "time": "a valid time",
    "money": "an amount",
    "int": "a whole number",
    "bigint": "a whole number",
    "float": "a number",
    "bool": "true or false",
}

# Markets whose exports write times month-first with AM/PM (contract §2.2); all others are
# day-first 24-hour.
MONTH_FIRST_MARKETS = frozenset({"US"})
# Currencies written without minor units, so "125.000" means 125000 (VND; IDR in practice).
ZERO_DECIMAL_MARKETS = frozenset({"VN", "ID"})


@dataclass(frozen=True)
class Column:
    header: str
    type: str
    target: str | None = None
    required: bool = False  # the header must be present (else the file is skipped)
    not_null: bool = False  # every row needs a value (else the row is quarantined)
    values: tuple[str, ...] = ()  # enum vocabulary
    value_aliases: tuple[tuple[str, str], ...] = ()  # enum spelling -> canonical value
    aliases: tuple[str, ...] = ()  # known header variants
    checked: bool = True  # a raw value that does not parse is quarantined
    non_negative: bool = False
    pattern: str | None = None  # full-match regex for text values


@dataclass(frozen=True)
class Cap:
    """`amount` must not exceed `cap` (both headers); `cap_from_orders` takes the cap from the
    orders export of the same shop and order (joined on "Order ID")."""

    amount: str
    cap: str
    cap_from_orders: bool = False


@dataclass(frozen=True)
class Kind:
    name: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # headers that identify a row within a shop (uniqueness gate)
    event_order: tuple[tuple[str, str], ...] = ()  # (earlier, later) time headers
    caps: tuple[Cap, ...] = ()
    description_keys: tuple[str, ...] = ()  # ID headers tested by the description-row rule

    @cached_property
    def by_header(self) -> dict[str, Column]:
        return {c.header: c for c in self.columns}

    @cached_property
    def header_index(self) -> dict[str, Column]:
        """Normalised header (and alias) -> column."""
        index: dict[str, Column] = {}
        for col in self.columns:
            for name in (col.header, *col.aliases):
                index[header_key(name)] = col
        return index

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def personal(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.type in PERSONAL_TYPES)


def unparsed_name(col: Column) -> str:
    """Typed-table column holding a parsed column's text where it did not parse (else NULL)."""
    return f"{col.target}__unparsed"


_SPELLING_VARIANTS = (
    ("cancelation", "cancellation"),
    ("canceled", "cancelled"),
    ("fulfilment", "fulfillment"),
)


def header_key(text: str) -> str:
    """Header identity tolerant of case, spacing, punctuation and UK/US spellings."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    for variant, canonical in _SPELLING_VARIANTS:
        folded = folded.replace(variant, canonical)
    return "".join(ch for ch in folded if ch.isalnum())


def C(header: str, type_: str, target: str | None = None, **kw) -> Column:
    """Column declaration shorthand: target defaults to the snake-cased header; amounts and
    counts default to non-negative."""
    if target is None and type_ not in PERSONAL_TYPES:
        target = _snake(header)
    if type_ in ("money", "int") and "non_negative" not in kw:
        kw["non_negative"] = True
    return Column(header=header, type=type_, target=target, **kw)


def _snake(header: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in header)
    return "_".join(part for part in out.split("_") if part)


SHOPS = Kind(
    name="shops",
    table="stg_shops",
    columns=(
        C("Shop ID", "id", required=True, not_null=True),
        C("Shop Name", "text"),
        C("Market", "enum", required=True, not_null=True, values=MARKETS, value_aliases=(("GB", "UK"),)),
        C("Program", "enum", required=True, not_null=True, values=PROGRAMS),
        C("Ship From", "text", pattern="[A-Z]{2}"),
        C("Timezone", "tz", required=True, not_null=True, aliases=("Time Zone",)),
        C("Chatbots Enabled", "bool", required=True, not_null=True),
    ),
    key=("Shop ID",),
    description_keys=("Shop ID",),
)

ORDERS = Kind(
    name="orders",
    table="stg_order_lines",
    columns=(
        C("Order ID", "id", required=True, not_null=True),
        C("Order Status", "text"),
        C("Order Substatus", "text"),
        C("Cancelation/Return Type", "text", "cancel_return_type"),
        C("Normal or Pre-order", "text", "order_type"),
        C("SKU ID", "id", required=True, not_null=True),
        C("Seller SKU", "id"),
        C("Product Name", "text"),
        C("Variation", "text"),
        C("Quantity", "int"),
        C("Sku Quantity of return", "int", "sku_return_quantity"),
        C("SKU Unit Original Price", "money"),
        C("SKU Subtotal Before Discount", "money"),
        C("SKU Platform Discount", "money"),
        C("SKU Seller Discount", "money"),
        C("SKU Subtotal After Discount", "money"),
        C("Shipping Fee After Discount", "money"),
        C("Original Shipping Fee", "money"),
        C("Shipping Fee Seller Discount", "money"),
        C("Shipping Fee Platform Discount", "money"),
        C("Payment platform discount", "money"),
        C("Taxes", "money"),
        C("Order Amount", "money"),
        C("Order Refund Amount", "money"),
        C("Created Time", "time"),
        C("Paid Time", "time"),
        C("RTS Time", "time"),
        C("Shipped Time", "time"),
        C("Delivered Time", "time"),
        C("Cancelled Time", "time", aliases=("Cancel Time",)),
        C("Cancel By", "text", aliases=("Cancelled By",)),
        C("Cancel Reason", "text"),
        C("Fulfillment Type", "text"),
        C("Warehouse Name", "text"),
        C("Tracking ID", "id", aliases=("Tracking Number",)),
        C("Delivery Option", "text"),
        C("Shipping Provider Name", "text", aliases=("Shipping Provider",)),
        C("Buyer Message", "pii"),
        C("Buyer Username", "username", aliases=("Buyer User Name",)),
        C("Recipient", "pii", aliases=("Recipient Name",)),
        C("Phone #", "pii", aliases=("Phone Number", "Phone")),
        C("Zipcode", "pii", aliases=("Zip Code", "Postcode", "Postal Code")),
        C("Country", "text"),
        C("State", "text", aliases=("Province",)),
        C("City", "text", aliases=("District",)),
        C("Detail Address", "pii", aliases=("Detailed Address", "Address")),
        C("Additional address information", "pii"),
        C("Payment Method", "text"),
        C("Weight(kg)", "float", "weight_kg", aliases=("Weight",)),
        C("Product Category", "text"),
        C("Package ID", "id"),
        # Not staged; free text written about the buyer, so masked like personal data.
        C("Seller Note", "pii"),
        C("Checked Status", "text"),
        C("Checked Marked by", "text"),
    ),
    key=("Order ID", "SKU ID"),
    event_order=(
        ("Created Time", "Paid Time"),
        ("Paid Time", "RTS Time"),
        ("Paid Time", "Shipped Time"),
        ("Shipped Time", "Delivered Time"),
        ("Created Time", "Cancelled Time"),
    ),
    caps=(Cap("Order Refund Amount", "Order Amount"), Cap("Sku Quantity of return", "Quantity")),
    description_keys=("Order ID", "SKU ID"),
)

AFTERSALES_REQUESTS = Kind(
    name="aftersales_requests",
    table="stg_aftersales_requests",
    columns=(
        C("Return Order ID", "id", required=True, not_null=True, aliases=("Return ID",)),
        C("Order ID", "id", required=True, not_null=True),
        C("SKU ID", "id"),
        C(
            "Return Type",
            "enum",
            required=True,
            not_null=True,
            values=RETURN_TYPES,
            value_aliases=(("Return & refund", "Return and refund"), ("Return/Refund", "Return and refund")),
        ),
        C("Return Reason", "text"),
        C("Return Status", "text"),
        C("Arbitration Status", "text"),
        C("Request Time", "time", required=True, not_null=True),
        C("Item Price", "money"),
        C("Refund Amount", "money"),
        C("Currency", "text", pattern="[A-Z]{3}"),
        C("Seller Response Time", "time"),
        C("Seller Decision", "enum", values=SELLER_DECISIONS),
        C("Seller Reject Reason", "text"),
        C("Return Shipped Time", "time"),
        C("Return Delivered Time", "time"),
        C("Seller Inspection Time", "time"),
        C("Refund Time", "time"),
        C("Buyer Dispute Time", "time"),
        C("Platform Decision Time", "time"),
        C("Return Tracking ID", "id"),
    ),
    key=("Return Order ID", "SKU ID"),
    event_order=(
        ("Request Time", "Seller Response Time"),
        ("Request Time", "Return Shipped Time"),
        ("Return Shipped Time", "Return Delivered Time"),
        ("Return Delivered Time", "Seller Inspection Time"),
        ("Request Time", "Refund Time"),
        ("Request Time", "Buyer Dispute Time"),
        ("Request Time", "Platform Decision Time"),
    ),
    # A refund can exceed the unit "Item Price" (several units, shipping fee, taxes) but never
    # what the buyer paid for the whole order.
    caps=(Cap("Refund Amount", "Order Amount", cap_from_orders=True),),
    description_keys=("Return Order ID", "Order ID"),
)

CANCELLATIONS = Kind(
    name="cancellations",
    table="stg_cancellations",
    columns=(
        C("Cancellation ID", "id", required=True, not_null=True, aliases=("Cancel ID",)),
        C("Order ID", "id", required=True, not_null=True),
        C("Requested By", "enum", values=CANCEL_REQUESTERS),
        C("Cancel Reason", "text"),
        C("Request Time", "time", required=True, not_null=True),
        C("Seller Response Time", "time"),
        C("Seller Decision", "enum", values=SELLER_DECISIONS),
        C("Cancel Status", "text"),
        C("Cancelled Time", "time", aliases=("Cancel Time",)),
    ),
    key=("Cancellation ID",),
    event_order=(("Request Time", "Seller Response Time"), ("Request Time", "Cancelled Time")),
    description_keys=("Cancellation ID", "Order ID"),
)

MESSAGES = Kind(
    name="messages",
    table="stg_messages",
    columns=(
        C("Conversation ID", "id", required=True, not_null=True),
        C("Message ID", "id", required=True, not_null=True),
        C("Order ID", "id"),
        C(
            "Sender Role",
            "enum",
            required=True,
            not_null=True,
            values=SENDER_ROLES,
        ),
        C(
            "Message Type",
            "enum",
            values=MESSAGE_TYPES,
        ),
        C("Sent Time", "time", required=True, not_null=True),
        C("Content", "content", aliases=("Message Content",)),
    ),
    key=("Conversation ID", "Message ID"),
    description_keys=("Conversation ID", "Message ID"),
)

EVIDENCE = Kind(
    name="evidence",
    table="stg_evidence",
    columns=(
        C("Case ID", "id", required=True, not_null=True),
        C(
            "Submitted By",
            "enum",
            required=True,
            not_null=True,
            values=EVIDENCE_SUBMITTERS,
        ),
        C(
            "Evidence Type",
            "enum",
            required=True,
            not_null=True,
            values=EVIDENCE_TYPES,
        ),
        C("Uploaded Time", "time"),
        C("File Name", "text"),
        # Size and hash are policy inputs (`is_valid`), never a reason to quarantine.
        C("File Size Bytes", "bigint", checked=False),
        C("SHA256", "text", "sha256", aliases=("SHA-256", "File SHA256")),
    ),
    key=("Case ID", "Submitted By", "Evidence Type", "File Name", "SHA256"),
    description_keys=("Case ID",),
)

APPEALS = Kind(
    name="appeals",
    table="stg_appeals",
    columns=(
        C("Appeal ID", "id", required=True, not_null=True),
        C("Return Order ID", "id", required=True, not_null=True),
        C(
            "Appeal Type",
            "enum",
            required=True,
            not_null=True,
            values=APPEAL_TYPES,
        ),
        C("Appeal Available Time", "time"),
        C("Submitted Time", "time"),
        C("Appeal Status", "text"),
        C("Appeal Reason", "text"),
    ),
    key=("Appeal ID",),
    event_order=(("Appeal Available Time", "Submitted Time"),),
    description_keys=("Appeal ID", "Return Order ID"),
)

KINDS: dict[str, Kind] = {
    k.name: k for k in (SHOPS, ORDERS, AFTERSALES_REQUESTS, CANCELLATIONS, MESSAGES, EVIDENCE, APPEALS)
}
# Processing order: orders first (their amounts cap after-sales refunds).
SHOP_EXPORT_KINDS: tuple[str, ...] = (
    "orders",
    "aftersales_requests",
    "cancellations",
    "messages",
    "evidence",
    "appeals",
)
