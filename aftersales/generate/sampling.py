"""How values are drawn: seeded streams per stage, categorical draws that cover every value,
pseudo-random unique identifiers and the shop-local clock.

Every stage draws from its own stream (`stage_rng(seed, "orders")`), so changing how chats are
generated never shifts the orders of the same seed.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# Relative order volume per local hour of day (evening peak, quiet nights).
HOURLY_ACTIVITY = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.7, 1.1, 1.5, 1.7, 1.8, 1.9,
     2.2, 2.1, 1.9, 1.8, 1.9, 2.1, 2.4, 2.8, 3.0, 3.0, 2.5, 1.7]
)  # fmt: skip


def stage_rng(seed: int, stage: str) -> np.random.Generator:
    """An independent, reproducible random stream for one generation stage."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(stage.encode())]))


def pick(
    rng: np.random.Generator, n: int, weights: Mapping[str, float] | Sequence[float], *, cover: bool = True
) -> np.ndarray:
    """Codes 0..k-1 drawn with the given weights; with `cover`, every code appears at least once
    (when n >= k), placed at random rows so that small samples still exercise every value."""
    w = np.asarray(list(weights.values()) if isinstance(weights, Mapping) else weights, dtype=float)
    k = len(w)
    codes = rng.choice(k, size=n, p=w / w.sum()).astype(np.int32)
    if cover and n >= k:
        rows = rng.choice(n, size=k, replace=False)
        codes[rows] = rng.permutation(k)
    return codes


def pick_within(rng: np.random.Generator, mask: np.ndarray, weights, *, cover: bool = True) -> np.ndarray:
    """`pick` restricted to the rows where `mask` holds; other rows get -1."""
    out = np.full(len(mask), -1, dtype=np.int32)
    rows = np.flatnonzero(mask)
    out[rows] = pick(rng, len(rows), weights, cover=cover)
    return out


def uniform(rng: np.random.Generator, lo, hi, n: int | None = None) -> np.ndarray:
    lo_a, hi_a = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    size = n if n is not None else np.broadcast(lo_a, hi_a).shape
    return lo_a + (hi_a - lo_a) * rng.random(size)


def spread_ids(prefix: int, n: int, digits: int, salt: int) -> np.ndarray:
    """`n` distinct identifiers `prefix` followed by `digits` digits that do not look sequential.

    The multiplier is coprime with 10**digits, so i -> (i * M + salt) mod 10**digits is a bijection.
    """
    modulus = 10**digits
    i = np.arange(n, dtype=np.int64)
    mixed = (i * np.int64(738_561_247) + np.int64(salt)) % np.int64(modulus)
    return np.int64(prefix) * np.int64(modulus) + mixed


def local_midnight_epoch(day: date) -> float:
    """Seconds since epoch of a naive local midnight (wall-clock arithmetic, no zone)."""
    return (datetime.combine(day, time(0)) - datetime(1970, 1, 1)).total_seconds()


def local_to_utc(local_seconds: np.ndarray, zone_codes: np.ndarray, zones: Sequence[str]) -> np.ndarray:
    """Interpret naive local wall times in each row's zone; return UTC epoch seconds.

    Ambiguous autumn wall times are read as standard time, missing spring ones shift forward,
    as an export renderer would.
    """
    out = np.full(len(local_seconds), np.nan)
    for code, zone in enumerate(zones):
        rows = np.flatnonzero((zone_codes == code) & ~np.isnan(local_seconds))
        if not len(rows):
            continue
        naive = pd.DatetimeIndex(np.round(local_seconds[rows]).astype("datetime64[s]"))
        aware = naive.tz_localize(
            zone, ambiguous=np.zeros(len(rows), dtype=bool), nonexistent="shift_forward"
        )
        out[rows] = aware.tz_convert("UTC").tz_localize(None).values.astype("datetime64[s]").astype(np.int64)
    return out


def utc_to_local(utc_seconds: np.ndarray, zone_codes: np.ndarray, zones: Sequence[str]) -> np.ndarray:
    """Naive local wall-clock seconds of UTC instants (for weekday and business-hour shaping)."""
    out = np.full(len(utc_seconds), np.nan)
    for code, zone in enumerate(zones):
        rows = np.flatnonzero((zone_codes == code) & ~np.isnan(utc_seconds))
        if not len(rows):
            continue
        aware = pd.DatetimeIndex(np.round(utc_seconds[rows]).astype("datetime64[s]")).tz_localize("UTC")
        out[rows] = aware.tz_convert(zone).tz_localize(None).values.astype("datetime64[s]").astype(np.int64)
    return out


def end_of_day_utc(day: date, zone: str) -> float:
    """UTC epoch seconds of 24:00 local time at the end of `day` in `zone`."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)).timestamp()


def local_weekday(local_seconds: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 for naive local wall-clock seconds (1970-01-01 was a Thursday)."""
    return ((np.floor(local_seconds / DAY).astype(np.int64) + 3) % 7).astype(np.int32)


def local_times_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight following the daily activity curve."""
    hours = rng.choice(24, size=n, p=HOURLY_ACTIVITY / HOURLY_ACTIVITY.sum())
    return hours * HOUR + rng.random(n) * HOUR
