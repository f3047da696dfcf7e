"""Where rows land: one folder per shop, files per export kind, and each file's quirks.

The first six shops carry the full set of real-export quirks (encodings, description rows,
ID prefixes, header variants, ISO time stamps, a byte-identical duplicate, unrecognisable
files); further shops cycle through the cheap quirks only, so a 200-shop inbox holds exactly
one XLSX, one UTF-16 and one GB18030 file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal

import numpy as np

from aftersales.generate.exports import HeaderStyle
from aftersales.generate.frames import Frame
from aftersales.generate.sampling import DAY
from aftersales.generate.shops import Shop

Encoding = Literal["utf-8", "utf-8-sig", "utf-16", "gb18030", "xlsx"]
TimeStyle = Literal["us", "dmy", "iso", "iso_offset"]
MoneyStyle = Literal["symbol", "thousands", "plain"]
ORDERS_SPLIT_DAYS = 30  # the recent orders export covers the last 30 days


@dataclass(frozen=True)
class FileSpec:
    """One export file: what goes in it and how it is dressed."""

    kind: str
    shop: int
    part: int
    path: str  # relative to the inbox
    encoding: Encoding = "utf-8-sig"
    time_style: TimeStyle = "dmy"
    money_style: MoneyStyle = "symbol"
    id_prefix: str = ""
    header_style: HeaderStyle = "exact"
    description_row: bool = False
    newline: str = "\n"
    duplicate_path: str | None = None
    sea_headers: bool = False

    @property
    def header_lines(self) -> int:
        """Physical lines before the first data row."""
        return 2 if self.description_row else 1

    @property
    def accepts_bad_rows(self) -> bool:
        """Bad rows go only into plain UTF-8 CSVs that are not duplicated, so each has one home."""
        return self.encoding in ("utf-8", "utf-8-sig") and self.duplicate_path is None

    def quirks(self) -> list[str]:
        out = []
        if self.encoding == "utf-8-sig":
            out.append("utf8_bom")
        elif self.encoding in ("utf-16", "gb18030", "xlsx"):
            out.append(self.encoding.replace("-", ""))
        if self.description_row:
            out.append("description_row")
        if self.id_prefix == "\t":
            out.append("id_tab_prefix")
        elif self.id_prefix == "'":
            out.append("id_apostrophe_prefix")
        if self.time_style in ("iso", "iso_offset"):
            out.append(f"time_{self.time_style}")
        else:
            out.append("time_month_first_ampm" if self.time_style == "us" else "time_day_first_24h")
        if self.header_style != "exact":
            out.append(f"header_{self.header_style}")
        if self.newline == "\r\n":
            out.append("crlf")
        if self.duplicate_path:
            out.append("byte_identical_duplicate")
        if self.kind in ("orders", "aftersales_requests") and self.money_style == "symbol":
            out.append("money_symbol_thousands")
        return out


@dataclass(frozen=True)
class ExtraFile:
    """A file the batch must report and skip (not an export kind)."""

    path: str
    content: bytes
    quirk: str = "unrecognised_kind"
    tags: tuple[str, ...] = field(default=())


# Per first-cycle shop and (kind, part): deliberate quirks. Part -1 means every part.
_FIRST_CYCLE: dict[int, dict[tuple[str, int], dict]] = {
    0: {  # US local
        ("orders", 0): {"description_row": True, "id_prefix": "\t"},
        ("orders", 1): {"header_style": "alt_spelling"},
        ("aftersales_requests", 0): {"id_prefix": "'"},
        ("cancellations", 0): {"encoding": "utf-8"},
        ("evidence", 0): {"duplicate_path": "downloads/evidence_manifest (1).csv"},
    },
    1: {  # UK local
        ("orders", 0): {"encoding": "xlsx", "description_row": True},
        ("orders", 1): {"description_row": True, "id_prefix": "'"},
        ("aftersales_requests", 0): {"header_style": "case_spacing", "money_style": "plain"},
        ("messages", -1): {"time_style": "iso"},
    },
    2: {  # TH local
        ("orders", 0): {"description_row": True},
        ("orders", 1): {"id_prefix": "\t", "newline": "\r\n"},
        ("aftersales_requests", 0): {"id_prefix": "'", "money_style": "symbol"},
        ("cancellations", 0): {"encoding": "utf-16", "newline": "\r\n"},
        ("evidence", 0): {"time_style": "iso_offset"},
    },
    3: {  # VN local
        ("orders", 0): {"description_row": True},
        ("aftersales_requests", 0): {"encoding": "utf-8"},
        ("messages", -1): {"time_style": "iso_offset"},
    },
    4: {  # MY cross-border
        ("orders", 0): {"id_prefix": "\t"},
        ("orders", 1): {"encoding": "gb18030"},
        ("appeals", 0): {"header_style": "lower"},
    },
    5: {  # US cross-border
        ("orders", 0): {"header_style": "case_spacing"},
        ("orders", 1): {"description_row": True},
        ("aftersales_requests", 0): {"money_style": "plain"},
        ("evidence", 0): {"time_style": "iso"},
    },
}


def _file_name(kind: str, part: int, batch_date: date, history_days: int, months: list[str]) -> str:
    if kind == "orders":
        split = batch_date - timedelta(days=ORDERS_SPLIT_DAYS - 1)
        if part == 0:
            first = batch_date - timedelta(days=history_days - 1)
            return f"orders/All orders-{first:%Y%m%d}-{split - timedelta(days=1):%Y%m%d}.csv"
        return f"orders/All orders-{split:%Y%m%d}-{batch_date:%Y%m%d}.csv"
    return {
        "aftersales_requests": f"after-sales/Return_Refund_{batch_date:%Y%m%d}.csv",
        "cancellations": f"after-sales/Cancellation_Requests_{batch_date:%Y%m%d}.csv",
        "messages": f"customer-service/chat_history_{months[part] if months else 'empty'}.csv",
        "evidence": "evidence/evidence_manifest.csv",
        "appeals": "after-sales/appeals.csv",
    }[kind]


def plan_files(
    shops: list[Shop], batch_date: date, history_days: int, message_months: list[str]
) -> list[FileSpec]:
    """Every export file of the inbox, in a stable order (shop, kind, part)."""
    files: list[FileSpec] = []
    for shop in shops:
        i = shop.index
        sea = shop.market.code not in ("US", "UK")
        for kind, parts in (
            ("orders", [0, 1]),
            ("aftersales_requests", [0]),
            ("cancellations", [0]),
            ("messages", list(range(max(1, len(message_months))))),
            ("evidence", [0]),
            ("appeals", [0]),
        ):
            for part in parts:
                spec = FileSpec(
                    kind=kind,
                    shop=i,
                    part=part,
                    path=f"{shop.shop_id}/{_file_name(kind, part, batch_date, history_days, message_months)}",
                    time_style="us" if shop.market.month_first else "dmy",
                    money_style="symbol" if kind == "orders" else "thousands",
                    sea_headers=sea,
                )
                if i < 6:
                    over = {**_FIRST_CYCLE[i].get((kind, -1), {}), **_FIRST_CYCLE[i].get((kind, part), {})}
                else:
                    over = _cycled_quirks(i, kind)
                if over.get("encoding") == "xlsx":
                    over["path"] = spec.path.rsplit(".", 1)[0] + ".xlsx"
                if over.get("duplicate_path"):
                    over["duplicate_path"] = f"{shop.shop_id}/{over['duplicate_path']}"
                files.append(replace(spec, **over))
    return files


def _cycled_quirks(i: int, kind: str) -> dict:
    """Cheap quirks for shops beyond the first cycle: BOM on most, prefixes, header variants."""
    over: dict = {"id_prefix": ["", "\t", "'"][i % 3]}
    if i % 5 == 0:
        over["encoding"] = "utf-8"
    if kind == "orders":
        over["description_row"] = i % 2 == 0
        if i % 4 == 1:
            over["header_style"] = "alt_spelling"
    elif i % 7 == 0:
        over["header_style"] = "case_spacing"
    return over


def extra_files(shops: list[Shop], batch_date: date) -> list[ExtraFile]:
    """Files of no known kind that operations staff drop into shop folders."""
    out = []
    if len(shops) > 1:
        out.append(ExtraFile(
            f"{shops[1].shop_id}/notes.txt",
            f"Reminder {batch_date:%d/%m}: restock Oat M cardigans before Black Friday.\n"
            "Ask finance about the October payout hold.\n".encode(),
        ))  # fmt: skip
    if len(shops) > 3:
        out.append(ExtraFile(
            f"{shops[3].shop_id}/finance/payout_summary.csv",
            "\ufeffStatement Date,Payout ID,Settlement Amount,Currency,Status\n"
            f"{batch_date - timedelta(days=7):%d/%m/%Y},PO8812093,\"₫12,450,000\",VND,Paid\n"
            f"{batch_date:%d/%m/%Y},PO8812877,\"₫9,310,000\",VND,Processing\n".encode(),
        ))  # fmt: skip
    return out


def message_months(sent: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Calendar months (UTC) present in the messages and each message's month index."""
    month = np.floor(sent).astype("datetime64[s]").astype("datetime64[M]")
    distinct = np.unique(month)
    return [str(m) for m in distinct], np.searchsorted(distinct, month)


def assign_rows(
    kind: str, frame: Frame, shops: list[Shop], files: list[FileSpec], part: np.ndarray | None = None
) -> np.ndarray:
    """Index into `files` for every row of `frame` (by shop, then by the kind's part)."""
    lookup = {(f.kind, f.shop, f.part): k for k, f in enumerate(files)}
    index = np.full((len(shops), max(f.part for f in files) + 1), -1, dtype=np.int64)
    for (k, s, p), idx in lookup.items():
        if k == kind:
            index[s, p] = idx
    parts = np.zeros(len(frame), dtype=np.int64) if part is None else part
    out = index[frame["shop"], parts]
    assert (out >= 0).all(), f"{kind}: rows without a file"
    return out


def orders_part(frame: Frame, shops: list[Shop]) -> np.ndarray:
    """0 for the older orders export, 1 for the last `ORDERS_SPLIT_DAYS` days."""
    cutoff = np.array([s.cutoff for s in shops])[frame["shop"]]
    return (frame["t_created"] >= cutoff - ORDERS_SPLIT_DAYS * DAY).astype(np.int64)
