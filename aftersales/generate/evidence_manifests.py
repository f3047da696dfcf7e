"""Evidence manifest rows (contract section 2.6) for return orders, cancellations and appeals.

Buyers upload photos and unboxing videos with their request, sellers packing photos, AWB
photos, listings, invoices or lab reports, carriers tracking and proof of delivery, the
platform snapshots. A few items are invalid (size 0, malformed hash) and some arrive late.
"""

from __future__ import annotations

import numpy as np

from aftersales.generate.frames import Frame, Text
from aftersales.generate.sampling import DAY, HOUR, MINUTE, pick, uniform

PARTIES = ["Buyer", "Seller", "Carrier", "Platform"]
TYPES = ["photo", "video", "unboxing_video", "tracking", "proof_of_delivery", "chat_screenshot", "listing_snapshot",
         "invoice", "lab_report", "awb_photo", "packing_photo", "comparison_photo"]  # fmt: skip
_T = {name: i for i, name in enumerate(TYPES)}
# Per case kind: party weights, then per party the evidence types it submits.
_PARTY_WEIGHTS = {
    "request": [0.55, 0.3, 0.1, 0.05],
    "cancellation": [0.3, 0.7, 0.0, 0.0],
    "appeal": [0.0, 0.85, 0.1, 0.05],
}
_TYPES_BY_PARTY = {
    0: {"photo": 0.45, "video": 0.15, "unboxing_video": 0.2, "chat_screenshot": 0.2},
    1: {"packing_photo": 0.2, "awb_photo": 0.2, "tracking": 0.1, "listing_snapshot": 0.12, "invoice": 0.1,
        "lab_report": 0.05, "comparison_photo": 0.13, "chat_screenshot": 0.05, "photo": 0.05},
    2: {"tracking": 0.6, "proof_of_delivery": 0.4},
    3: {"listing_snapshot": 0.5, "chat_screenshot": 0.3, "tracking": 0.2},
}  # fmt: skip
_FILE_PATTERN = {  # prefix, extension, median size (bytes)
    "photo": ("IMG", "jpg", 1.8e6), "video": ("VID", "mp4", 2.4e7), "unboxing_video": ("unboxing", "mp4", 4.5e7),
    "tracking": ("tracking", "pdf", 1.2e5), "proof_of_delivery": ("POD", "jpg", 6e5), "chat_screenshot": ("Screenshot", "png", 4e5),
    "listing_snapshot": ("listing", "png", 9e5), "invoice": ("invoice", "pdf", 8e4), "lab_report": ("lab_report", "pdf", 1.5e6),
    "awb_photo": ("AWB", "jpg", 1.2e6), "packing_photo": ("packing", "jpg", 1.6e6), "comparison_photo": ("compare", "jpg", 1.4e6),
}  # fmt: skip
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def generate_evidence(
    rng: np.random.Generator,
    n: int,
    cases: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
) -> Frame:
    """`n` evidence rows spread over `cases`: kind -> (shop, case key, anchor time, cutoff).

    Case keys are int64 IDs; appeal keys are rendered with their "AP" prefix later, so the
    kind travels along in `case_kind`.
    """
    kinds = [k for k in ("request", "cancellation", "appeal") if k in cases and len(cases[k][1])]
    if not kinds:
        n = 0
    sizes = np.array([len(cases[k][0]) for k in kinds], dtype=float)
    appetite = np.array([{"request": 1.0, "cancellation": 0.35, "appeal": 1.6}[k] for k in kinds])
    kind = pick(rng, n, sizes * appetite) if n else np.zeros(0, np.int32)
    shop = np.zeros(n, np.int32)
    key = np.zeros(n, np.int64)
    anchor = np.zeros(n)
    cutoff = np.zeros(n)
    party = np.zeros(n, np.int32)
    for code, k in enumerate(kinds):
        rows = np.flatnonzero(kind == code)
        c_shop, c_key, c_anchor, c_cutoff = cases[k]
        pick_case = rng.integers(0, len(c_key), len(rows))
        shop[rows], key[rows], anchor[rows], cutoff[rows] = (
            c_shop[pick_case],
            c_key[pick_case],
            c_anchor[pick_case],
            c_cutoff[pick_case],
        )
        party[rows] = pick(rng, len(rows), _PARTY_WEIGHTS[k])
    etype = np.zeros(n, np.int32)
    for p, weights in _TYPES_BY_PARTY.items():
        rows = np.flatnonzero(party == p)
        names = list(weights)
        etype[rows] = np.array([_T[x] for x in names])[pick(rng, len(rows), weights)]

    # Upload time: buyers with their request, others within hours; a tail arrives days late.
    delay = np.where(party == 0, uniform(rng, -30 * MINUTE, 2 * HOUR, n), uniform(rng, HOUR, 30 * HOUR, n))
    late = rng.random(n) < 0.12
    delay = np.where(late, uniform(rng, 3 * DAY, 15 * DAY, n), delay)
    uploaded = anchor + delay
    uploaded = np.where(uploaded > cutoff, anchor + rng.random(n) * np.maximum(cutoff - anchor, 0), uploaded)

    # File, size and hash; about 3 % are invalid evidence.
    pattern = [_FILE_PATTERN[t] for t in TYPES]
    median = np.array([p[2] for p in pattern])[etype]
    size = np.maximum(1024, np.round(median * np.exp(rng.normal(0, 0.6, n)))).astype(np.int64)
    digest = (
        _HEX[rng.integers(0, 256, (n, 32), dtype=np.uint8)].view("S64").ravel() if n else np.zeros(0, "S64")
    )
    sha = np.char.decode(digest, "ascii").astype(object) if n else np.zeros(0, object)
    flaw = pick(
        rng, n, [0.97, 0.015, 0.005, 0.005, 0.005], cover=n >= 50
    )  # ok, size 0, short, non-hex, empty
    size = np.where(flaw == 1, 0, size)
    sha = np.where(flaw == 2, np.array([s[:40] for s in sha], dtype=object), sha)
    sha = np.where(flaw == 3, np.array([s[:62] + "zz" for s in sha], dtype=object), sha)
    sha_codes = np.where(flaw == 4, -1, np.arange(n)).astype(np.int32)
    sha_vocab = list(sha) if n else []
    # File names: prefix_yyyymmdd_nnnnnn.ext, with a sequence number as camera apps do.
    prefix = np.array([p[0] for p in pattern], dtype=object)[etype]
    ext = np.array([p[1] for p in pattern], dtype=object)[etype]
    stamp = (
        np.datetime_as_string(np.round(np.nan_to_num(uploaded)).astype("datetime64[s]"), unit="D")
        if n
        else np.zeros(0, object)
    )
    seq = rng.integers(1000, 999_999, n)
    names = [
        f"{p}_{d.replace('-', '')}_{s:06d}.{e}" for p, d, s, e in zip(prefix, stamp, seq, ext, strict=True)
    ]
    return Frame(
        shop=shop,
        case_key=key,
        case_kind=Text.of(kind, kinds),
        submitted_by=Text.of(party, PARTIES),
        evidence_type=Text.of(etype, TYPES),
        t_uploaded=uploaded,
        file_name=Text.of(np.arange(n), names),
        file_size=size,
        sha256=Text.of(sha_codes, sha_vocab),
        flaw=flaw,
    )
