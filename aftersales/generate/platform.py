"""The platform's hidden "true" policy: how the generated platform decides disputes and appeals.

Calibration (`aftersales calibrate`) needs outcomes with something true to find. With a
`PlatformPolicy` in the spec, the generated platform decides

- disputes of rejected returns: the seller wins when the request came after the market's return
  window (the packs' `*.return_window`) or the dispute came after the dispute window (10 days
  after the rejection, the packs' `us.dispute_window`); otherwise the buyer wins (a rejected
  request inside the window must be accepted);
- appeals: inside the appeal window (US 21 days, elsewhere 7, as the packs' `*.appeal_window`)
  the verdict follows the appeal type and market (`UPHELD_IN_WINDOW`: a speedy refund is upheld,
  a return that never came back in the US and VN, a damaged/used or wrong returned item in the US;
  a lost arbitration or an overdue auto-refund is not); an appeal submitted after the window is
  rejected, UNLESS the planted deviation `upholds_late_appeals` is on: then the platform still
  reviews late appeals and upholds them, where the packs' `*.appeal_window` rules reject them
  (recommend buyer_favour);
- `noise`: each verdict is flipped with this probability, from its own random stream.

Calibration against the shipped packs should therefore rank the appeal-window rules first among
the rules deciding against the platform, with agreement of about `noise` on them when the
deviation is planted and about 1 - noise without it. Without a `PlatformPolicy` the generator
draws verdicts at random, exactly as before (the committed sample stays byte-identical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Appeal type -> markets where the platform upholds it inside the window ("*": every market).
UPHELD_IN_WINDOW: dict[str, tuple[str, ...]] = {
    "arbitration_lost": (),
    "auto_refund_overdue": (),
    "speedy_refund": ("*",),
    "return_not_received": ("US", "VN"),
    "item_damaged_or_used": ("US",),
    "wrong_item_returned": ("US",),
}


def upheld_in_window(appeal_type: str, market: str) -> bool:
    markets = UPHELD_IN_WINDOW[appeal_type]
    return "*" in markets or market in markets


@dataclass(frozen=True)
class PlatformPolicy:
    noise: float = 0.05
    upholds_late_appeals: bool = True  # the planted deviation from the shipped packs

    def __post_init__(self) -> None:
        if not 0.0 <= self.noise <= 0.5:
            raise ValueError("platform noise must be between 0 and 0.5")


def flip(rng: np.random.Generator, verdict: np.ndarray, mask: np.ndarray, noise: float) -> np.ndarray:
    """`verdict` (bool) with each masked row flipped with probability `noise`."""
    draws = rng.random(len(verdict))
    return np.where(mask & (draws < noise), ~verdict, verdict)


def dispute_buyer_wins(
    rng: np.random.Generator,
    policy: PlatformPolicy,
    disputed: np.ndarray,
    late: np.ndarray,
    outside_window: np.ndarray,
) -> np.ndarray:
    """Per request: the platform decides the dispute for the buyer (meaningful where `disputed`)."""
    return flip(rng, disputed & ~outside_window & ~late, disputed, policy.noise)


def appeal_upheld(
    rng: np.random.Generator,
    policy: PlatformPolicy,
    appeal_type: np.ndarray,
    market: np.ndarray,
    late: np.ndarray,
) -> np.ndarray:
    """Per appeal (type name, market code, submitted late): upheld (Approved) or rejected.

    Late appeals are rejected, or upheld under the planted deviation.
    """
    in_window = np.array(
        [upheld_in_window(t, m) for t, m in zip(appeal_type, market, strict=True)], dtype=bool
    )
    verdict = np.where(late, policy.upholds_late_appeals, in_window)
    return flip(rng, verdict, np.ones(len(late), dtype=bool), policy.noise)
