"""Generate one complete synthetic inbox (contract section 2) and report what went where."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time
from pathlib import Path

import numpy as np
import pyarrow as pa

from aftersales.generate.aftersales_requests import generate_requests
from aftersales.generate.api_dumps import API_KINDS, api_shop_indexes, split_api_world, write_api_dumps
from aftersales.generate.appeals import generate_appeals
from aftersales.generate.bad_rows import BAD_CLASSES, TARGETS, BadRow, apply_bad_rows, plan_bad_rows
from aftersales.generate.cancellations import generate_cancellations
from aftersales.generate.chats import generate_messages
from aftersales.generate.evidence_manifests import generate_evidence
from aftersales.generate.exports import KINDS
from aftersales.generate.frames import Frame, Text
from aftersales.generate.layout import (
    FileSpec,
    assign_rows,
    extra_files,
    message_months,
    orders_part,
    plan_files,
)
from aftersales.generate.orders import cap_at_cutoff, finalize_orders, generate_orders
from aftersales.generate.people import build_buyers
from aftersales.generate.products import build_catalog
from aftersales.generate.sampling import DAY, stage_rng
from aftersales.generate.shops import Shop, build_shops, shops_csv
from aftersales.generate.spec import GeneratorSpec
from aftersales.generate.writers import connect, dressing_columns, write_kind


@dataclass(frozen=True)
class FileReport:
    path: str
    kind: str | None  # None: a file of no known kind
    shop_id: str
    rows: int
    encoding: str
    quirks: list[str]


@dataclass
class GenerationReport:
    """What was written: every file with its quirks, rows per kind, and every bad row."""

    spec: dict
    rows: dict[str, int]
    files: list[FileReport] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)

    def quirk_index(self) -> dict[str, list[str]]:
        """quirk -> files showing it (sorted), for reviewers and tests."""
        out: dict[str, list[str]] = {}
        for f in self.files:
            for q in f.quirks:
                out.setdefault(q, []).append(f.path)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def bad_row_index(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for b in self.bad_rows:
            out.setdefault(b.bad_class, []).append(f"{b.file}:{b.line}")
        return dict(sorted(out.items()))

    def to_json(self) -> str:
        doc = {
            "spec": self.spec,
            "rows": self.rows,
            "files": [asdict(f) for f in self.files],
            "bad_rows": [asdict(b) for b in self.bad_rows],
            "quirks": self.quirk_index(),
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def generate_inbox(out: Path, spec: GeneratorSpec, *, overwrite: bool = False) -> GenerationReport:
    """Write a complete inbox for `spec` into `out`; same spec, same bytes.

    With `overwrite`, an existing generated inbox (one holding shops.csv) is replaced as a
    whole; any other non-empty directory is refused.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty")
        if not (out / "shops.csv").exists():
            raise FileExistsError(f"{out} is not empty and holds no shops.csv; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; an inbox is an ordinary folder
    try:
        report = _generate(staging, spec)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


# kind -> (rows, part of each row for kinds split over several files, sort keys within a file)
World = dict[str, tuple[Frame, np.ndarray | None, tuple[np.ndarray, ...]]]


def _generate(out: Path, spec: GeneratorSpec) -> GenerationReport:
    shops = build_shops(spec.shops, spec.seed, spec.batch_date)
    world, months = simulate(spec, shops)
    # Shops delivering through the Open API: their rows leave the CSV world (and their export
    # files the plan) and are written as API JSON dumps instead.
    api_shops = api_shop_indexes(spec.delivery, shops, spec.seed)
    api_frames = split_api_world(world, api_shops)
    files = [
        f
        for f in plan_files(shops, spec.batch_date, spec.history_days, months)
        if not (f.shop in api_shops and f.kind in API_KINDS and f.kind != "evidence")
    ]

    # Where each row goes (file and position), and which rows may carry a bad row.
    placement: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[FileSpec, int, int]]]] = {}
    eligible: dict[str, np.ndarray] = {}
    accepts = np.array([f.accepts_bad_rows for f in files])
    for kind, (frame, part, keys) in world.items():
        file_idx = assign_rows(kind, frame, shops, files, part)
        order = np.lexsort((*keys, file_idx))
        file_idx = file_idx[order]
        kind_files = [k for k, f in enumerate(files) if f.kind == kind]
        starts = np.searchsorted(file_idx, kind_files, side="left")
        ends = np.searchsorted(file_idx, kind_files, side="right")
        ranges = [(files[k], int(a), int(b)) for k, a, b in zip(kind_files, starts, ends, strict=True)]
        placement[kind] = (order, file_idx, ranges)
        eligible[kind] = np.flatnonzero(accepts[file_idx])
    total_rows = sum(len(p[0]) for p in placement.values())
    plan = plan_bad_rows(stage_rng(spec.seed, "bad_rows"), spec.bad_row_rate, total_rows, eligible)

    rows = {k: len(p[0]) + len(api_frames.get(k, ())) for k, p in placement.items()}
    report = GenerationReport(spec=spec.as_dict(), rows=rows)
    bad_rng = stage_rng(spec.seed, "bad_values")
    created = datetime.combine(spec.batch_date, time(23, 59))
    con = connect()
    try:
        for kind, (order, file_idx, ranges) in placement.items():
            frame = world.pop(kind)[0].take(order)  # one sorted kind in memory at a time
            rows, codes = plan.get(kind, (np.zeros(0, np.int64), np.zeros(0, np.int32)))
            apply_bad_rows(bad_rng, kind, frame, rows, codes, frame.get("order_amount"))
            report.bad_rows.extend(_locate(kind, rows, codes, file_idx, files, ranges))
            table = _with_dressing(frame.to_arrow(), file_idx, files, shops)
            del frame
            write_kind(
                con, table, KINDS[kind], ranges, TARGETS[kind], out, created, descriptions=kind == "orders"
            )
            del table
            for f, a, b in ranges:
                shop_id = shops[f.shop].shop_id
                report.files.append(FileReport(f.path, kind, shop_id, b - a, f.encoding, f.quirks()))
                if f.duplicate_path:
                    dup = FileReport(
                        f.duplicate_path, kind, shop_id, b - a, f.encoding, ["byte_identical_duplicate"]
                    )
                    report.files.append(dup)
    finally:
        con.close()

    for path, shop_id, records in write_api_dumps(out, api_frames, shops):
        report.files.append(FileReport(path, "openapi", shop_id, records, "utf-8", ["openapi_json"]))
    (out / "shops.csv").write_bytes(shops_csv(shops))
    for extra in extra_files(shops, spec.batch_date):
        path = out / extra.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(extra.content)
        report.files.append(
            FileReport(extra.path, None, extra.path.split("/", 1)[0], 0, "utf-8", [extra.quirk])
        )
    if spec.api_shops:
        _append_api_shops(out, spec, {s.shop_id for s in shops}, report)
    report.files.sort(key=lambda f: f.path)
    report.bad_rows.sort(key=lambda b: (b.file, b.line))
    return report


def _append_api_shops(out: Path, spec: GeneratorSpec, taken: set[str], report: GenerationReport) -> None:
    """Add `spec.api_shops` shops delivering Open API JSON, from a world of their own (its seed
    derived from the spec's), without touching a byte of the other shops' files."""
    per_shop = max(40, spec.orders // spec.shops)
    extra_spec = replace(
        spec, shops=spec.api_shops, orders=per_shop * spec.api_shops, seed=spec.seed * 1_000_003 + 17,
        delivery="openapi", api_shops=0, requests=None, cancellations=None, messages=None, evidence=None,
        appeals=None,
    )  # fmt: skip
    staging = out / ".api-shops"
    staging.mkdir()
    extra = _generate(staging, extra_spec)
    rows = list(csv.reader(io.StringIO((staging / "shops.csv").read_text(encoding="utf-8"))))[1:]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        if row[0] in taken:
            raise ValueError(f"API shop {row[0]} collides with an export shop; choose another seed")
        (staging / row[0]).rename(out / row[0])
        writer.writerow([row[0], row[1] + " (API)", *row[2:]])
    with open(out / "shops.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
    shutil.rmtree(staging)
    report.files.extend(extra.files)
    report.bad_rows.extend(extra.bad_rows)
    for kind, n in extra.rows.items():
        report.rows[kind] = report.rows.get(kind, 0) + n


def simulate(spec: GeneratorSpec, shops: list[Shop]) -> tuple[World, list[str]]:
    """Every generated row, per export kind, plus the chat months (one chat file per month).

    Order matters: cancellations stop order timelines, requests need delivered lines and
    write refunds back, appeals and evidence hang off requests and cancellations.
    """
    counts = spec.counts()
    shop_cutoff = np.array([s.cutoff for s in shops])
    markets = sorted({s.market.code for s in shops})
    pool = int(np.clip(spec.orders // (2 * len(markets)), 40, 60_000))
    buyers = build_buyers(stage_rng(spec.seed, "buyers"), markets, pool)
    skus = int(np.clip(spec.orders // (10 * spec.shops), 12, 40))
    catalog = build_catalog(stage_rng(spec.seed, "catalog"), shops, skus)
    orders = generate_orders(
        stage_rng(spec.seed, "orders"),
        shops,
        catalog,
        buyers,
        spec.orders,
        spec.batch_date,
        spec.history_days,
    )
    cutoff_of_order = shop_cutoff[orders.orders["shop"]]
    cap_at_cutoff(orders.orders, cutoff_of_order)
    cancellations = generate_cancellations(
        stage_rng(spec.seed, "cancellations"), orders, cutoff_of_order, counts["cancellations"]
    )
    cap_at_cutoff(orders.orders, cutoff_of_order)
    line_sku_id = catalog.sku_id[orders.lines["sku"]]
    requests = generate_requests(
        stage_rng(spec.seed, "requests"),
        shops,
        orders,
        line_sku_id,
        cutoff_of_order,
        counts["aftersales_requests"],
        platform_policy=spec.platform,
        platform_rng=stage_rng(spec.seed, "platform-disputes"),
    )
    request_cutoff = shop_cutoff[requests["shop"]]
    us = np.array([s.market.code == "US" for s in shops])[requests["shop"]]
    appeals = generate_appeals(
        stage_rng(spec.seed, "appeals"),
        requests,
        request_cutoff,
        counts["appeals"],
        us,
        platform_policy=spec.platform,
        platform_rng=stage_rng(spec.seed, "platform-appeals"),
        market=np.array([s.market.code for s in shops], dtype=object)[requests["shop"]],
    )
    messages = generate_messages(
        stage_rng(spec.seed, "chats"), shops, orders.orders, buyers, catalog, counts["messages"],
        spec.history_days, spec.batch_date,
    )  # fmt: skip
    cases = {
        "request": (requests["shop"], requests["return_order_id"], requests["t_request"], request_cutoff),
        "cancellation": (cancellations["shop"], cancellations["cancellation_id"], cancellations["t_request"],
                         shop_cutoff[cancellations["shop"]]),
        "appeal": (appeals["shop"], appeals["appeal_no"], np.fmin(appeals["t_submitted"], appeals["t_available"] + DAY),
                   shop_cutoff[appeals["shop"]]),
    }  # fmt: skip
    evidence = generate_evidence(stage_rng(spec.seed, "evidence"), counts["evidence"], cases)

    lines = _order_lines(orders, cutoff_of_order, catalog, buyers, shops, line_sku_id)
    requests["currency"] = Text.of(requests["shop"], [s.market.currency for s in shops])
    requests["order_amount"] = orders.orders["order_amount"][requests["order_row"]]
    months, month_of_message = message_months(messages["t_sent"])
    world: World = {
        # newest orders first, as Seller Center lists them; lines of an order together
        "orders": (
            lines,
            orders_part(lines, shops),
            (lines["line_no"], lines["order_row"], -lines["t_created"]),
        ),
        "aftersales_requests": (requests, None, (requests["return_order_id"], -requests["t_request"])),
        "cancellations": (
            cancellations,
            None,
            (cancellations["cancellation_id"], -cancellations["t_request"]),
        ),
        "messages": (messages, month_of_message, (messages["message_id"], messages["t_sent"])),
        "evidence": (evidence, None, (evidence["case_key"], evidence["t_uploaded"])),
        "appeals": (appeals, None, (appeals["appeal_no"], appeals["t_available"])),
    }
    return world, months


def _order_lines(orders, cutoff_of_order, catalog, buyers, shops: list[Shop], line_sku_id) -> Frame:
    lines = finalize_orders(orders, cutoff_of_order)
    sku = lines["sku"]
    lines["sku_id"] = line_sku_id
    for name in ("seller_sku", "product_name", "variation", "category"):
        lines[name] = getattr(catalog, name).take(sku)
    buyer, recipient = lines["buyer"], lines["recipient"]
    lines["buyer_username"] = buyers.username.take(buyer)
    lines["buyer_name"] = buyers.name.take(buyer)
    lines["recipient_name"] = buyers.name.take(recipient)
    lines["recipient_first"] = buyers.first.take(recipient)
    lines["phone"] = buyers.phone.take(recipient)
    lines["zipcode"] = buyers.zipcode.take(recipient)
    lines["address"] = buyers.address.take(recipient)
    lines["address_extra"] = buyers.extra.take(recipient)
    lines["state"] = buyers.state.take(recipient)
    lines["city"] = buyers.city.take(recipient)
    lines["country"] = Text.of(lines["shop"], [s.market.country_name for s in shops])
    # position of the line within its order, for a stable export order
    first = np.searchsorted(lines["order_row"], lines["order_row"], side="left")
    lines["line_no"] = np.arange(len(lines)) - first
    return lines


def _locate(kind, rows, codes, file_idx, files, ranges) -> list[BadRow]:
    start_of = {id(spec): a for spec, a, _ in ranges}
    out = []
    for r, c in zip(rows.tolist(), codes.tolist(), strict=True):
        spec = files[file_idx[r]]
        line = spec.header_lines + (r - start_of[id(spec)]) + 1
        cls = BAD_CLASSES[c]
        out.append(BadRow(spec.path, line, kind, cls, TARGETS[kind][cls]))
    return out


def _with_dressing(table: pa.Table, file_idx: np.ndarray, files, shops) -> pa.Table:
    for name, arr in dressing_columns(file_idx, files, shops).items():
        table = table.append_column(name, arr)
    return table.append_column("_row", pa.array(np.arange(len(file_idx), dtype=np.int64)))
