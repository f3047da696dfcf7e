"""Fake but realistic buyers: names (many non-ASCII), usernames, phones and addresses.

Everything here is personal data in the contract's sense (section 2.2). Phone numbers use the
ranges reserved for fiction where a market has one (US 555-01xx, UK 07700 900xxx).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aftersales.generate.frames import Text

_FIRST = {
    "US": ["Emily", "José", "Zoë", "Michael", "Aaliyah", "Chloé", "Darnell", "Sofía", "Nguyen", "Hannah",
           "Mateo", "Brianna", "Kenji", "Olivia", "Renée", "Tyler", "Priya", "Jamal", "Léa", "Connor"],
    "UK": ["Oliver", "Siobhán", "Amelia", "Rhys", "Aoife", "Harry", "Zainab", "Niamh", "George", "Chloë",
           "Dafydd", "Isla", "Krzysztof", "Poppy", "Eòghann", "Ruby"],
    "TH": ["สมชาย", "สุดารัตน์", "Nattapong", "Kanokwan", "ปิยะพงษ์", "Siriporn", "อรทัย", "Thanakrit",
           "Wanida", "ธนวัฒน์"],
    "VN": ["Nguyễn Thị Mai", "Trần Văn Hùng", "Lê Thị Hồng", "Phạm Minh Tuấn", "Hoàng Thu Trang",
           "Vũ Đức Anh", "Đặng Ngọc Lan", "Bùi Quang Huy"],
    "ID": ["Siti", "Budi", "Dewi", "Agus", "Rina", "Putri", "Yusuf", "Ayu"],
    "MY": ["Nur Aisyah", "Tan Wei Ming", "陈美玲", "Muthu", "Siti Nurhaliza", "Lim Chee Keong", "Farah", "黄志明"],
    "PH": ["Maria", "Juan", "Angelica", "Jose Rizal", "Kristine", "Mark Anthony", "Maricel", "Paolo"],
    "SG": ["Lim Jia Hui", "Muhammad Faizal", "Priya", "陈俊杰", "Nurul", "Ethan Tan", "Siew Ling"],
}  # fmt: skip
_LAST = {
    "US": ["Johnson", "Álvarez", "Müller", "Nguyen", "O'Brien", "Washington", "García", "Kowalski", "Patel",
           "Smith", "Dubois", "Kim", "Hernández", "Brooks"],
    "UK": ["Smith", "O'Connor", "Patel", "Jones", "Ní Bhriain", "Williams", "Nowak", "Evans", "Ahmed",
           "Taylor", "MacLeòid", "Davies"],
    "TH": ["ใจดี", "Srisuk", "แสงทอง", "Wongsawat", "Chaiyaporn", "สุขสวัสดิ์", "Rattanakorn"],
    "VN": [""],
    "ID": ["Rahmawati", "Santoso", "Lestari", "Hidayat", "Wijaya", "Saputra", "Nugroho"],
    "MY": ["binti Ahmad", "", "a/l Krishnan", "bin Ismail", ""],
    "PH": ["Santos", "dela Cruz", "Reyes", "Bautista", "Villanueva", "Mendoza", "Garcia"],
    "SG": ["", "bin Rahman", "d/o Raman", ""],
}  # fmt: skip
# (city, state or province, postcode stem)
_PLACES = {
    "US": [("San Jose", "California", "951"), ("Austin", "Texas", "787"), ("Brooklyn", "New York", "112"),
           ("Columbus", "Ohio", "432"), ("Miami", "Florida", "331"), ("Denver", "Colorado", "802"),
           ("Seattle", "Washington", "981"), ("Chicago", "Illinois", "606")],
    "UK": [("London", "Greater London", "E1"), ("Manchester", "Greater Manchester", "M4"),
           ("Birmingham", "West Midlands", "B5"), ("Leeds", "West Yorkshire", "LS2"), ("Cardiff", "Wales", "CF10"),
           ("Bristol", "Bristol", "BS1")],
    "TH": [("Khet Pathum Wan", "Bangkok", "10330"), ("Khet Bang Rak", "Bangkok", "10500"),
           ("Mueang Chiang Mai", "Chiang Mai", "50200"), ("Mueang Khon Kaen", "Khon Kaen", "40000")],
    "VN": [("Quận 1", "TP. Hồ Chí Minh", "700000"), ("Quận Ba Đình", "Hà Nội", "100000"),
           ("Quận Hải Châu", "Đà Nẵng", "550000")],
    "ID": [("Jakarta Selatan", "DKI Jakarta", "12190"), ("Coblong", "Jawa Barat", "40132"),
           ("Tegalsari", "Jawa Timur", "60262")],
    "MY": [("Kuala Lumpur", "Wilayah Persekutuan", "50450"), ("Petaling Jaya", "Selangor", "46000"),
           ("Georgetown", "Pulau Pinang", "10200"), ("Johor Bahru", "Johor", "80000")],
    "PH": [("Quezon City", "Metro Manila", "1100"), ("Makati", "Metro Manila", "1226"), ("Cebu City", "Cebu", "6000")],
    "SG": [("Singapore", "Central Region", "238823"), ("Singapore", "East Region", "529510"),
           ("Singapore", "North Region", "730001")],
}  # fmt: skip
_STREETS = {
    "US": ["Maple Street", "Oak Avenue", "Sunset Blvd", "Pine Ridge Rd", "Elm Court", "Lakeview Dr", "Cedar Lane"],
    "UK": ["High Street", "Church Road", "Victoria Road", "Mill Lane", "Station Road", "Park Avenue"],
    "TH": ["ถนนสุขุมวิท", "Soi Ari 4", "ถนนพระราม 4", "Nimmanhaemin Rd", "Soi Thonglor 10"],
    "VN": ["Đường Lê Lợi", "Phố Hàng Bài", "Đường Nguyễn Huệ", "Đường Trần Phú"],
    "ID": ["Jl. Sudirman", "Jl. Dago", "Jl. Pemuda", "Jl. Kemang Raya"],
    "MY": ["Jalan Ampang", "Jalan SS2/24", "Lebuh Chulia", "Jalan Wong Ah Fook"],
    "PH": ["Rizal Avenue", "Ayala Avenue", "Mabini Street", "Katipunan Ave"],
    "SG": ["Orchard Road", "Tampines Ave 5", "Woodlands Drive 14", "Jalan Besar"],
}  # fmt: skip
_EXTRA = ["Apt 4B", "Unit 12-03", "Flat 2", "Leave with concierge", "Gate code 4821", "Blk 123 #05-67",
          "Behind the 7-Eleven", "Ring twice", "Floor 3, Room 301", "ห้อง 1205", "Tầng 2", "Suite 210"]  # fmt: skip


@dataclass
class Buyers:
    """One row per buyer; `market` holds the market code of each buyer."""

    market: np.ndarray  # object array of market codes
    username: Text
    name: Text
    first: Text
    phone: Text
    zipcode: Text
    address: Text
    extra: Text
    state: Text
    city: Text

    def of_market(self, code: str) -> np.ndarray:
        return np.flatnonzero(self.market == code)


def build_buyers(rng: np.random.Generator, markets: list[str], n_per_market: int) -> Buyers:
    """`n_per_market` buyers for each market in `markets` (repeat buyers make claims analysable).

    Built column-wise with Arrow string kernels: a million-line inbox needs a large pool.
    """
    parts: dict[str, list[pa.Array]] = {
        k: [] for k in ("username", "name", "first", "phone", "zip", "address")
    }
    extra_codes, state_codes, market_of = [], [], []
    place_vocab: list[tuple[str, str, str]] = []
    for code in markets:
        firsts, lasts, places, streets = _FIRST[code], _LAST[code], _PLACES[code], _STREETS[code]
        n = n_per_market
        fi = rng.integers(0, len(firsts), n)
        la = rng.integers(0, len(lasts), n)
        pl = rng.integers(0, len(places), n)
        st = rng.integers(0, len(streets), n)
        house = rng.integers(1, 9900, n)
        d = rng.integers(0, 10_000_000, n)
        ex = np.where(rng.random(n) < 0.35, rng.integers(0, len(_EXTRA), n), -1)
        combo = fi * len(lasts) + la
        full = [f"{f} {last}".strip() for f in firsts for last in lasts]
        parts["name"].append(pa.array(full).take(pa.array(combo)))
        parts["first"].append(pa.array([f.split()[0] for f in firsts]).take(pa.array(fi)))
        base = pa.array([_handle(x) for x in full]).take(pa.array(combo))
        parts["username"].append(_join(base, pa.array(np.array([".", "_"])[d % 2]), _digits(d % 100_000, 5)))
        parts["phone"].append(_phone(code, d))
        stems = pa.array([p[2] for p in places]).take(pa.array(pl))
        parts["zip"].append(_postcode(code, stems, d))
        parts["address"].append(_street_line(code, house, pa.array(streets).take(pa.array(st))))
        extra_codes.append(ex)
        state_codes.append(len(place_vocab) + pl)
        place_vocab.extend(places)
        market_of.extend([code] * n)
    n_all = len(market_of)
    own = np.arange(n_all, dtype=np.int32)

    def text(chunks: list[pa.Array]) -> Text:
        return Text(own, pa.concat_arrays(chunks).cast(pa.string()))

    extra = np.concatenate(extra_codes)
    places_code = np.concatenate(state_codes).astype(np.int32)
    return Buyers(
        market=np.array(market_of), username=text(parts["username"]), name=text(parts["name"]),
        first=text(parts["first"]), phone=text(parts["phone"]), zipcode=text(parts["zip"]),
        address=text(parts["address"]), extra=Text.of(extra, _EXTRA),
        state=Text.of(places_code, [p[1] for p in place_vocab]), city=Text.of(places_code, [p[0] for p in place_vocab]),
    )  # fmt: skip


def _handle(full: str) -> str:
    """Username stem: the name folded to ASCII ("Nguyễn Thị Mai" -> "nguyenthimai")."""
    folded = unicodedata.normalize("NFKD", full.lower().replace("đ", "d"))
    ascii_part = "".join(ch for ch in folded if ch.isascii() and ch.isalnum())
    return ascii_part[:10] if len(ascii_part) >= 3 else "user"


def _digits(values: np.ndarray, width: int = 0) -> pa.Array:
    text = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*[p if isinstance(p, pa.Array) else pa.scalar(p) for p in parts], "")


def _phone(market: str, d: np.ndarray) -> pa.Array:
    a, b, c = d % 100, (d // 100) % 1000, (d // 100_000) % 10
    last4, last3 = d % 10_000, d % 1000
    return {
        "US": lambda: _join("(", _digits(201 + d % 700), ") 555-01", _digits(a, 2)),
        "UK": lambda: _join("+44 7700 900", _digits(b, 3)),
        "TH": lambda: _join("+66 8", _digits(c), " ", _digits(b, 3), " ", _digits(last4, 4)),
        "VN": lambda: _join("+84 9", _digits(c), " ", _digits(b, 3), " ", _digits(last3, 3)),
        "ID": lambda: _join("+62 812-", _digits(b, 3), _digits(c), "-", _digits(last4, 4)),
        "MY": lambda: _join("+60 1", _digits(c), "-", _digits(b, 3), " ", _digits(last4, 4)),
        "PH": lambda: _join("+63 917 ", _digits(b, 3), " ", _digits(last4, 4)),
        "SG": lambda: _join("+65 9", _digits(b, 3), " ", _digits(last4, 4)),
    }[market]()


_POST_LETTERS = pa.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def _postcode(market: str, stems: pa.Array, d: np.ndarray) -> pa.Array:
    if market == "US":
        return _join(stems, _digits(d % 100, 2))
    if market == "UK":
        return _join(
            stems,
            " ",
            _digits(d % 9 + 1),
            _POST_LETTERS.take(pa.array(d % 20)),
            _POST_LETTERS.take(pa.array((d // 20) % 20)),
        )
    return stems


def _street_line(market: str, house: np.ndarray, streets: pa.Array) -> pa.Array:
    if market in ("US", "UK", "PH"):
        return _join(_digits(house), " ", streets)
    if market == "SG":
        return _join(_digits(house % 900 + 1), " ", streets)
    if market == "VN":
        return _join("Số ", _digits(house % 300 + 1), " ", streets)
    return _join(streets, " No. ", _digits(house % 500 + 1))
