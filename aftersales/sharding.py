"""Shards: the shops of one batch split into groups that can be processed independently.

Every case, clock and health metric belongs to one shop, so a group of shops is a unit of work
that needs nothing from another group. A shop's shard is a stable hash of its Shop ID (never its
position in shops.csv): adding a shop moves no other shop, and the same shop lands in the same
shard on every machine and every night, which keeps a retried or re-run shard idempotent.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Shard:
    """One group of shops; `index` is 0-based, `count` the number of shards of the plan."""

    index: int
    count: int
    shop_ids: tuple[str, ...]
    # The one shard that also ledgers what belongs to no shop: shops.csv itself and files outside
    # a registered shop folder (the first shard of a plan).
    holds_inbox_files: bool = False

    @property
    def name(self) -> str:
        """Lowercase, digits and dashes: usable as a Prefect task-run name and artifact key."""
        return f"shard-{self.index + 1:03d}-of-{self.count:03d}"

    def owns(self, shop_id: str | None) -> bool:
        """Whether a file of this shop (None: of no shop) is this shard's to ingest."""
        return self.holds_inbox_files if shop_id is None else shop_id in self._shop_set

    @cached_property
    def _shop_set(self) -> frozenset[str]:
        return frozenset(self.shop_ids)

    def shops_named(self, limit: int = 5) -> str:
        """The shard's shops for a one-line message: the first `limit`, then how many more."""
        shown = ", ".join(self.shop_ids[:limit])
        more = len(self.shop_ids) - limit
        return f"{shown} and {more} more" if more > 0 else shown


def shard_index(shop_id: str, shard_count: int) -> int:
    """The shard of a shop: BLAKE2b of its UTF-8 Shop ID, modulo the shard count."""
    if shard_count < 1:
        raise ValueError(f"shard count must be at least 1, not {shard_count}")
    digest = hashlib.blake2b(shop_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count


def shard_count_for(shop_count: int, shops_per_shard: int, max_shards: int) -> int:
    """How many shards for `shop_count` shops: about `shops_per_shard` each, at most `max_shards`."""
    if shops_per_shard < 1 or max_shards < 1:
        raise ValueError("shops per shard and the shard limit must be at least 1")
    return max(1, min(max_shards, math.ceil(shop_count / shops_per_shard)))


def plan_shards(shop_ids: Iterable[str], shard_count: int) -> list[Shard]:
    """The non-empty shards of these shops, in shard order, each shop list sorted.

    Duplicate Shop IDs count once. An empty shard (few shops, many shards) is left out rather
    than run as a task with nothing to do.
    """
    groups: dict[int, set[str]] = {}
    for shop_id in shop_ids:
        groups.setdefault(shard_index(shop_id, shard_count), set()).add(shop_id)
    return [
        Shard(i, shard_count, tuple(sorted(groups[i])), holds_inbox_files=n == 0)
        for n, i in enumerate(sorted(groups))
    ]


def whole_inbox(shop_ids: Iterable[str]) -> Shard:
    """The one shard of an unsharded batch: every shop and the inbox's own files."""
    return Shard(0, 1, tuple(sorted(set(shop_ids))), holds_inbox_files=True)
