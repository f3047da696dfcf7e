"""What to generate: the sizes, seed and batch date of one synthetic inbox."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from aftersales.generate.platform import PlatformPolicy

DEFAULT_BATCH_DATE = date(2026, 11, 27)


@dataclass(frozen=True)
class GeneratorSpec:
    """Sizes of one inbox. `orders` counts order LINES (one per SKU); the other counts default
    to proportions of it, with small floors so that a tiny sample still shows every scenario."""

    shops: int = 6
    orders: int = 400
    seed: int = 7
    batch_date: date = DEFAULT_BATCH_DATE
    requests: int | None = None
    cancellations: int | None = None
    messages: int | None = None
    evidence: int | None = None
    appeals: int | None = None
    bad_row_rate: float = 0.005
    history_days: int = 75
    # The platform's hidden "true" policy for dispute and appeal verdicts (generate/platform.py);
    # None draws verdicts at random (the committed sample inbox was generated so).
    platform: PlatformPolicy | None = None
    # How shops deliver: Seller Center exports (csv), Open API JSON dumps (openapi), or some of
    # each, chosen by the seed (mixed); see generate/api_dumps.py.
    delivery: str = "csv"
    # Extra shops, appended after `shops`, that deliver through the Open API: generated as a world
    # of their own (seed derived from `seed`), so the first `shops` shops keep their exact bytes.
    api_shops: int = 0

    def __post_init__(self) -> None:
        if self.shops < 1:
            raise ValueError("--shops must be at least 1")
        if self.orders < 1:
            raise ValueError("--orders must be at least 1")
        for name in ("requests", "cancellations", "messages", "evidence", "appeals"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"--{name} must not be negative")
        if not 0.0 <= self.bad_row_rate <= 0.5:
            raise ValueError("--bad-row-rate must be between 0 and 0.5")
        if self.delivery not in ("csv", "openapi", "mixed"):
            raise ValueError("--format must be csv, openapi or mixed")
        if self.api_shops < 0:
            raise ValueError("--api-shops must not be negative")
        if not 14 <= self.history_days <= 365:
            raise ValueError("history must cover 14 to 365 days")

    def counts(self) -> dict[str, int]:
        """Requested rows per kind (appeals are capped later by how many can be appealed)."""
        n = self.orders
        requests = self.requests if self.requests is not None else max(n // 10, min(n // 4, 24))
        return {
            "orders": n,
            "aftersales_requests": requests,
            "cancellations": self.cancellations
            if self.cancellations is not None
            else max(n // 20, min(n // 8, 12)),
            "messages": self.messages if self.messages is not None else n,
            "evidence": self.evidence if self.evidence is not None else max(3 * n // 10, min(n // 2, 30)),
            "appeals": self.appeals
            if self.appeals is not None
            else max(requests // 8, min(requests // 2, 12)),
        }

    def as_dict(self) -> dict:
        d = asdict(self)
        d["batch_date"] = self.batch_date.isoformat()
        if self.platform is None:  # random verdicts: the report reads as it always did
            del d["platform"]
        if self.delivery == "csv":  # exports only: the report reads as it always did
            del d["delivery"]
        if not self.api_shops:
            del d["api_shops"]
        return d
