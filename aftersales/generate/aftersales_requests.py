"""After-sales requests: returns, refunds, replacements, partial refunds (contract section 2.3).

Each request is drawn on a delivered (or lost) order line, mostly inside the market's return
window and sometimes outside it. The seller answers fast, late or never (then the platform
approves); approved returns travel back, get inspected and refunded; rejected ones may be
disputed (some after the 10-day window) and decided by the platform. Refunds flow back into
the order lines ("Sku Quantity of return", "Order Refund Amount").
"""

from __future__ import annotations

import numpy as np

from aftersales.generate.frames import Frame, Text
from aftersales.generate.orders import Orders
from aftersales.generate.platform import PlatformPolicy, dispute_buyer_wins
from aftersales.generate.sampling import DAY, HOUR, MINUTE, pick, pick_within, spread_ids, uniform
from aftersales.generate.shops import Shop

REASONS = {
    "No longer needed": 0.2, "Wrong size": 0.11, "Item doesn't match description": 0.12, "Poor quality": 0.1,
    "Missing items or parts": 0.07, "Item defective or doesn't work": 0.12, "Wrong item sent": 0.07,
    "Suspected counterfeit": 0.03, "Package damaged": 0.08, "Package not received": 0.1,
}  # fmt: skip
REASON_LIST = list(REASONS)
TYPES = ["Refund only", "Return and refund", "Replacement", "Partial refund"]
RO, RR, RP, PR = range(4)
# P(type | reason), columns in TYPES order.
_TYPE_GIVEN_REASON = np.array([
    [0.00, 1.00, 0.00, 0.00],  # No longer needed
    [0.00, 0.85, 0.15, 0.00],  # Wrong size
    [0.15, 0.60, 0.00, 0.25],  # Item doesn't match description
    [0.25, 0.55, 0.00, 0.20],  # Poor quality
    [0.40, 0.00, 0.25, 0.35],  # Missing items or parts
    [0.10, 0.60, 0.30, 0.00],  # Item defective or doesn't work
    [0.00, 0.60, 0.40, 0.00],  # Wrong item sent
    [0.50, 0.50, 0.00, 0.00],  # Suspected counterfeit
    [0.30, 0.40, 0.30, 0.00],  # Package damaged
    [1.00, 0.00, 0.00, 0.00],  # Package not received
])  # fmt: skip
REJECT_REASONS = ["Buyer's claim is not supported by evidence", "Item returned used or damaged",
                  "Request made after the return window", "Item matches the listing description",
                  "Package delivered according to tracking", "Buyer agreed to keep the item"]  # fmt: skip
STATUSES = ["Awaiting seller response", "Rejected", "In dispute", "Closed", "Awaiting buyer return",
            "Return in transit", "Awaiting inspection", "Refunded", "Partially refunded", "Replacement shipped"]  # fmt: skip
ARBITRATION = ["Under review", "Decided for buyer", "Decided for seller"]
# Return leg after approval of a "Return and refund": back and inspected, lost on the way back,
# never sent by the buyer, refunded at drop-off ("speedy refund").
LEG_BACK, LEG_LOST, LEG_NOT_SENT, LEG_SPEEDY = range(4)


def generate_requests(
    rng: np.random.Generator,
    shops: list[Shop],
    orders: Orders,
    line_sku_id: np.ndarray,
    cutoff_of_order: np.ndarray,
    n: int,
    platform_policy: PlatformPolicy | None = None,
    platform_rng: np.random.Generator | None = None,
) -> Frame:
    """`n` requests on eligible order lines; refunds are written back into `orders` in place.

    With `platform_policy`, disputes are decided by the platform's true policy (`platform_rng` for its
    noise) instead of at random; the main stream `rng` is drawn exactly as without it.
    """
    o, lines = orders.orders, orders.lines
    orow = lines["order"]
    shop = o["shop"][orow]
    market = np.array([s.market.code for s in shops], dtype=object)[shop]
    per_usd = np.array([s.market.per_usd for s in shops])[shop]
    cutoff = cutoff_of_order[orow]
    delivered, shipped = o["t_delivered"][orow], o["t_shipped"][orow]
    open_order = np.isnan(o["t_cancelled"][orow])
    came = open_order & ~np.isnan(delivered) & (delivered < cutoff - 2 * HOUR)
    lost = open_order & np.isnan(delivered) & ~np.isnan(shipped) & (shipped + 6 * DAY < cutoff)
    eligible = np.flatnonzero(came | lost)
    if not len(eligible):
        n = 0

    # Which lines: expensive items come back more often; both sides of the 100 pivot in US/UK.
    item_price = np.round(lines["subtotal_after"] / lines["quantity"])
    pivot = np.where(np.isin(market, ["US", "UK"]), 100_00, 100_00 * per_usd)
    high = item_price > pivot
    weight = np.where(high[eligible], 3.0, 1.0)
    take = min(n, len(eligible))
    chosen = rng.choice(eligible, size=take, replace=False, p=weight / weight.sum())
    if n > take:
        chosen = np.concatenate([chosen, rng.choice(eligible, size=n - take, replace=True)])
    pivot_markets = np.isin(market, ["US", "UK"])
    for band in (high, ~high):
        _ensure_band(rng, chosen, eligible, band & pivot_markets, pivot_markets)
    chosen = np.sort(chosen)
    m = market[chosen]
    window_of_shop = np.array([s.market.return_window_days for s in shops], dtype=float) * DAY
    review_of_shop = np.array([s.market.review_days for s in shops], dtype=float)
    window = window_of_shop[shop[chosen]]
    review = review_of_shop[shop[chosen]]
    review_days = np.where(high[chosen], review[:, 1], review[:, 0])

    # When: inside the window mostly, outside where time allows.
    ref = np.where(came[chosen], delivered[chosen], shipped[chosen] + 6 * DAY)
    slack = cutoff[chosen] - ref
    can_be_late = slack > window + DAY
    outside = can_be_late & (rng.random(n) < 0.25)
    for code in np.unique(m):
        _ensure_flag(rng, outside, can_be_late & (m == code))
    inside_offset = np.minimum(window, slack - 10 * MINUTE) * rng.beta(1.3, 3.5, n)
    outside_offset = window + uniform(
        rng, HOUR, np.maximum(HOUR * 2, np.minimum(20 * DAY, slack - window - 10 * MINUTE))
    )
    request = ref + np.maximum(10 * MINUTE, np.where(outside, outside_offset, inside_offset))
    request = np.minimum(request, cutoff[chosen] - MINUTE)

    # What: reason, then a type that fits it; Replacement exists in the US and UK only.
    never_came = lost[chosen]
    reason = np.where(
        never_came, REASON_LIST.index("Package not received"), pick_within(rng, ~never_came, REASONS)
    )
    rtype = _draw_types(rng, reason)
    rtype = np.where((rtype == RP) & ~np.isin(m, ["US", "UK"]), RR, rtype)
    _cover_types(rng, rtype, reason, m)
    qty = lines["quantity"][chosen]
    return_qty = np.where(rng.random(n) < 0.85, qty, 1 + (rng.random(n) * qty).astype(np.int64) % qty)
    price = item_price[chosen]
    step = np.where(np.isin(m, ["VN", "ID"]), 100.0, 1.0)
    # What was actually paid for the returned units: order-level payment discounts shrink it.
    subtotal_of_order = np.bincount(orow, weights=lines["subtotal_after"], minlength=len(o))
    paid_share = np.minimum(1.0, o["order_amount"] / np.maximum(subtotal_of_order, 1.0))[orow[chosen]]
    line_paid = lines["subtotal_after"][chosen] * return_qty / lines["quantity"][chosen]
    refund_amount = np.floor(line_paid * paid_share / step) * step
    refund_amount = np.where(
        rtype == PR, np.round(refund_amount * uniform(rng, 0.1, 0.5, n) / step) * step, refund_amount
    )
    refund_amount = np.where(rtype == RP, np.nan, refund_amount)

    # Seller response: fast, slow, late past the review deadline, never.
    resp_class = pick(rng, n, [0.62, 0.14, 0.14, 0.10])
    lo = np.array([10 * MINUTE, 20 * HOUR, 2.2 * DAY, 0])[resp_class]
    hi = np.array([20 * HOUR, 40 * HOUR, 9 * DAY, 0])[resp_class]
    response = np.where(resp_class == 3, np.nan, request + uniform(rng, lo, hi))
    answered = resp_class < 3
    decision = pick_within(rng, answered, [0.68, 0.32])  # 0 Approved, 1 Rejected, -1 none
    auto_at = request + review_days * DAY * 1.4  # calendar approximation of business days
    end = cutoff[chosen]
    quick = (rtype == RO) | (rtype == PR)
    # Appealable in time: a quick refund the platform auto-approved for a silent seller.
    r = _missing(rng, (resp_class == 3) & quick & (auto_at + DAY < end), quick & (auto_at + DAY < end))
    if r is not None:
        resp_class[r], response[r], decision[r], answered[r] = 3, np.nan, -1, False
    approved_at = np.where(decision == 0, response, np.where(resp_class == 3, auto_at, np.nan))

    ret_shipped = np.full(n, np.nan)
    ret_delivered = np.full(n, np.nan)
    inspection = np.full(n, np.nan)
    refund = np.full(n, np.nan)
    dispute = np.full(n, np.nan)
    platform = np.full(n, np.nan)

    refund = np.where(quick, approved_at + uniform(rng, MINUTE, 3 * HOUR, n), refund)
    rr = (rtype == RR) & ~np.isnan(approved_at)
    leg = pick_within(rng, rr, [0.6, 0.13, 0.12, 0.15])
    old = rr & (approved_at + 22 * DAY < end)  # old enough for the leg to play out before the cutoff
    for wanted in (LEG_LOST, LEG_SPEEDY):
        r = _missing(rng, (leg == wanted) & old, old & (leg == LEG_BACK))
        if r is not None:
            leg[r] = wanted
    sent = rr & (leg != LEG_NOT_SENT)
    ret_shipped = np.where(sent, approved_at + uniform(rng, 0.3 * DAY, 9 * DAY, n), ret_shipped)
    arrives = (leg == LEG_BACK) | ((leg == LEG_SPEEDY) & (rng.random(n) < 0.7))
    ret_delivered = np.where(arrives, ret_shipped + uniform(rng, 1.5 * DAY, 7 * DAY, n), ret_delivered)
    back = leg == LEG_BACK
    insp_class = pick_within(rng, back, [0.7, 0.15, 0.15])  # fast, late, never
    insp_lo = np.array([2 * HOUR, 3 * DAY, 0.0])[np.maximum(insp_class, 0)]
    insp_hi = np.array([30 * HOUR, 9 * DAY, 0.0])[np.maximum(insp_class, 0)]
    inspection = np.where(back & (insp_class < 2), ret_delivered + uniform(rng, insp_lo, insp_hi), inspection)
    failed = pick_within(rng, back & (insp_class < 2), [0.7, 0.3]) == 1
    refund = np.where(
        back & (insp_class < 2),
        inspection + np.where(failed, uniform(rng, DAY, 3 * DAY, n), uniform(rng, 5 * MINUTE, 3 * HOUR, n)),
        refund,
    )
    refund = np.where(back & (insp_class == 2), ret_delivered + review_days * DAY * 1.4, refund)
    refund = np.where(leg == LEG_SPEEDY, ret_shipped + uniform(rng, 10 * MINUTE, 6 * HOUR, n), refund)
    refund = np.where(
        (leg == LEG_LOST) & (rng.random(n) < 0.6), ret_shipped + uniform(rng, 8 * DAY, 12 * DAY, n), refund
    )

    rejected = decision == 1
    disputed = rejected & (rng.random(n) < 0.7)
    late_dispute = pick_within(rng, disputed, [0.85, 0.15]) == 1
    dispute = np.where(
        disputed,
        response
        + np.where(
            late_dispute, uniform(rng, 10.3 * DAY, 21 * DAY, n), uniform(rng, 0.2 * DAY, 9.8 * DAY, n)
        ),
        dispute,
    )
    platform = np.where(disputed, dispute + uniform(rng, DAY, 6 * DAY, n), platform)
    buyer_won = pick_within(rng, disputed, [0.6, 0.4]) == 0
    if platform_policy is not None:
        buyer_won = dispute_buyer_wins(platform_rng, platform_policy, disputed, late_dispute, outside)
    # Appealable in time: an arbitration the seller lost.
    won = disputed & buyer_won & ~late_dispute & (response + 17 * DAY < end)
    pool = answered & (response + 17 * DAY < end) & (rtype != RP)
    r = _missing(rng, won, pool & (decision == 1))
    if r is None:
        r = _missing(rng, won, pool)
    if r is not None:  # turn this request into a rejected, disputed one the buyer won
        decision[r], approved_at[r], leg[r], failed[r] = 1, np.nan, -1, False
        ret_shipped[r] = ret_delivered[r] = inspection[r] = np.nan
        disputed[r], late_dispute[r], buyer_won[r] = True, False, True
        dispute[r] = response[r] + uniform(rng, 0.5 * DAY, 5 * DAY, 1)[0]
        platform[r] = dispute[r] + uniform(rng, DAY, 4 * DAY, 1)[0]
        refund[r] = platform[r] + uniform(rng, HOUR, DAY, 1)[0]
    refund = np.where(disputed & buyer_won & (rtype != RP), platform + uniform(rng, HOUR, DAY, n), refund)

    # Nothing after the cutoff has happened yet; a chain stops at its first missing event.
    response, approved_at, ret_shipped, ret_delivered, inspection, refund, dispute, platform = (
        np.where(t > end, np.nan, t)
        for t in (response, approved_at, ret_shipped, ret_delivered, inspection, refund, dispute, platform)
    )
    decision = np.where(np.isnan(response), -1, decision)
    approved_at = np.where((decision == 1), np.nan, approved_at)
    for later in (ret_shipped, ret_delivered, inspection):
        later[np.isnan(approved_at)] = np.nan
    refund[np.isnan(approved_at) & np.isnan(platform)] = np.nan
    dispute[decision != 1] = np.nan
    platform[np.isnan(dispute)] = np.nan

    arbitration = np.where(np.isnan(dispute), -1, np.where(np.isnan(platform), 0, np.where(buyer_won, 1, 2)))
    status = np.select(
        [
            ~np.isnan(refund) & (rtype == PR),
            ~np.isnan(refund),
            (rtype == RP) & ~np.isnan(approved_at),
            arbitration == 2,
            arbitration == 0,
            decision == 1,
            (rtype == RR) & ~np.isnan(inspection),
            (rtype == RR) & ~np.isnan(ret_delivered),
            (rtype == RR) & ~np.isnan(ret_shipped),
            (rtype == RR) & (leg == LEG_NOT_SENT) & (approved_at + 14 * DAY < end),
            ~np.isnan(approved_at),
        ],
        [8, 7, 9, 3, 2, 1, 6, 6, 5, 3, 4],
        default=0,
    )
    reject = np.where(decision == 1, rng.integers(0, len(REJECT_REASONS), n), -1)

    # Refunds and returned quantities flow back into the order export.
    refunded = ~np.isnan(refund) & ~np.isnan(refund_amount)
    np.add.at(o["refund_amount"], orow[chosen][refunded], refund_amount[refunded])
    returned = refunded & (rtype != PR)
    np.add.at(lines["return_qty"], chosen[returned], return_qty[returned])

    return Frame(
        shop=shop[chosen],
        return_order_id=spread_ids(403, n, 15, salt=int(rng.integers(0, 10**14))),
        order_id=o["order_id"][orow[chosen]],
        order_row=orow[chosen],
        line_row=chosen,
        sku_id=line_sku_id[chosen],
        return_type=Text.of(rtype, TYPES),
        return_reason=Text.of(reason, REASON_LIST),
        return_status=Text.of(status, STATUSES),
        arbitration_status=Text.of(arbitration, ARBITRATION),
        t_request=request,
        item_price=price,
        refund_amount=refund_amount,
        t_seller_response=response,
        seller_decision=Text.of(decision, ["Approved", "Rejected"]),
        seller_reject_reason=Text.of(reject, REJECT_REASONS),
        t_return_shipped=ret_shipped,
        t_return_delivered=ret_delivered,
        t_inspection=inspection,
        t_refund=refund,
        t_dispute=dispute,
        t_platform_decision=platform,
        return_tracking_no=np.where(
            np.isnan(ret_shipped), -1, spread_ids(7, n, 11, salt=int(rng.integers(0, 10**10)))
        ),
        # kept for appeals and evidence, never rendered
        approved_at=approved_at,
        auto_approved=(resp_class == 3) & ~np.isnan(approved_at),
        leg=leg,
        inspection_failed=failed & ~np.isnan(inspection),
        buyer_won=(arbitration == 1),
    )


def _draw_types(rng: np.random.Generator, reason: np.ndarray) -> np.ndarray:
    cum = np.cumsum(_TYPE_GIVEN_REASON[reason], axis=1)
    u = rng.random(len(reason))[:, None]
    return np.minimum((u > cum).sum(axis=1), 3).astype(np.int32)


def _cover_types(rng: np.random.Generator, rtype: np.ndarray, reason: np.ndarray, market: np.ndarray) -> None:
    """Make every request type appear at least once (where a compatible row exists)."""
    for t in range(4):
        if (rtype == t).any():
            continue
        ok = _TYPE_GIVEN_REASON[reason, t] > 0
        if t == RP:
            ok &= np.isin(market, ["US", "UK"])
        counts = np.bincount(rtype, minlength=4)
        ok &= counts[rtype] > 1
        rows = np.flatnonzero(ok)
        if len(rows):
            rtype[rng.choice(rows)] = t


def _missing(rng: np.random.Generator, have: np.ndarray, candidates: np.ndarray) -> int | None:
    """A row to convert when no row shows a scenario yet (None when one does, or none can)."""
    if have.any():
        return None
    rows = np.flatnonzero(candidates)
    return int(rng.choice(rows)) if len(rows) else None


def _ensure_band(
    rng, chosen: np.ndarray, eligible: np.ndarray, band: np.ndarray, protect: np.ndarray
) -> None:
    """In place: at least one chosen line lies in `band`, swapping out an unprotected line."""
    if not len(chosen) or band[chosen].any():
        return
    candidates = np.setdiff1d(eligible[band[eligible]], chosen)
    replaceable = np.flatnonzero(~protect[chosen])
    if not len(replaceable) and len(chosen) > 1:
        replaceable = np.arange(len(chosen))
    if len(candidates) and len(replaceable):
        chosen[rng.choice(replaceable)] = rng.choice(candidates)


def _ensure_flag(rng, flags: np.ndarray, allowed: np.ndarray) -> None:
    """In place: at least one allowed row is flagged (when any row is allowed)."""
    if allowed.any() and not (flags & allowed).any():
        flags[rng.choice(np.flatnonzero(allowed))] = True
