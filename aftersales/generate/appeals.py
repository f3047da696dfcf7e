"""Seller appeals on after-sales orders (contract section 2.7).

An appeal becomes available when something happened on the return order that the seller may
contest (arbitration lost, platform auto-refund, speedy refund, a return that never arrived or
came back damaged or wrong). Sellers submit inside the 7-day (or US 21-day) window, late, or
never.
"""

from __future__ import annotations

import numpy as np

from aftersales.generate.aftersales_requests import LEG_BACK, LEG_LOST, LEG_SPEEDY, PR, RO
from aftersales.generate.frames import Frame, Text
from aftersales.generate.platform import PlatformPolicy, appeal_upheld
from aftersales.generate.sampling import DAY, HOUR, MINUTE, pick, spread_ids, uniform

TYPES = ["arbitration_lost", "auto_refund_overdue", "speedy_refund", "return_not_received",
         "item_damaged_or_used", "wrong_item_returned"]  # fmt: skip
STATUSES = ["Available", "Expired", "Under review", "Approved", "Rejected"]
REASONS = {
    "arbitration_lost": ["Tracking shows the parcel was delivered to the buyer's address",
                         "Buyer's photos show a different product than we sold"],
    "auto_refund_overdue": ["Parcel was handed over on time; delay caused by the carrier",
                            "Delivery attempt failed because the buyer was unreachable"],
    "speedy_refund": ["Returned parcel was empty", "Returned item is not the one we shipped"],
    "return_not_received": ["Return parcel never arrived; tracking has had no scan for 10 days",
                            "Carrier confirms the return was lost in transit"],
    "item_damaged_or_used": ["Returned item shows clear signs of use", "Seal broken and accessories missing"],
    "wrong_item_returned": ["Buyer returned a cheaper item of a different brand", "Serial number does not match our records"],
}  # fmt: skip
_REASON_VOCAB = [r for t in TYPES for r in REASONS[t]]


def generate_appeals(
    rng: np.random.Generator,
    requests: Frame,
    cutoff_of_request: np.ndarray,
    n: int,
    us_market: np.ndarray,
    platform_policy: PlatformPolicy | None = None,
    platform_rng: np.random.Generator | None = None,
    market: np.ndarray | None = None,
) -> Frame:
    """Up to `n` appeals on requests where an appeal became available before the cutoff.

    With `platform_policy`, verdicts follow the platform's true policy (by type and `market` code per
    request, late appeals rejected, noise from `platform_rng`); the main stream `rng` is drawn
    exactly as without it.
    """
    r = requests
    k = len(r)
    kind = np.full(k, -1, dtype=np.int32)
    available = np.full(k, np.nan)

    def offer(mask: np.ndarray, type_code: int, when: np.ndarray) -> None:
        ok = mask & (kind < 0) & ~np.isnan(when) & (when < cutoff_of_request)
        kind[ok] = type_code
        available[ok] = when[ok]

    # Rarer situations first: a request is offered for one appeal type only.
    offer(r["leg"] == LEG_LOST, 3, r["t_return_shipped"] + 10 * DAY)
    offer(r["leg"] == LEG_SPEEDY, 2, np.fmin(r["t_return_delivered"], r["t_refund"] + 3 * DAY))
    offer(r["buyer_won"] & ~np.isnan(r["t_platform_decision"]), 0, r["t_platform_decision"])
    quick = np.isin(r["return_type"].codes, [RO, PR])
    offer(r["auto_approved"] & quick & ~np.isnan(r["t_refund"]), 1, r["t_refund"])
    # Returned and refunded, but the seller disputes what came back (after a failed inspection,
    # or after the platform refunded because nobody inspected in time): damaged/used or wrong item,
    # alternately.
    came_back = r["inspection_failed"] | ((r["leg"] == LEG_BACK) & ~np.isnan(r["t_refund"]))
    when = np.where(r["inspection_failed"], r["t_inspection"], r["t_refund"])
    open_rows = np.flatnonzero(came_back & (kind < 0) & (when < cutoff_of_request))
    kind[open_rows] = np.where(np.arange(len(open_rows)) % 2 == 0, 4, 5)
    available[open_rows] = when[open_rows]

    # One appeal of every available type first, then the rest at random.
    candidates = np.flatnonzero(kind >= 0)
    n = min(n, len(candidates))
    first = [
        rng.choice(candidates[kind[candidates] == t])
        for t in range(len(TYPES))
        if (kind[candidates] == t).any()
    ]
    first = np.array(first[:n], dtype=np.int64)
    rest = np.setdiff1d(candidates, first)
    more = (
        rng.choice(rest, size=n - len(first), replace=False)
        if n > len(first)
        else np.array([], dtype=np.int64)
    )
    rows = np.sort(np.concatenate([first, more]).astype(np.int64))
    m = len(rows)
    avail, t, end = available[rows], kind[rows], cutoff_of_request[rows]

    window = np.where((t == 0) & us_market[rows], 21 * DAY, 7 * DAY)
    timing = pick(rng, m, [0.7, 0.12, 0.06, 0.12])  # inside, after 7 d, after 21 d, never
    # Make sure one late submission really lands before the cutoff.
    late_possible = avail + 8 * DAY < end
    late_lands = ((timing == 1) & late_possible) | ((timing == 2) & (avail + 23 * DAY < end))
    if late_possible.any() and not late_lands.any():
        spare = np.flatnonzero(late_possible & (timing != 0))
        timing[rng.choice(spare if len(spare) else np.flatnonzero(late_possible))] = 1
    lo = np.array([0.05 * DAY, 7.5 * DAY, 22 * DAY, 0.0])[timing]
    hi = np.array([6.5 * DAY, 20 * DAY, 35 * DAY, 0.0])[timing]
    hi = np.where(timing == 0, np.minimum(hi, window - HOUR), hi)
    # Submissions happen before the cutoff when there was time; otherwise not yet.
    room = end - avail - MINUTE
    fits = (timing < 3) & (lo < room)
    submitted = np.where(fits, avail + uniform(rng, lo, np.maximum(lo, np.minimum(hi, room))), np.nan)
    verdict = 2 + pick(rng, m, [0.2, 0.45, 0.35])
    if platform_policy is not None:
        # the platform's own windows: 21 days in the US, 7 elsewhere (as the shipped packs say)
        platform_window = np.where(us_market[rows], 21 * DAY, 7 * DAY)
        late = (submitted - avail) > platform_window
        type_names = np.array(TYPES, dtype=object)[t]
        upheld = appeal_upheld(platform_rng, platform_policy, type_names, market[rows], late)
        verdict = np.where(upheld, 3, 4)
    status = np.where(
        np.isnan(submitted),
        np.where(avail + window < end, 1, 0),
        np.where(end - submitted < 3 * DAY, 2, verdict),
    )
    reason_pick = np.array([_REASON_VOCAB.index(REASONS[TYPES[x]][0]) for x in t], dtype=np.int32) + (
        rng.random(m) < 0.5
    )
    reason = np.where(np.isnan(submitted), -1, reason_pick)
    return Frame(
        shop=r["shop"][rows],
        appeal_no=spread_ids(88, m, 14, salt=int(rng.integers(0, 10**13))),
        return_order_id=r["return_order_id"][rows],
        request_row=rows,
        appeal_type=Text.of(t, TYPES),
        t_available=avail,
        t_submitted=submitted,
        appeal_status=Text.of(status, STATUSES),
        appeal_reason=Text.of(reason, _REASON_VOCAB),
    )
