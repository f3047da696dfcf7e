"""Orders and their SKU lines (contract section 2.2).

An order lives on a timeline paid -> ready to ship -> shipped -> delivered. Timelines are drawn
as elapsed durations from the creation instant; anything after the batch cutoff has simply
not happened yet, so statuses are derived from whichever events exist. Cancellations and
after-sales requests are generated afterwards and folded back in by `finalize_orders`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from aftersales.generate.frames import Frame, Text
from aftersales.generate.people import Buyers
from aftersales.generate.products import Catalog
from aftersales.generate.sampling import (
    DAY,
    HOUR,
    local_midnight_epoch,
    local_times_of_day,
    local_to_utc,
    pick,
    spread_ids,
    uniform,
)
from aftersales.generate.shops import Shop, zone_codes

ORDER_STATUS = {  # (Order Status, Order Substatus)
    "unpaid": ("Unpaid", "Unpaid"),
    "on_hold": ("On hold", "On hold"),
    "awaiting_shipment": ("To ship", "Awaiting shipment"),
    "awaiting_collection": ("To ship", "Awaiting collection"),
    "in_transit": ("Shipped", "In transit"),
    "delivered": ("Delivered", "Delivered"),
    "completed": ("Completed", "Completed"),
    "cancelled": ("Cancelled", "Cancelled"),
}
_STATUS_KEYS = list(ORDER_STATUS)

_SHIPPING_FEE = {
    "US": 599,
    "UK": 399,
    "TH": 4000,
    "VN": 3_000_000,
    "ID": 2_000_000,
    "MY": 800,
    "PH": 6000,
    "SG": 450,
}
_FREE_SHIPPING_OVER = {"US": 3500, "UK": 2000, "TH": 49_000, "VN": 30_000_000, "ID": 15_000_000, "MY": 5000,
                       "PH": 50_000, "SG": 3000}  # fmt: skip
_SALES_TAX = {"US": 0.0825}
_PAYMENT = {
    "US": ["Credit card", "PayPal", "Apple Pay", "Google Pay", "Afterpay"],
    "UK": ["Credit card", "PayPal", "Apple Pay", "Klarna"],
    "TH": ["Cash on delivery", "TrueMoney Wallet", "Credit card", "PromptPay"],
    "VN": ["Cash on delivery", "MoMo", "ZaloPay", "Credit card"],
    "ID": ["Cash on delivery", "GoPay", "OVO", "Bank transfer"],
    "MY": ["Cash on delivery", "Touch 'n Go eWallet", "GrabPay", "Online banking"],
    "PH": ["Cash on delivery", "GCash", "Maya", "Credit card"],
    "SG": ["Credit card", "PayNow", "GrabPay"],
}
_CARRIERS = {  # (name, tracking prefix)
    "US": [("USPS", "9400111"), ("UPS", "1Z4E8"), ("FedEx", "7731")],
    "UK": [("Royal Mail", "RM"), ("Evri", "H0"), ("DPD", "1550")],
    "TH": [("Flash Express", "TH0"), ("J&T Express", "8200"), ("Kerry Express", "KEX")],
    "VN": [("GHN", "GHN"), ("J&T Express", "8620"), ("Viettel Post", "VTP")],
    "ID": [("J&T Express", "JP"), ("SiCepat", "0042"), ("JNE", "CGK")],
    "MY": [("J&T Express", "63000"), ("Ninja Van", "NVMY"), ("Pos Laju", "ER")],
    "PH": [("J&T Express", "7800"), ("Flash Express", "P61"), ("Ninja Van", "NVPH")],
    "SG": [("Ninja Van", "NVSG"), ("J&T Express", "SG87")],
    "CB": [("YunExpress", "YT"), ("Cainiao", "LP00"), ("4PX", "4PX30")],
}
_BUYER_MESSAGES = [
    "Please deliver after 6pm, call {phone} when outside",
    "It's a birthday gift for {first}, please no invoice in the box",
    "Leave it with the neighbour at {address} if nobody is home",
    "Can you pack it extra carefully? Last one arrived crushed",
    "Ship together with my other order please - {name}",
]
_SELLER_NOTES = ["Gift wrap requested", "VIP buyer - add sample", "Check address before shipping", "Repeat buyer",
                 "Promised dispatch by Friday"]  # fmt: skip
_CHECKERS = ["ops.amy", "ops.ken", "warehouse01"]


@dataclass
class Orders:
    """`orders` holds one row per order, `lines` one row per SKU line (`lines["order"]` indexes
    `orders`)."""

    orders: Frame
    lines: Frame


def generate_orders(
    rng: np.random.Generator,
    shops: list[Shop],
    catalog: Catalog,
    buyers: Buyers,
    n_lines: int,
    batch_date: date,
    history_days: int,
) -> Orders:
    """`n_lines` SKU lines grouped into orders created over `history_days` before the cutoff."""
    # Orders and their line counts.
    sizes = np.array([1, 2, 3, 4])[pick(rng, n_lines, [0.70, 0.20, 0.07, 0.03], cover=False)]
    ends = np.cumsum(sizes)
    n_orders = int(np.searchsorted(ends, n_lines) + 1)
    sizes = sizes[:n_orders]
    sizes[-1] -= int(ends[n_orders - 1] - n_lines)

    shop_w = np.array([s.weight for s in shops])
    shop = (
        pick(rng, n_orders, shop_w, cover=True)
        if n_orders >= len(shops)
        else rng.choice(len(shops), n_orders)
    )
    shop = shop.astype(np.int32)
    shop_zone, zones = zone_codes(shops)
    market = np.array([s.market.code for s in shops], dtype=object)[shop]
    cutoff = np.array([s.cutoff for s in shops])[shop]
    cross = np.array([s.cross_border for s in shops])[shop]

    # Creation: more orders towards the batch date (peak season), evening-heavy in local time.
    days_back = np.arange(history_days)
    day_w = 1.0 + 0.8 * (1 - days_back / history_days) + np.where(days_back < 3, 0.8, 0.0)
    d = rng.choice(history_days, size=n_orders, p=day_w / day_w.sum())
    local = local_midnight_epoch(batch_date) - d * DAY + local_times_of_day(rng, n_orders)
    created = local_to_utc(local, shop_zone[shop], zones)
    created = np.minimum(created, cutoff - 60)

    # Buyers: repeat buyers are common, so draw skewed within the shop's market.
    buyer = np.zeros(n_orders, dtype=np.int64)
    recipient = np.zeros(n_orders, dtype=np.int64)
    for code in np.unique(market):
        rows = np.flatnonzero(market == code)
        pool = buyers.of_market(code)
        buyer[rows] = pool[(len(pool) * rng.random(len(rows)) ** 1.6).astype(np.int64)]
        other = pool[rng.integers(0, len(pool), len(rows))]
        recipient[rows] = np.where(rng.random(len(rows)) < 0.12, other, buyer[rows])

    # Timeline (elapsed seconds).
    unpaid = rng.random(n_orders) < 0.02
    paid = created + np.clip(rng.exponential(150.0, n_orders), 15, 3 * HOUR)
    paid[unpaid] = np.nan
    preorder = rng.random(n_orders) < 0.03
    lag_kind = pick(rng, n_orders, [0.55, 0.25, 0.12, 0.08])  # quick, next day, borderline, late
    lag_lo = np.array([1.0, 24.0, 44.0, 72.0])[lag_kind] * HOUR
    lag_hi = np.array([24.0, 44.0, 72.0, 240.0])[lag_kind] * HOUR
    dispatch = uniform(rng, lag_lo, lag_hi)
    dispatch = np.where(preorder, uniform(rng, 5 * DAY, 12 * DAY, n_orders), dispatch)
    dispatch = dispatch + np.where(cross, uniform(rng, 0, 24 * HOUR, n_orders), 0.0)
    rts = paid + dispatch
    handover_kind = pick(rng, n_orders, [0.80, 0.15, 0.05])
    handover = uniform(
        rng,
        np.array([1.0, 20.0, 48.0])[handover_kind] * HOUR,
        np.array([20.0, 48.0, 120.0])[handover_kind] * HOUR,
    )
    shipped = rts + handover
    transit_lo = np.where(cross, 4 * DAY, 1 * DAY)
    transit_hi = np.where(cross, 12 * DAY, np.where(market == "US", 5 * DAY, 4 * DAY))
    delivered = shipped + uniform(rng, transit_lo, transit_hi)
    delivered[rng.random(n_orders) < 0.015] = np.nan  # lost in transit
    _cover_open_states(rng, created, paid, rts, shipped, cutoff)
    unpaid = np.isnan(paid)
    # An unpaid order is auto-cancelled by the platform after a day.
    cancelled = np.where(unpaid, created + 24 * HOUR, np.nan)

    order_ids = spread_ids(576, n_orders, 15, salt=int(rng.integers(0, 10**14)))
    pay_codes = np.zeros(n_orders, dtype=np.int32)
    carrier_codes = np.zeros(n_orders, dtype=np.int32)
    pay_vocab, carrier_vocab, prefix_vocab = [], [], []
    for code in np.unique(market):
        for cb in (False, True):
            rows = np.flatnonzero((market == code) & (cross == cb))
            if not len(rows):
                continue
            pays = _PAYMENT[code]
            pay_codes[rows] = len(pay_vocab) + rng.integers(0, len(pays), len(rows))
            pay_vocab.extend(pays)
            carriers = _CARRIERS["CB" if cb else code]
            carrier_codes[rows] = len(carrier_vocab) + rng.integers(0, len(carriers), len(rows))
            carrier_vocab.extend(c[0] for c in carriers)
            prefix_vocab.extend(c[1] for c in carriers)

    fbt = (market == "US") & ~cross & (rng.random(n_orders) < 0.15)
    warehouse_vocab = ["Main warehouse", "Shenzhen CB hub", "FBT Ontario CA", "Overflow warehouse"]
    warehouse = np.where(cross, 1, np.where(fbt, 2, np.where(rng.random(n_orders) < 0.1, 3, 0)))
    msg = np.where(rng.random(n_orders) < 0.08, rng.integers(0, len(_BUYER_MESSAGES), n_orders), -1)
    note = np.where(rng.random(n_orders) < 0.05, rng.integers(0, len(_SELLER_NOTES), n_orders), -1)
    checked = rng.random(n_orders) < 0.3

    orders = Frame(
        shop=shop,
        order_id=order_ids,
        buyer=buyer,
        recipient=recipient,
        n_lines=sizes.astype(np.int32),
        preorder=preorder,
        t_created=created,
        t_paid=paid,
        t_rts=rts,
        t_shipped=shipped,
        t_delivered=delivered,
        t_cancelled=cancelled,
        cancel_by=Text.of(np.where(unpaid, 2, -1), ["Buyer", "Seller", "System"]),
        cancel_reason=Text.of(np.where(unpaid, 0, -1), ["Payment not completed"]),
        payment_method=Text.of(pay_codes, pay_vocab),
        shipping_provider=Text.of(carrier_codes, carrier_vocab),
        tracking_prefix=Text.of(carrier_codes, prefix_vocab),
        tracking_no=spread_ids(1, n_orders, 12, salt=int(rng.integers(0, 10**11))) % 10**12,
        package_id=spread_ids(1152, n_orders, 15, salt=int(rng.integers(0, 10**14))),
        fulfillment=Text.of(fbt.astype(np.int32), ["Fulfillment by seller", "Fulfillment by TikTok Shop"]),
        delivery_option=Text.of(
            (rng.random(n_orders) < 0.12).astype(np.int32), ["Standard shipping", "Express shipping"]
        ),
        warehouse=Text.of(warehouse, warehouse_vocab),
        buyer_message=Text.of(msg, _BUYER_MESSAGES),
        seller_note=Text.of(note, _SELLER_NOTES),
        checked_status=Text.of(checked.astype(np.int32), ["Unchecked", "Checked"]),
        checked_by=Text.of(np.where(checked, rng.integers(0, len(_CHECKERS), n_orders), -1), _CHECKERS),
    )

    lines = _generate_lines(rng, shops, catalog, orders, market, sizes)
    _price_orders(rng, orders, lines, market, buyers)
    return Orders(orders, lines)


def _generate_lines(
    rng, shops, catalog: Catalog, orders: Frame, market: np.ndarray, sizes: np.ndarray
) -> Frame:
    n = int(sizes.sum())
    order_of_line = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
    shop = orders["shop"][order_of_line]
    first, count = catalog.shop_first[shop], np.diff(catalog.shop_first)[shop]
    # Cheaper SKUs sell more: rank-skewed choice within the shop's catalogue; the lines of one
    # order are distinct SKUs (consecutive catalogue entries from the order's first pick).
    count_o = np.diff(catalog.shop_first)[orders["shop"]]
    base = np.minimum((count_o * rng.random(len(sizes)) ** 1.4).astype(np.int64), count_o - 1)[order_of_line]
    line_no = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    sku = first + (base + line_no) % count
    qty = np.array([1, 2, 3, 4, 5])[pick(rng, n, [0.80, 0.13, 0.05, 0.015, 0.005], cover=False)]
    unit = catalog.unit_price[sku]
    minor = _minor_step(market[order_of_line])
    before = unit * qty
    seller_disc = np.where(rng.random(n) < 0.3, _round(before * uniform(rng, 0.05, 0.25, n), minor), 0.0)
    platform_disc = np.where(rng.random(n) < 0.25, _round(before * uniform(rng, 0.03, 0.15, n), minor), 0.0)
    after = before - seller_disc - platform_disc
    return Frame(
        order=order_of_line,
        sku=sku,
        quantity=qty.astype(np.int64),
        unit_price=unit,
        subtotal_before=before,
        seller_discount=seller_disc,
        platform_discount=platform_disc,
        subtotal_after=after,
        weight_kg=np.round(catalog.weight_kg[sku] * qty, 2),
        return_qty=np.zeros(n, dtype=np.int64),
    )


def _price_orders(rng, orders: Frame, lines: Frame, market: np.ndarray, buyers: Buyers) -> None:
    n = len(orders)
    minor = _minor_step(market)
    subtotal = np.bincount(lines["order"], weights=lines["subtotal_after"], minlength=n)
    fee = np.array([_SHIPPING_FEE[m] for m in market], dtype=float)
    free_over = np.array([_FREE_SHIPPING_OVER[m] for m in market], dtype=float)
    ship_seller = np.where(subtotal >= free_over, fee, 0.0)
    ship_platform = np.where((ship_seller == 0) & (rng.random(n) < 0.3), _round(fee * 0.5, minor), 0.0)
    ship_after = fee - ship_seller - ship_platform
    tax_rate = np.array([_SALES_TAX.get(m, 0.0) for m in market])
    taxes = _round(subtotal * tax_rate, minor)
    small_fee = np.where((market == "US") & (subtotal < 1000), 100.0, 0.0)
    buyer_state = np.array(buyers.state.vocab.to_pylist(), dtype=object)[buyers.state.codes[orders["buyer"]]]
    retail_fee = np.where((market == "US") & (buyer_state == "Colorado"), 28.0, 0.0)
    pay_disc = np.where(rng.random(n) < 0.05, _round(np.minimum(subtotal * 0.05, fee * 2), minor), 0.0)
    orders.update(
        original_shipping_fee=fee,
        shipping_seller_discount=ship_seller,
        shipping_platform_discount=ship_platform,
        shipping_after_discount=ship_after,
        payment_platform_discount=pay_disc,
        taxes=taxes,
        small_order_fee=small_fee,
        retail_delivery_fee=retail_fee,
        order_amount=subtotal + ship_after + taxes + small_fee + retail_fee - pay_disc,
        refund_amount=np.zeros(n),
    )


def _cover_open_states(rng, created, paid, rts, shipped, cutoff) -> None:
    """In place: even a small inbox has an unpaid order and one waiting for the carrier."""
    recent = np.flatnonzero((cutoff - created < 20 * HOUR) & ~np.isnan(paid))
    if len(recent) >= 3 and not (np.isnan(paid) & (cutoff - created < 20 * HOUR)).any():
        paid[rng.choice(recent)] = np.nan
    ready = np.flatnonzero((cutoff - paid > 3 * HOUR) & (cutoff - paid < 2 * DAY))
    waiting = (rts <= cutoff) & (shipped > cutoff)
    if len(ready) >= 3 and not waiting.any():
        r = rng.choice(ready)
        rts[r] = paid[r] + uniform(rng, 0.2, 0.9, 1)[0] * (cutoff[r] - paid[r])
        shipped[r] = cutoff[r] + uniform(rng, HOUR, DAY, 1)[0]


def cap_at_cutoff(orders: Frame, cutoff: np.ndarray) -> None:
    """Events after the batch cutoff have not happened; events after a cancellation never will."""
    for col in ("t_paid", "t_rts", "t_shipped", "t_delivered", "t_cancelled"):
        orders[col] = np.where(orders[col] > cutoff, np.nan, orders[col])
    cancelled = ~np.isnan(orders["t_cancelled"])
    for col in ("t_rts", "t_shipped", "t_delivered"):
        orders[col] = np.where(cancelled & (orders[col] >= orders["t_cancelled"]), np.nan, orders[col])
    # A timeline that stopped stops everywhere after (no delivery without shipment).
    orders["t_rts"] = np.where(np.isnan(orders["t_paid"]), np.nan, orders["t_rts"])
    orders["t_shipped"] = np.where(np.isnan(orders["t_rts"]), np.nan, orders["t_shipped"])
    orders["t_delivered"] = np.where(np.isnan(orders["t_shipped"]), np.nan, orders["t_delivered"])


def finalize_orders(orders: Orders, cutoff: np.ndarray) -> Frame:
    """The export rows: one per SKU line with order-level columns repeated, statuses derived."""
    o = orders.orders
    paid, rts, shipped, delivered, cancelled = (
        o[c] for c in ("t_paid", "t_rts", "t_shipped", "t_delivered", "t_cancelled")
    )
    status = np.select(
        [
            ~np.isnan(cancelled),
            np.isnan(paid),
            np.isnan(rts) & (cutoff - paid < HOUR),
            np.isnan(rts),
            np.isnan(shipped),
            np.isnan(delivered),
            cutoff - delivered < 15 * DAY,
        ],
        [
            _STATUS_KEYS.index(k)
            for k in (
                "cancelled",
                "unpaid",
                "on_hold",
                "awaiting_shipment",
                "awaiting_collection",
                "in_transit",
                "delivered",
            )
        ],
        default=_STATUS_KEYS.index("completed"),
    )
    # A paid order that was cancelled is refunded in full.
    o["refund_amount"] = np.where(
        ~np.isnan(cancelled) & ~np.isnan(paid), o["order_amount"], o["refund_amount"]
    )
    has_return = np.bincount(orders.lines["order"], weights=orders.lines["return_qty"], minlength=len(o)) > 0
    return_type = np.where(~np.isnan(cancelled), 0, np.where(has_return | (o["refund_amount"] > 0), 1, -1))
    o["order_status"] = Text.of(status, [ORDER_STATUS[k][0] for k in _STATUS_KEYS])
    o["order_substatus"] = Text.of(status, [ORDER_STATUS[k][1] for k in _STATUS_KEYS])
    o["cancel_return_type"] = Text.of(return_type, ["Cancel", "Return/Refund"])
    o["order_type"] = Text.of(o["preorder"].astype(np.int32), ["Normal", "Pre-order"])
    # A tracking number exists once the label is printed (ready to ship).
    o["tracking_no_or_null"] = np.where(np.isnan(rts), -1, o["tracking_no"])
    lines = orders.lines
    out = o.take(lines["order"])
    for name, col in lines.items():
        if name != "order":
            out[name] = col
    out["order_row"] = lines["order"]
    return out


def _minor_step(market: np.ndarray) -> np.ndarray:
    """Smallest money step in minor units: whole dong and rupiah, cents elsewhere."""
    return np.where((market == "VN") | (market == "ID"), 100.0, 1.0)


def _round(amount: np.ndarray, step: np.ndarray) -> np.ndarray:
    return np.round(amount / step) * step
