"""The export formats: exact header names (contract section 2), how each column is rendered,
and the header quirks of real Seller Center files.

A column's `source` is a column of the kind's generated frame or a SQL expression over it;
its `role` decides how the value becomes text (see `writers.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["id", "time", "money", "int", "num", "text"]


@dataclass(frozen=True)
class ColumnSpec:
    header: str
    role: Role
    source: str
    description: str = ""
    sea_header: str | None = None  # header used by SEA exports ("Province" for "State")
    literal_prefix: str = ""  # e.g. "AP" in front of appeal numbers


_FILL = "fill({tpl}, {first}, {name}, {phone}, {address}, {order}, {product})"


def _fill(
    tpl: str, first="NULL", name="NULL", phone="NULL", address="NULL", order="NULL", product="NULL"
) -> str:
    return _FILL.format(
        tpl=tpl, first=first, name=name, phone=phone, address=address, order=order, product=product
    )


ORDER_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("Order ID", "id", "order_id", "Platform unique order ID."),
    ColumnSpec("Order Status", "text", "order_status", "Current status of the order."),
    ColumnSpec("Order Substatus", "text", "order_substatus", "Detailed status within the order status."),
    ColumnSpec("Cancelation/Return Type", "text", "cancel_return_type", "Cancel or Return/Refund, if any."),
    ColumnSpec("Normal or Pre-order", "text", "order_type", "Whether the order is a pre-order."),
    ColumnSpec("SKU ID", "id", "sku_id", "Platform SKU ID."),
    ColumnSpec("Seller SKU", "text", "seller_sku", "Your own SKU code."),
    ColumnSpec("Product Name", "text", "product_name", "Product name at the time of purchase."),
    ColumnSpec("Variation", "text", "variation", "SKU variation (colour, size, ...)."),
    ColumnSpec("Quantity", "int", "quantity", "Units of this SKU in the order."),
    ColumnSpec("Sku Quantity of return", "int", "return_qty", "Units of this SKU returned or refunded."),
    ColumnSpec("SKU Unit Original Price", "money", "unit_price", "List price per unit."),
    ColumnSpec("SKU Subtotal Before Discount", "money", "subtotal_before", "Unit price x quantity."),
    ColumnSpec("SKU Platform Discount", "money", "platform_discount", "Discount funded by the platform."),
    ColumnSpec("SKU Seller Discount", "money", "seller_discount", "Discount funded by the seller."),
    ColumnSpec("SKU Subtotal After Discount", "money", "subtotal_after", "Subtotal after all SKU discounts."),
    ColumnSpec(
        "Shipping Fee After Discount", "money", "shipping_after_discount", "Shipping fee paid by the buyer."
    ),
    ColumnSpec("Original Shipping Fee", "money", "original_shipping_fee", "Shipping fee before discounts."),
    ColumnSpec(
        "Shipping Fee Seller Discount",
        "money",
        "shipping_seller_discount",
        "Shipping discount funded by the seller.",
    ),
    ColumnSpec(
        "Shipping Fee Platform Discount",
        "money",
        "shipping_platform_discount",
        "Shipping discount funded by the platform.",
    ),
    ColumnSpec(
        "Payment platform discount",
        "money",
        "payment_platform_discount",
        "Discount from the payment provider.",
    ),
    ColumnSpec("Taxes", "money", "taxes", "Sales tax collected."),
    ColumnSpec("Small Order Fee", "money", "small_order_fee", "Fee on orders below the minimum value."),
    ColumnSpec("Retail Delivery Fee", "money", "retail_delivery_fee", "State retail delivery fee (US)."),
    ColumnSpec(
        "Order Amount", "money", "order_amount", "Total paid for the whole order (repeated on each line)."
    ),
    ColumnSpec(
        "Order Refund Amount",
        "money",
        "refund_amount",
        "Total refunded for the whole order (repeated on each line).",
    ),
    ColumnSpec("Created Time", "time", "t_created", "When the order was placed."),
    ColumnSpec("Paid Time", "time", "t_paid", "When the payment was completed."),
    ColumnSpec("RTS Time", "time", "t_rts", "When the package was marked ready to ship."),
    ColumnSpec("Shipped Time", "time", "t_shipped", "First carrier scan."),
    ColumnSpec("Delivered Time", "time", "t_delivered", "Delivery confirmed by the carrier."),
    ColumnSpec("Cancelled Time", "time", "t_cancelled", "When the order was cancelled."),
    ColumnSpec("Cancel By", "text", "cancel_by", "Who cancelled the order."),
    ColumnSpec("Cancel Reason", "text", "cancel_reason", "Reason given for the cancellation."),
    ColumnSpec("Fulfillment Type", "text", "fulfillment", "Fulfilled by the seller or by TikTok Shop."),
    ColumnSpec("Warehouse Name", "text", "warehouse", "Warehouse the order ships from."),
    ColumnSpec(
        "Tracking ID",
        "text",
        "CASE WHEN tracking_no_or_null < 0 THEN NULL ELSE tracking_prefix || lpad(CAST(tracking_no_or_null AS VARCHAR), 12, '0') END",
        "Carrier tracking number.",
    ),  # fmt: skip
    ColumnSpec("Delivery Option", "text", "delivery_option", "Shipping speed chosen by the buyer."),
    ColumnSpec("Shipping Provider Name", "text", "shipping_provider", "Carrier."),
    ColumnSpec(
        "Buyer Message",
        "text",
        _fill("buyer_message", first="recipient_first", name="buyer_name", phone="phone", address="address"),
        "Note left by the buyer at checkout.",
    ),  # fmt: skip
    ColumnSpec("Buyer Username", "text", "buyer_username", "Buyer's TikTok username."),
    ColumnSpec("Recipient", "text", "recipient_name", "Name of the person receiving the parcel."),
    ColumnSpec("Phone #", "text", "phone", "Recipient phone number."),
    ColumnSpec("Zipcode", "text", "zipcode", "Postal code."),
    ColumnSpec("Country", "text", "country", "Destination country."),
    ColumnSpec("State", "text", "state", "State, county or province.", sea_header="Province"),
    ColumnSpec("City", "text", "city", "City or district.", sea_header="District"),
    ColumnSpec("Detail Address", "text", "address", "Street address."),
    ColumnSpec("Additional address information", "text", "address_extra", "Apartment, unit, delivery notes."),
    ColumnSpec("Payment Method", "text", "payment_method", "How the buyer paid."),
    ColumnSpec("Weight(kg)", "num", "weight_kg", "Declared weight of the line."),
    ColumnSpec("Product Category", "text", "category", "Listing category."),
    ColumnSpec("Package ID", "id", "package_id", "Package the line ships in."),
    ColumnSpec("Seller Note", "text", "seller_note", "Internal note added by the seller."),
    ColumnSpec("Checked Status", "text", "checked_status", "Whether the order was checked by staff."),
    ColumnSpec("Checked Marked by", "text", "checked_by", "Staff account that checked the order."),
)

REQUEST_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("Return Order ID", "id", "return_order_id"),
    ColumnSpec("Order ID", "id", "order_id"),
    ColumnSpec("SKU ID", "id", "sku_id"),
    ColumnSpec("Return Type", "text", "return_type"),
    ColumnSpec("Return Reason", "text", "return_reason"),
    ColumnSpec("Return Status", "text", "return_status"),
    ColumnSpec("Arbitration Status", "text", "arbitration_status"),
    ColumnSpec("Request Time", "time", "t_request"),
    ColumnSpec("Item Price", "money", "item_price"),
    ColumnSpec("Refund Amount", "money", "refund_amount"),
    ColumnSpec("Currency", "text", "currency"),
    ColumnSpec("Seller Response Time", "time", "t_seller_response"),
    ColumnSpec("Seller Decision", "text", "seller_decision"),
    ColumnSpec("Seller Reject Reason", "text", "seller_reject_reason"),
    ColumnSpec("Return Shipped Time", "time", "t_return_shipped"),
    ColumnSpec("Return Delivered Time", "time", "t_return_delivered"),
    ColumnSpec("Seller Inspection Time", "time", "t_inspection"),
    ColumnSpec("Refund Time", "time", "t_refund"),
    ColumnSpec("Buyer Dispute Time", "time", "t_dispute"),
    ColumnSpec("Platform Decision Time", "time", "t_platform_decision"),
    ColumnSpec(
        "Return Tracking ID",
        "text",
        "CASE WHEN return_tracking_no < 0 THEN NULL ELSE 'RT' || lpad(CAST(return_tracking_no AS VARCHAR), 12, '0') END",
    ),  # fmt: skip
)

CANCELLATION_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("Cancellation ID", "id", "cancellation_id"),
    ColumnSpec("Order ID", "id", "order_id"),
    ColumnSpec("Requested By", "text", "requested_by"),
    ColumnSpec("Cancel Reason", "text", "cancel_reason"),
    ColumnSpec("Request Time", "time", "t_request"),
    ColumnSpec("Seller Response Time", "time", "t_seller_response"),
    ColumnSpec("Seller Decision", "text", "seller_decision"),
    ColumnSpec("Cancel Status", "text", "cancel_status"),
    ColumnSpec("Cancelled Time", "time", "t_cancelled"),
)

MESSAGE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("Conversation ID", "id", "conversation_id"),
    ColumnSpec("Message ID", "id", "message_id"),
    ColumnSpec("Order ID", "id", "nullif(order_id, -1)"),
    ColumnSpec("Sender Role", "text", "sender_role"),
    ColumnSpec("Message Type", "text", "message_type"),
    ColumnSpec("Sent Time", "time", "t_sent"),
    ColumnSpec(
        "Content",
        "text",
        _fill(
            "content",
            first="buyer_first",
            name="buyer_name",
            phone="buyer_phone",
            address="buyer_address",
            order="CAST(nullif(order_id, -1) AS VARCHAR)",
            product="product",
        ),
    ),  # fmt: skip
)

EVIDENCE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        "Case ID",
        "id",
        "CASE WHEN case_kind = 'appeal' THEN 'AP' || CAST(case_key AS VARCHAR) ELSE CAST(case_key AS VARCHAR) END",
    ),
    ColumnSpec("Submitted By", "text", "submitted_by"),
    ColumnSpec("Evidence Type", "text", "evidence_type"),
    ColumnSpec("Uploaded Time", "time", "t_uploaded"),
    ColumnSpec("File Name", "text", "file_name"),
    ColumnSpec("File Size Bytes", "int", "file_size"),
    ColumnSpec("SHA256", "text", "sha256"),
)

APPEAL_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("Appeal ID", "id", "appeal_no", literal_prefix="AP"),
    ColumnSpec("Return Order ID", "id", "return_order_id"),
    ColumnSpec("Appeal Type", "text", "appeal_type"),
    ColumnSpec("Appeal Available Time", "time", "t_available"),
    ColumnSpec("Submitted Time", "time", "t_submitted"),
    ColumnSpec("Appeal Status", "text", "appeal_status"),
    ColumnSpec("Appeal Reason", "text", "appeal_reason"),
)

KINDS: dict[str, tuple[ColumnSpec, ...]] = {
    "orders": ORDER_COLUMNS,
    "aftersales_requests": REQUEST_COLUMNS,
    "cancellations": CANCELLATION_COLUMNS,
    "messages": MESSAGE_COLUMNS,
    "evidence": EVIDENCE_COLUMNS,
    "appeals": APPEAL_COLUMNS,
}

# Personal data columns (contract 2.2 and 2.5): never stored in clear by the batch.
PERSONAL_HEADERS = frozenset(
    {"Buyer Username", "Recipient", "Phone #", "Zipcode", "Detail Address", "Additional address information",
     "Buyer Message", "Content"}
)  # fmt: skip

HeaderStyle = Literal["exact", "case_spacing", "lower", "alt_spelling"]


def render_headers(columns: tuple[ColumnSpec, ...], style: HeaderStyle, sea: bool) -> list[str]:
    """Header row of one file: exact names, or the variants real exports show."""
    names = [(c.sea_header if sea and c.sea_header else c.header) for c in columns]
    if style == "lower":
        return [n.lower() for n in names]
    if style == "alt_spelling":
        return ["Cancellation/Return Type" if n == "Cancelation/Return Type" else n for n in names]
    if style == "case_spacing":
        out = []
        for i, n in enumerate(names):
            variant = i % 4
            if variant == 0:
                out.append(n.upper())
            elif variant == 1:
                out.append(f" {n} ")
            elif variant == 2:
                out.append(n.title().replace(" ", "  ", 1))
            else:
                out.append(n.lower() + " ")
        return out
    return names
