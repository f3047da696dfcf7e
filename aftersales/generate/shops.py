"""Markets and the shop registry (`shops.csv`, contract section 2.1).

The day counts in `Market` only *shape* the synthetic data so that it lands on both sides of
the real deadlines; the batch never reads them (its policy values live in `rules/`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

import numpy as np

from aftersales.generate.sampling import end_of_day_utc, stage_rng

SHOP_COLUMNS = ("Shop ID", "Shop Name", "Market", "Program", "Ship From", "Timezone", "Chatbots Enabled")


@dataclass(frozen=True)
class Market:
    code: str
    country_iso: str
    country_name: str
    currency: str
    symbol: str
    decimals: int  # 0 for VND and IDR
    per_usd: float  # local currency units per US dollar, for realistic price levels
    month_first: bool  # US exports: "11/27/2026 1:05:09 PM"; everyone else day-first 24 h
    return_window_days: int  # nominal buyer request window after delivery
    review_days: tuple[int, int]  # nominal seller review before auto-approval (low, high price)
    language: str  # en, th, vi, id, ms


MARKETS: dict[str, Market] = {
    m.code: m
    for m in (
        Market("US", "US", "United States", "USD", "$", 2, 1.0, True, 30, (2, 4), "en"),
        Market("UK", "GB", "United Kingdom", "GBP", "£", 2, 0.79, False, 30, (2, 4), "en"),
        Market("TH", "TH", "Thailand", "THB", "฿", 2, 35.0, False, 7, (1, 1), "th"),
        Market("VN", "VN", "Vietnam", "VND", "₫", 0, 25_000.0, False, 15, (1, 1), "vi"),
        Market("ID", "ID", "Indonesia", "IDR", "Rp", 0, 15_500.0, False, 6, (2, 2), "id"),
        Market("MY", "MY", "Malaysia", "MYR", "RM", 2, 4.5, False, 15, (1, 1), "en"),
        Market("PH", "PH", "Philippines", "PHP", "₱", 2, 56.0, False, 15, (1, 1), "en"),
        Market("SG", "SG", "Singapore", "SGD", "S$", 2, 1.35, False, 15, (1, 1), "en"),
    )
}


@dataclass(frozen=True)
class ShopProfile:
    market: str
    program: str
    ship_from: str
    timezone: str
    chatbots: bool


# The first six cover every program the batch distinguishes; --shops N > 6 cycles on.
SHOP_CYCLE: tuple[ShopProfile, ...] = (
    ShopProfile("US", "local", "US", "America/Los_Angeles", True),
    ShopProfile("UK", "local", "GB", "Europe/London", False),
    ShopProfile("TH", "local", "TH", "Asia/Bangkok", True),
    ShopProfile("VN", "local", "VN", "Asia/Ho_Chi_Minh", False),
    ShopProfile("MY", "cross_border", "CN", "Asia/Kuala_Lumpur", True),
    ShopProfile("US", "cross_border", "CN", "America/New_York", False),
    ShopProfile("ID", "local", "ID", "Asia/Jakarta", True),
    ShopProfile("PH", "local", "PH", "Asia/Manila", False),
    ShopProfile("SG", "local", "SG", "Asia/Singapore", True),
    ShopProfile("PH", "cross_border", "CN", "Asia/Manila", True),
    ShopProfile("UK", "local", "GB", "Europe/London", True),
    ShopProfile("US", "local", "US", "America/New_York", True),
    ShopProfile("MY", "local", "MY", "Asia/Kuala_Lumpur", False),
    ShopProfile("TH", "cross_border", "CN", "Asia/Bangkok", False),
)

_NAME_HEADS = {
    "US": ["Sunny Trail", "Maple & Main", "Copper Kettle", "Blue Harbor", "Desert Bloom", "Hudson Thread"],
    "UK": ["Thistle & Thyme", "Brick Lane", "Kentish Oak", "Harbour Lights", "Bramble Lane"],
    "TH": ["Baan Suay", "Chao Phraya", "Siam Sabai", "Lanna Craft"],
    "VN": ["Sài Gòn Xinh", "Hà Nội Phố", "Mekong Home", "Hoa Sen"],
    "ID": ["Toko Cahaya", "Batik Nusantara", "Rumah Rapi"],
    "MY": ["Kedai Ceria", "Petaling Picks", "Orchid Avenue"],
    "PH": ["Sari-Sari Online", "Isla Finds", "Manila Bay Goods"],
    "SG": ["Lion City Living", "Merlion Mart", "Kopi Corner"],
}
_NAME_TAILS = {
    "local": ["Outfitters", "Home", "Store", "Boutique", "Co."],
    "cross_border": ["Global", "Direct", "Official CN"],
}
_CODE_ALPHABET = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))


@dataclass(frozen=True)
class Shop:
    index: int
    shop_id: str
    name: str
    market: Market
    program: str
    ship_from: str
    timezone: str
    chatbots: bool
    cutoff: float  # UTC epoch seconds of 24:00 local at the end of the batch date
    weight: float  # relative order volume

    @property
    def cross_border(self) -> bool:
        return self.program == "cross_border"


def build_shops(n: int, seed: int, batch_date: date) -> list[Shop]:
    """`n` shops cycling through `SHOP_CYCLE`, with seller-centre style shop codes as IDs."""
    rng = stage_rng(seed, "shops")
    weights = np.exp(rng.normal(0.0, 0.5, n))
    shops, seen = [], set()
    for i in range(n):
        prof = SHOP_CYCLE[i % len(SHOP_CYCLE)]
        market = MARKETS[prof.market]
        kind = "CB" if prof.program == "cross_border" else "LC"
        while True:
            code = f"{market.country_iso}{kind}{''.join(rng.choice(_CODE_ALPHABET, 6))}"
            if code not in seen:
                seen.add(code)
                break
        heads, tails = _NAME_HEADS[prof.market], _NAME_TAILS[prof.program]
        name = f"{heads[i % len(heads)]} {tails[i % len(tails)]}"
        if i >= len(SHOP_CYCLE):
            name = f"{name} {i // len(SHOP_CYCLE) + 1}"
        shops.append(
            Shop(i, code, name, market, prof.program, prof.ship_from, prof.timezone, prof.chatbots,
                 end_of_day_utc(batch_date, prof.timezone), float(weights[i]))
        )  # fmt: skip
    return shops


def shops_csv(shops: list[Shop]) -> bytes:
    """The registry as the operations team keeps it: plain UTF-8, exact contract columns."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SHOP_COLUMNS)
    for s in shops:
        writer.writerow(
            [s.shop_id, s.name, s.market.code, s.program, s.ship_from, s.timezone, str(s.chatbots).lower()]
        )
    return buf.getvalue().encode("utf-8")


def zone_codes(shops: list[Shop]) -> tuple[np.ndarray, list[str]]:
    """Per shop, a code into the list of distinct time zones (for vectorised clock maths)."""
    zones = sorted({s.timezone for s in shops})
    return np.array([zones.index(s.timezone) for s in shops], dtype=np.int32), zones
