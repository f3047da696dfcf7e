"""Genuinely bad rows, each of a known class, at a chosen rate.

The batch must quarantine every one of them; the generation report says which class went to
which file and physical line, so ingestion tests can check the quarantine exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aftersales.generate.frames import Frame, Text
from aftersales.generate.sampling import DAY, HOUR, uniform

BAD_CLASSES = (
    "unparseable_timestamp",
    "negative_amount",
    "refund_above_order_amount",
    "unknown_enum",
    "shipped_before_paid",
    "empty_key",
    "seller_response_before_request",
    "wrong_field_count",
)
WHOLE_ROW = "(whole row)"

# kind -> bad class -> header of the column it breaks.
TARGETS: dict[str, dict[str, str]] = {
    "orders": {
        "unparseable_timestamp": "Created Time", "negative_amount": "SKU Unit Original Price",
        "refund_above_order_amount": "Order Refund Amount", "shipped_before_paid": "Shipped Time",
        "empty_key": "Order ID", "wrong_field_count": WHOLE_ROW,
    },
    "aftersales_requests": {
        "unparseable_timestamp": "Request Time", "negative_amount": "Refund Amount",
        "refund_above_order_amount": "Refund Amount", "unknown_enum": "Return Type", "empty_key": "Return Order ID",
        "seller_response_before_request": "Seller Response Time", "wrong_field_count": WHOLE_ROW,
    },
    "cancellations": {
        "unparseable_timestamp": "Request Time", "unknown_enum": "Requested By", "empty_key": "Cancellation ID",
        "seller_response_before_request": "Seller Response Time", "wrong_field_count": WHOLE_ROW,
    },
    "messages": {"unparseable_timestamp": "Sent Time", "unknown_enum": "Sender Role", "empty_key": "Message ID",
                 "wrong_field_count": WHOLE_ROW},
    "evidence": {"unparseable_timestamp": "Uploaded Time", "unknown_enum": "Evidence Type", "empty_key": "Case ID",
                 "wrong_field_count": WHOLE_ROW},
    "appeals": {"unparseable_timestamp": "Appeal Available Time", "unknown_enum": "Appeal Type", "empty_key": "Appeal ID",
                "wrong_field_count": WHOLE_ROW},
}  # fmt: skip
UNKNOWN_ENUM = {"aftersales_requests": "Store credit", "cancellations": "Courier", "messages": "Moderator",
                "evidence": "hologram_scan", "appeals": "goodwill_gesture"}  # fmt: skip
UNPARSEABLE = ["31/02/2026 08:15:00", "2026-13-45T25:61:00", "32/11/2026 10:00:00", "13/27/2026 1:05:09 PM",
               "27.11.2026 ??:??", "yesterday 5pm"]  # fmt: skip


@dataclass(frozen=True)
class BadRow:
    file: str  # relative to the inbox
    line: int  # 1-based physical line, header = 1
    kind: str
    bad_class: str
    column: str


def plan_bad_rows(
    rng: np.random.Generator, rate: float, total_rows: int, eligible: dict[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per kind: (rows, class codes into BAD_CLASSES). Every class appears once when rate > 0."""
    if rate <= 0:
        return {}
    pool = {k: rng.permutation(v) for k, v in eligible.items() if len(v)}
    used = {k: 0 for k in pool}
    # At least one of each class, but never more than a tenth of a tiny inbox.
    n_bad = max(int(round(rate * total_rows)), min(len(BAD_CLASSES), total_rows // 10))
    n_bad = min(n_bad, sum(len(v) for v in pool.values()))
    picks: list[tuple[str, int]] = []

    def take(kind: str, cls: str) -> None:
        picks.append((kind, BAD_CLASSES.index(cls)))
        used[kind] += 1

    for cls in BAD_CLASSES:  # each class once, in a kind that supports it
        kinds = [k for k in pool if cls in TARGETS[k] and used[k] < len(pool[k])]
        if kinds and len(picks) < n_bad:
            w = np.array([len(pool[k]) - used[k] for k in kinds], dtype=float)
            take(kinds[rng.choice(len(kinds), p=w / w.sum())], cls)
    while len(picks) < n_bad:
        kinds = [k for k in pool if used[k] < len(pool[k])]
        w = np.array([len(pool[k]) - used[k] for k in kinds], dtype=float)
        kind = kinds[rng.choice(len(kinds), p=w / w.sum())]
        classes = list(TARGETS[kind])
        take(kind, classes[rng.integers(0, len(classes))])
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in pool:
        codes = np.array([c for k, c in picks if k == kind], dtype=np.int32)
        out[kind] = (pool[kind][: len(codes)].astype(np.int64), codes)
    return out


def apply_bad_rows(
    rng: np.random.Generator,
    kind: str,
    frame: Frame,
    rows: np.ndarray,
    codes: np.ndarray,
    order_amount: np.ndarray | None = None,
) -> None:
    """Break the chosen rows in place. Value-level classes change the typed data; text-level ones
    (timestamps, enums, keys, field counts) are marked in `_bad` / `_bad_text` for the writer."""
    n = len(frame)
    bad = np.full(n, -1, dtype=np.int32)
    bad[rows] = codes
    text = np.full(n, -1, dtype=np.int32)
    vocab = list(UNPARSEABLE) + [UNKNOWN_ENUM.get(kind, "")]
    ts_rows = rows[codes == BAD_CLASSES.index("unparseable_timestamp")]
    text[ts_rows] = rng.integers(0, len(UNPARSEABLE), len(ts_rows))
    text[rows[codes == BAD_CLASSES.index("unknown_enum")]] = len(UNPARSEABLE)
    frame["_bad"] = Text.of(bad, list(BAD_CLASSES))
    frame["_bad_text"] = Text.of(text, vocab)

    def rows_of(cls: str) -> np.ndarray:
        return rows[codes == BAD_CLASSES.index(cls)]

    r = rows_of("negative_amount")
    if len(r):
        col = "unit_price" if kind == "orders" else "refund_amount"
        base = frame["item_price"][r] if kind != "orders" else frame[col][r]
        frame[col][r] = -np.abs(np.where(np.isnan(frame[col][r]), base, frame[col][r]))
    r = rows_of("refund_above_order_amount")
    if len(r):
        if kind == "orders":
            frame["refund_amount"][r] = np.round(frame["order_amount"][r] * 1.5) + 100
        else:
            frame["refund_amount"][r] = np.round(order_amount[r] * 2) + 1000
    r = rows_of("shipped_before_paid")
    if len(r):
        frame["t_paid"][r] = frame["t_created"][r] + 120
        frame["t_shipped"][r] = frame["t_paid"][r] - uniform(rng, HOUR, 2 * DAY, len(r))
    r = rows_of("seller_response_before_request")
    if len(r):
        frame["t_seller_response"][r] = frame["t_request"][r] - uniform(rng, HOUR, 3 * DAY, len(r))
