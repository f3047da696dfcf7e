"""Ingest throughput of Open API JSON beside CSV exports, for the bench (`make bench`).

The same generated world is written once as CSV exports and once as API JSON dumps and each
inbox is ingested by the real `ingest_inbox`; records per second count what the ledger read
(API records for JSON files, export rows for CSV), so the two rates compare like for like.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from aftersales.generate import GeneratorSpec, generate_inbox
from aftersales.ingest import ingest_inbox
from aftersales.settings import Settings


@dataclass(frozen=True)
class IngestThroughput:
    delivery: str  # csv or openapi
    orders: int
    files: int
    input_mib: float
    rows_read: int
    rows_staged: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"rows_per_second": round(self.rows_per_second, 1)}


def measure_ingest_throughput(
    folder: Path, settings: Settings, *, orders: int = 400, shops: int = 6, seed: int = 7,
    batch_date: date = date(2026, 11, 27),
) -> dict[str, IngestThroughput]:  # fmt: skip
    """Generate `orders` order lines both ways under `folder` and time `ingest_inbox` on each."""
    out: dict[str, IngestThroughput] = {}
    for delivery in ("csv", "openapi"):
        inbox = Path(folder) / delivery / "inbox"
        spec = GeneratorSpec(shops=shops, orders=orders, seed=seed, batch_date=batch_date, delivery=delivery)
        generate_inbox(inbox, spec, overwrite=True)
        size = sum(p.stat().st_size for p in inbox.rglob("*") if p.is_file())
        started = time.perf_counter()
        summary = ingest_inbox(
            inbox, Path(folder) / delivery / "work.duckdb", batch_date, f"bench-{delivery}", settings,
            Path(folder) / delivery / "reports",
        )  # fmt: skip
        out[delivery] = IngestThroughput(
            delivery, orders, summary.files_read, round(size / 2**20, 2), summary.rows_read,
            summary.rows_staged, round(time.perf_counter() - started, 3),
        )  # fmt: skip
    return out
