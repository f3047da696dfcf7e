"""Cancellation requests (contract section 2.4) and their effect on the orders.

Buyers ask (inside the free window they are auto-approved; later the seller must answer, on
time, late or never), sellers cancel for their own reasons, the platform cancels orders that
were not shipped in time. An approved cancellation stops the order's timeline.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from aftersales.generate.frames import Frame, Text
from aftersales.generate.orders import Orders
from aftersales.generate.sampling import DAY, HOUR, MINUTE, pick, pick_within, spread_ids, uniform

REQUESTERS = ["Buyer", "Seller", "System"]
BUYER_REASONS = {"No longer needed": 0.28, "Change of mind": 0.18, "Late shipment": 0.15, "Wrong address": 0.12,
                 "Found a better price": 0.1, "Ordered by mistake": 0.1, "Change payment method": 0.07}  # fmt: skip
SELLER_REASONS = {
    "Out of stock": 0.5,
    "Pricing error": 0.15,
    "Unable to ship": 0.2,
    "Buyer requested cancellation": 0.15,
}
SYSTEM_REASONS = {"Seller did not ship in time": 0.75, "Logistics issue": 0.1, "Risk control": 0.15}
DECISIONS = ["Approved", "Rejected"]
STATUSES = ["Cancelled", "Rejected", "Pending"]
# Buyer request handling: auto-approved in the free window, answered on time, late, never.
_RESPONSE_CLASSES = {"free_window": 0.15, "on_time": 0.6, "late": 0.15, "never": 0.1}


def generate_cancellations(rng: np.random.Generator, orders: Orders, cutoff: np.ndarray, n: int) -> Frame:
    """`n` cancellation requests on paid orders; approved ones are applied to `orders` in place."""
    o = orders.orders
    eligible = np.flatnonzero(
        ~np.isnan(o["t_paid"]) & (o["t_paid"] < cutoff - 2 * HOUR) & np.isnan(o["t_cancelled"])
    )
    n = min(n, len(eligible) // 2)
    rows = np.sort(rng.choice(eligible, size=n, replace=False))
    paid, shipped, end = o["t_paid"][rows], o["t_shipped"][rows], cutoff[rows]

    who = pick(rng, n, [0.55, 0.3, 0.15])
    buyer, seller, system = who == 0, who == 1, who == 2
    reason_vocab = list(BUYER_REASONS) + list(SELLER_REASONS) + list(SYSTEM_REASONS)
    reason = np.full(n, -1, dtype=np.int32)
    reason[buyer] = pick_within(rng, buyer, BUYER_REASONS)[buyer]
    reason[seller] = len(BUYER_REASONS) + pick_within(rng, seller, SELLER_REASONS)[seller]
    reason[system] = (
        len(BUYER_REASONS) + len(SELLER_REASONS) + pick_within(rng, system, SYSTEM_REASONS)[system]
    )
    response = pick_within(rng, buyer, _RESPONSE_CLASSES)

    # When the request was made: before the parcel left (or before the cutoff).
    latest = np.fmin(shipped, end)
    request = paid + uniform(rng, 0.02, 0.9, n) * (latest - paid)
    request = np.where(response == 0, paid + uniform(rng, MINUTE, 50 * MINUTE, n), request)
    late_dispatch = system & (np.asarray(reason_vocab, dtype=object)[reason] == "Seller did not ship in time")
    request = np.where(late_dispatch, paid + uniform(rng, 3 * DAY, 8 * DAY, n), request)
    request = np.where(request > end - MINUTE, paid + uniform(rng, 0.1, 0.9, n) * (end - paid), request)

    reply = np.full(n, np.nan)
    reply = np.where(response == 1, request + uniform(rng, 5 * MINUTE, 22 * HOUR, n), reply)
    reply = np.where(response == 2, request + uniform(rng, 25 * HOUR, 72 * HOUR, n), reply)
    answered = (response == 1) | (response == 2)
    decision = np.where(answered, pick_within(rng, answered, [0.8, 0.2]), -1)
    reply = np.where(reply > end, np.nan, reply)
    decision = np.where(np.isnan(reply), -1, decision)

    cancelled = np.full(n, np.nan)
    cancelled = np.where(response == 0, request + uniform(rng, 5, 60, n), cancelled)
    cancelled = np.where(decision == 0, reply + uniform(rng, 1, 30, n), cancelled)
    cancelled = np.where(
        (response == 3) | ((response >= 1) & np.isnan(reply)), request + 24 * HOUR, cancelled
    )
    cancelled = np.where(seller | system, request + uniform(rng, 1, 120, n), cancelled)
    cancelled = np.where(decision == 1, np.nan, cancelled)
    cancelled = np.where(cancelled > end, np.nan, cancelled)
    status = np.where(~np.isnan(cancelled), 0, np.where(decision == 1, 1, 2))

    # Fold approved cancellations into the orders.
    done = ~np.isnan(cancelled)
    o["t_cancelled"][rows[done]] = cancelled[done]
    never_shipped = rows[done & late_dispatch]
    for col in ("t_rts", "t_shipped", "t_delivered"):
        o[col][never_shipped] = np.nan
    by, why = o["cancel_by"], o["cancel_reason"]
    base = len(why.vocab)
    o["cancel_by"] = Text(by.codes.copy(), by.vocab)
    o["cancel_by"].codes[rows[done]] = who[done]
    o["cancel_reason"] = Text(why.codes.copy(), _extend(why.vocab, reason_vocab))
    o["cancel_reason"].codes[rows[done]] = base + reason[done]

    return Frame(
        shop=o["shop"][rows],
        cancellation_id=spread_ids(409, n, 15, salt=int(rng.integers(0, 10**14))),
        order_id=o["order_id"][rows],
        order_row=rows,
        requested_by=Text.of(who, REQUESTERS),
        cancel_reason=Text.of(reason, reason_vocab),
        t_request=request,
        t_seller_response=reply,
        seller_decision=Text.of(decision, DECISIONS),
        cancel_status=Text.of(status, STATUSES),
        t_cancelled=cancelled,
    )


def _extend(vocab: pa.Array, values: list[str]) -> pa.Array:
    return pa.concat_arrays([vocab, pa.array(values, type=pa.string())])
