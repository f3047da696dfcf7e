"""The sample-inbox generator: determinism, contract completeness, real-export quirks (checked
on the bytes written), bad rows exactly where the report says, personal values exposed."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from python_calamine import CalamineWorkbook

from aftersales.cli import main as cli_main
from aftersales.generate.bad_rows import BAD_CLASSES
from aftersales.generate.chats import GENERIC_CONTENT
from aftersales.generate.exports import KINDS, ORDER_COLUMNS
from aftersales.generate.personal import personal_values
from aftersales.generate.sample_inbox import GenerationReport, generate_inbox
from aftersales.generate.spec import GeneratorSpec

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SPEC = GeneratorSpec(shops=6, orders=400, seed=7, batch_date=date(2026, 11, 27), api_shops=1)
# The sample's six export shops alone (its 7th shop delivers Open API JSON, tests/test_api_json*.py):
# byte-identical to theirs in the sample, and what every CSV/XLSX property below is checked on.
EXPORTS_SPEC = replace(SAMPLE_SPEC, api_shops=0)
SHOP_COLUMNS = ["Shop ID", "Shop Name", "Market", "Program", "Ship From", "Timezone", "Chatbots Enabled"]
TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
CONTRACT_HEADERS = {kind: [c.header for c in cols] for kind, cols in KINDS.items()}
VOCAB = {
    "Return Type": {"Refund only", "Return and refund", "Replacement", "Partial refund"},
    "Requested By": {"Buyer", "Seller", "System"},
    "Sender Role": {"Buyer", "Seller", "Chatbot", "System"},
    "Evidence Type": {"photo", "video", "unboxing_video", "tracking", "proof_of_delivery", "chat_screenshot",
                      "listing_snapshot", "invoice", "lab_report", "awb_photo", "packing_photo", "comparison_photo"},
    "Appeal Type": {"arbitration_lost", "auto_refund_overdue", "speedy_refund", "return_not_received",
                    "item_damaged_or_used", "wrong_item_returned"},
}  # fmt: skip
RETURN_REASONS = {"No longer needed", "Wrong size", "Item doesn't match description", "Poor quality",
                  "Missing items or parts", "Item defective or doesn't work", "Wrong item sent",
                  "Suspected counterfeit", "Package damaged", "Package not received"}  # fmt: skip


# ---------------------------------------------------------------- reading what was written


def _decode(data: bytes) -> str:
    if data[:2] == b"\xff\xfe":
        return data[2:].decode("utf-16-le")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _table(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    if data[:2] == b"PK":
        rows = (
            CalamineWorkbook.from_filelike(io.BytesIO(data))
            .get_sheet_by_index(0)
            .to_python(skip_empty_area=False)
        )
        return [["" if v is None else str(v) for v in row] for row in rows]
    return list(csv.reader(io.StringIO(_decode(data), newline="")))


def _norm(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").split()).lower().replace("cancellation/", "cancelation/")


def _kind_of(header: list[str]) -> str | None:
    """The export kind whose contract headers this header row carries (SEA names normalised)."""
    got = [{"province": "state", "district": "city"}.get(_norm(h), _norm(h)) for h in header]
    for kind, names in CONTRACT_HEADERS.items():
        if got == [_norm(n) for n in names]:
            return kind
    return None


def _parse_time(value: str, zone: str) -> datetime:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=ZoneInfo(zone))
        except ValueError:
            pass
    return datetime.fromisoformat(value)


def _money(value: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", value))


def _records(inbox: Path, report: GenerationReport) -> dict[str, list[dict]]:
    """Good data rows per kind as dicts (normalised headers, ID prefixes stripped)."""
    shops = {r["Shop ID"]: r for r in csv.DictReader(io.StringIO((inbox / "shops.csv").read_text("utf-8")))}
    bad = {(b.file, b.line) for b in report.bad_rows}
    out: dict[str, list[dict]] = defaultdict(list)
    for f in report.files:
        if f.kind is None or (f.quirks == ["byte_identical_duplicate"]):
            continue
        rows = _table(inbox / f.path)
        header = [_norm(h) for h in rows[0]]
        first = 2 if "description_row" in f.quirks else 1
        for i, row in enumerate(rows[first:]):
            if (f.path, first + i + 1) in bad:
                continue
            rec = {h: v.strip().lstrip("\t'") for h, v in zip(header, row, strict=True)}
            rec.update(
                _shop=f.shop_id, _zone=shops[f.shop_id]["Timezone"], _market=shops[f.shop_id]["Market"]
            )
            out[f.kind].append(rec)
    return out


def _first_column_values(inbox: Path, report: GenerationReport, kind: str) -> set[str]:
    """The key column of every data row of a kind, bad rows included."""
    out = set()
    for f in report.files:
        if f.kind == kind:
            rows = _table(inbox / f.path)[2 if "description_row" in f.quirks else 1 :]
            out |= {row[0].strip("\t'") for row in rows if row}
    return out


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("gen") / "inbox"
    return out, generate_inbox(out, EXPORTS_SPEC)


@pytest.fixture(scope="module")
def committed_spec_inbox(tmp_path_factory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("gen-sample") / "inbox"
    return out, generate_inbox(out, SAMPLE_SPEC)


@pytest.fixture(scope="module")
def records(sample) -> dict[str, list[dict]]:
    return _records(*sample)


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- determinism


def test_same_arguments_give_byte_identical_files(committed_spec_inbox, tmp_path):
    inbox, report = committed_spec_inbox
    again = generate_inbox(tmp_path / "again", SAMPLE_SPEC)
    assert _hashes(tmp_path / "again") == _hashes(inbox)
    assert again.to_json() == report.to_json()
    other = generate_inbox(tmp_path / "other", GeneratorSpec(shops=6, orders=400, seed=8))
    assert _hashes(tmp_path / "other") != _hashes(inbox)
    assert other.rows["orders"] == 400


def test_committed_sample_matches_the_generator(committed_spec_inbox, sample):
    """`make sample` output is committed; it must be what the generator writes today, and its
    export shops are exactly the export-only inbox's files."""
    committed = ROOT / "data" / "sample" / "inbox"
    assert _hashes(committed) == _hashes(committed_spec_inbox[0]), "run `make sample` and commit data/sample"
    exports_only = _hashes(sample[0])
    assert {k: v for k, v in _hashes(committed).items() if k in exports_only and k != "shops.csv"} == {
        k: v for k, v in exports_only.items() if k != "shops.csv"
    }
    total = sum(p.stat().st_size for p in committed.rglob("*") if p.is_file())
    assert total < 1_100_000
    stored = ROOT / "data" / "sample" / "generation_report.json"
    assert stored.read_text("utf-8") == committed_spec_inbox[1].to_json()


def test_overwrite_replaces_an_inbox_but_refuses_other_directories(tmp_path):
    spec = GeneratorSpec(shops=2, orders=30, seed=3)
    out = tmp_path / "inbox"
    generate_inbox(out, spec)
    (out / "stale.csv").write_text("old")
    with pytest.raises(FileExistsError):
        generate_inbox(out, spec)
    generate_inbox(out, spec, overwrite=True)
    assert not (out / "stale.csv").exists() and (out / "shops.csv").exists()
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="no shops.csv"):
        generate_inbox(other, spec, overwrite=True)
    assert (other / "thesis.txt").read_text() == "precious"


# ---------------------------------------------------------------- completeness


def test_shop_registry_covers_markets_programs_and_zones(sample):
    inbox, _ = sample
    rows = list(csv.reader(io.StringIO((inbox / "shops.csv").read_text("utf-8"))))
    assert rows[0] == SHOP_COLUMNS
    shops = [dict(zip(SHOP_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert len(shops) == 6
    pairs = {(s["Market"], s["Program"]) for s in shops}
    assert {("US", "local"), ("UK", "local"), ("TH", "local"), ("US", "cross_border")} <= pairs
    assert any(m in ("VN", "ID", "MY", "PH", "SG") and p == "local" for m, p in pairs)
    assert any(m in ("MY", "PH", "SG", "VN", "ID", "TH") and p == "cross_border" for m, p in pairs)
    for s in shops:
        ZoneInfo(s["Timezone"])  # a real IANA name
        assert s["Chatbots Enabled"] in ("true", "false")
        assert (s["Ship From"] == "CN") == (s["Program"] == "cross_border")
        assert (inbox / s["Shop ID"]).is_dir()
    assert {s["Chatbots Enabled"] for s in shops} == {"true", "false"}
    zones = {s["Market"]: s["Timezone"] for s in shops if s["Program"] == "local"}
    assert zones["UK"] == "Europe/London" and zones["TH"] == "Asia/Bangkok"
    assert zones["US"] in ("America/Los_Angeles", "America/New_York")


def test_every_shop_has_every_export_kind_with_contract_headers(sample):
    inbox, report = sample
    shops = [r[0] for r in list(csv.reader(io.StringIO((inbox / "shops.csv").read_text("utf-8"))))[1:]]
    seen: dict[str, set[str]] = defaultdict(set)
    for path in inbox.rglob("*"):
        if path.is_file() and path.name != "shops.csv":
            kind = _kind_of(_table(path)[0])
            shop = path.relative_to(inbox).parts[0]
            if kind:
                seen[shop].add(kind)
                assert len(path.relative_to(inbox).parts) >= 3  # inside a sub-folder of the shop
    for shop in shops:
        assert seen[shop] == set(KINDS), shop
    exact = [f for f in report.files if f.kind and not any(q.startswith("header_") for q in f.quirks)]
    for f in exact:
        header = [h.replace("\ufeff", "") for h in _table(inbox / f.path)[0]]
        expected = CONTRACT_HEADERS[f.kind]
        if f.kind == "orders" and "Province" in header:
            expected = [{"State": "Province", "City": "District"}.get(h, h) for h in expected]
        assert header == expected, f.path
    assert len(CONTRACT_HEADERS["orders"]) == 56
    counts = EXPORTS_SPEC.counts()
    assert {k: v for k, v in report.rows.items() if k != "appeals"} == {
        k: v for k, v in counts.items() if k != "appeals"
    }
    assert (
        len(VOCAB["Appeal Type"]) <= report.rows["appeals"] <= counts["appeals"]
    )  # capped by what is appealable


def test_order_lines_repeat_order_amounts_and_respect_the_timeline(sample, records):
    orders = records["orders"]
    by_order = defaultdict(list)
    for r in orders:
        by_order[r["order id"]].append(r)
    multi = [rows for rows in by_order.values() if len(rows) > 1]
    assert multi, "some orders have several SKU lines"
    for rows in multi:
        assert len({r["order amount"] for r in rows}) == 1
        assert len({r["order refund amount"] for r in rows}) == 1
        assert len({r["sku id"] for r in rows}) == len(rows)
    statuses = Counter(r["order substatus"] for r in orders)
    assert {"Awaiting shipment", "In transit", "Delivered", "Completed", "Cancelled"} <= set(statuses)
    steps = ("created time", "paid time", "rts time", "shipped time", "delivered time")
    for r in orders:
        cutoff = datetime(2026, 11, 28, tzinfo=ZoneInfo(r["_zone"]))
        times = [_parse_time(r[k], r["_zone"]) if r[k] else None for k in steps]
        present = [t for t in times if t]
        assert present == sorted(present), r["order id"]
        assert all(t <= cutoff for t in present)
        if None in times:  # a timeline stops at its first missing event
            assert all(t is None for t in times[times.index(None) :])
        assert _money(r["order refund amount"]) <= _money(r["order amount"])
        if r["order substatus"] == "Cancelled":
            assert r["cancelled time"] and r["cancel by"] in ("Buyer", "Seller", "System")
        if r["order substatus"] == "Awaiting shipment":
            assert not r["rts time"]
        if r["order substatus"] in ("Delivered", "Completed"):
            assert r["delivered time"]
    created = [_parse_time(r["created time"], r["_zone"]) for r in orders]
    assert (max(created) - min(created)) > timedelta(days=60)
    late = [
        r
        for r in orders
        if r["rts time"]
        and _parse_time(r["rts time"], r["_zone"]) - _parse_time(r["paid time"], r["_zone"])
        > timedelta(days=3)
    ]
    assert late, "some orders are dispatched late"


def test_requests_exercise_windows_prices_responses_and_disputes(records):
    orders = {r["order id"]: r for r in records["orders"]}
    reqs = records["aftersales_requests"]
    assert {r["return reason"] for r in reqs} == RETURN_REASONS
    assert {r["return type"] for r in reqs} == VOCAB["Return Type"]
    windows = {"US": 30, "UK": 30, "TH": 7, "VN": 15, "MY": 15}
    inside = outside = 0
    response_hours, above, below = [], set(), set()
    for r in reqs:
        zone = r["_zone"]
        req = _parse_time(r["request time"], zone)
        line = orders.get(r["order id"])
        if line and line["delivered time"]:
            age = req - _parse_time(line["delivered time"], zone)
            assert age > timedelta(0)
            inside += age <= timedelta(days=windows[r["_market"]])
            outside += age > timedelta(days=windows[r["_market"]])
        if r["seller response time"]:
            response_hours.append((_parse_time(r["seller response time"], zone) - req) / timedelta(hours=1))
            assert r["seller decision"] in ("Approved", "Rejected")
        if r["seller decision"] == "Rejected":
            assert r["seller reject reason"]
        if r["_market"] in ("US", "UK"):
            (above if _money(r["item price"]) > 100 else below).add(r["return order id"])
        if r["buyer dispute time"]:
            assert r["seller decision"] == "Rejected"
    assert inside > outside > 0
    assert above and below
    assert min(response_hours) >= 0 and sum(h <= 24 for h in response_hours) > len(response_hours) / 2
    assert max(response_hours) > 4 * 24
    assert any(not r["seller response time"] for r in reqs)
    assert {"", "Approved", "Rejected"} <= {r["seller decision"] for r in reqs}
    disputes = [r for r in reqs if r["buyer dispute time"]]
    assert disputes and any(r["platform decision time"] for r in disputes)
    lines = {(r["order id"], r["sku id"]): r for r in records["orders"]}
    partial = [
        r for r in reqs if r["return type"] == "Partial refund" and (r["order id"], r["sku id"]) in lines
    ]
    assert partial
    for r in partial:  # 10-50 % of what was paid for the line
        assert (
            0
            < _money(r["refund amount"])
            <= 0.5 * _money(lines[r["order id"], r["sku id"]]["sku subtotal after discount"]) + 1
        )
    assert any(
        r["return shipped time"] and r["return delivered time"] and r["seller inspection time"] for r in reqs
    )


def test_cancellations_appeals_chats_and_evidence_cover_their_scenarios(sample, records):
    cancels = records["cancellations"]
    assert {r["requested by"] for r in cancels} == VOCAB["Requested By"]
    assert {"Out of stock", "Pricing error", "Unable to ship"} & {r["cancel reason"] for r in cancels}
    assert {"Cancelled", "Rejected"} <= {r["cancel status"] for r in cancels}
    buyer = [r for r in cancels if r["requested by"] == "Buyer"]
    assert any(not r["seller response time"] for r in buyer) and any(r["seller response time"] for r in buyer)

    appeals = records["appeals"]
    assert {r["appeal type"] for r in appeals} == VOCAB["Appeal Type"]
    returns = {r["return order id"] for r in records["aftersales_requests"]}
    assert {r["return order id"] for r in appeals} <= returns | _first_column_values(
        *sample, "aftersales_requests"
    )
    waits = [
        _parse_time(r["submitted time"], r["_zone"]) - _parse_time(r["appeal available time"], r["_zone"])
        for r in appeals
        if r["submitted time"]
    ]
    assert any(w <= timedelta(days=7) for w in waits) and any(w > timedelta(days=7) for w in waits)
    assert any(not r["submitted time"] for r in appeals)

    messages = records["messages"]
    assert {r["sender role"] for r in messages} == VOCAB["Sender Role"]
    assert {r["message type"] for r in messages} == {
        "text",
        "image",
        "video",
        "sticker",
        "order_card",
        "product_card",
    }
    assert any(not r["order id"] for r in messages)
    assert any(_parse_time(r["sent time"], r["_zone"]).weekday() >= 5 for r in messages)
    conversations = defaultdict(list)
    for r in sorted(messages, key=lambda r: (r["conversation id"], _parse_time(r["sent time"], r["_zone"]))):
        conversations[r["conversation id"]].append(r)
    roles = [[m["sender role"] for m in conv] for conv in conversations.values()]
    assert any(rs[0] == "Seller" for rs in roles), "seller-initiated conversations"
    assert any(set(rs) == {"Buyer", "Chatbot"} for rs in roles), "chats handled by a chatbot alone"
    greetings = {"hi", "Hello!", "你好", "Hi there", "สวัสดีค่ะ", "Xin chào", "Halo kak"}
    greeted_then_answered = [
        conv for conv in conversations.values()
        if any(m["sender role"] == "Seller" and m["content"] in greetings for m in conv)
        and conv[-1]["sender role"] == "Seller" and conv[-1]["content"] not in greetings
    ]  # fmt: skip
    assert greeted_then_answered
    assert "你好" in {m["content"] for m in messages}

    evidence = records["evidence"]
    assert {r["submitted by"] for r in evidence} == {"Buyer", "Seller", "Carrier", "Platform"}
    assert {r["evidence type"] for r in evidence} == VOCAB["Evidence Type"]
    cases = {r["case id"] for r in evidence}
    assert cases & returns and any(c.startswith("AP") for c in cases)
    assert cases & {r["cancellation id"] for r in cancels}
    valid = [r for r in evidence if r["file size bytes"] != "0" and re.fullmatch("[0-9a-f]{64}", r["sha256"])]
    assert len(evidence) * 0.85 < len(valid) < len(evidence)
    assert any(r["file size bytes"] == "0" for r in evidence)
    assert any(r["sha256"] and not re.fullmatch("[0-9a-f]{64}", r["sha256"]) for r in evidence)


# ---------------------------------------------------------------- quirks, on the bytes


def test_every_real_export_quirk_is_in_the_bytes(sample):
    inbox, report = sample
    files = {f.path: f for f in report.files}
    raw = {p: (inbox / p).read_bytes() for p in files}
    csvs = {p: b for p, b in raw.items() if files[p].kind and files[p].encoding != "xlsx"}

    bom = [p for p, b in csvs.items() if b.startswith(b"\xef\xbb\xbf")]
    assert len(bom) > len(csvs) / 2 and len(bom) < len(csvs)

    def lines(p: str) -> list[str]:
        return _decode(raw[p]).splitlines()

    with_desc = [p for p in csvs if files[p].kind == "orders" and "description_row" in files[p].quirks]
    assert with_desc
    for p in with_desc:
        assert next(csv.reader([lines(p)[1]])) == [c.description for c in ORDER_COLUMNS]
    firsts = {p: lines(p)[1] for p in csvs if files[p].rows and "description_row" not in files[p].quirks}
    assert any(first.startswith("\t576") for p, first in firsts.items() if files[p].kind == "orders")
    assert any(
        first.startswith("'403") for p, first in firsts.items() if files[p].kind == "aftersales_requests"
    )

    bad_lines = {(b.file, b.line) for b in report.bad_rows}
    text = {
        p: "\n".join(ln for i, ln in enumerate(_decode(b).splitlines(), 1) if (p, i) not in bad_lines)
        for p, b in csvs.items()
    }
    us_time = re.compile(r"\b\d{2}/\d{2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M\b")
    day_first = re.compile(r"\b(\d{2})/\d{2}/\d{4} \d{2}:\d{2}:\d{2}(?! [AP]M)")
    assert any(
        re.search(r"\b\d{2}/\d{2}/\d{4} [1-9]:\d{2}:\d{2} [AP]M", t) for t in text.values()
    )  # unpadded hour
    for p, t in text.items():
        if not files[p].rows:
            continue
        if "time_month_first_ampm" in files[p].quirks:
            assert us_time.search(t) and not day_first.search(t), p
        if "time_day_first_24h" in files[p].quirks:
            assert day_first.search(t) and not us_time.search(t), p
    orders_day_first = "".join(t for p, t in text.items() if "time_day_first_24h" in files[p].quirks)
    assert any(int(d) > 12 for d in day_first.findall(orders_day_first))  # really day-first
    assert any(re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", t) for t in text.values())
    assert any(re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2},", t) for t in text.values())
    joined = "\n".join(text.values())
    for symbol in ("$", "£", "฿", "RM", "₫"):
        assert re.search(re.escape(symbol) + r"\d", joined), symbol
    assert re.search(r'"(\$|£|฿|₫|RM)\d{1,3}(,\d{3})+(\.\d\d)?"', joined)  # thousands separators, quoted
    assert re.search(r",,,", joined), "empty cells for events that have not happened"

    headers = {p: lines(p)[0].lstrip("\ufeff") for p in csvs}
    assert any("Cancellation/Return Type" in h for h in headers.values())
    assert any(h.startswith("appeal id,return order id") for h in headers.values())
    assert any("  " in h and h != h.lower() and h != h.upper() for h in headers.values())

    utf16 = [p for p, b in raw.items() if b.startswith(b"\xff\xfe")]
    assert len(utf16) == 1 and _kind_of(next(csv.reader([_decode(raw[utf16[0]]).splitlines()[0]])))
    gb = [p for p in csvs if files[p].encoding == "gb18030"]
    assert len(gb) == 1
    with pytest.raises(UnicodeDecodeError):
        raw[gb[0]].decode("utf-8")
    assert re.search(r"[\u4e00-\u9fff]", raw[gb[0]].decode("gb18030"))
    xlsx = [p for p, b in raw.items() if b.startswith(b"PK")]
    assert len(xlsx) == 1 and xlsx[0].endswith(".xlsx")
    assert [h for h in _table(inbox / xlsx[0])[0]] == [c.header for c in ORDER_COLUMNS]
    assert any(b"\r\n" in b for b in csvs.values())

    by_hash = defaultdict(list)
    for p, b in raw.items():
        by_hash[hashlib.sha256(b).hexdigest()].append(p)
    assert any(len(paths) == 2 and len({Path(x).name for x in paths}) == 2 for paths in by_hash.values())

    unknown = [
        p for p in inbox.rglob("*") if p.is_file() and p.name != "shops.csv" and not _kind_of(_table(p)[0])
    ]
    assert unknown and {p.relative_to(inbox).as_posix() for p in unknown} == {
        f.path for f in report.files if f.kind is None
    }
    quirks = report.quirk_index()
    for q in ("utf8_bom", "description_row", "id_tab_prefix", "id_apostrophe_prefix", "time_month_first_ampm",
              "time_day_first_24h", "time_iso", "time_iso_offset", "money_symbol_thousands", "header_case_spacing",
              "header_lower", "header_alt_spelling", "utf16", "gb18030", "xlsx", "byte_identical_duplicate",
              "unrecognised_kind"):  # fmt: skip
        assert quirks.get(q), q


# ---------------------------------------------------------------- bad rows


def _breaks(
    bad_class: str, column: str, kind: str, header: list[str], row: list[str], zone: str, amounts: dict
) -> bool:
    """Does this physical row show the defect its class names?"""
    if bad_class == "wrong_field_count":
        return len(row) != len(header)
    if len(row) != len(header):
        return False
    rec = dict(zip([_norm(h) for h in header], (v.strip().lstrip("\t'") for v in row), strict=True))
    value = rec[_norm(column)]
    if bad_class == "unparseable_timestamp":
        try:
            _parse_time(value, zone)
        except ValueError:
            return bool(value)
        return False
    if bad_class == "negative_amount":
        return value.startswith("-")
    if bad_class == "refund_above_order_amount":
        cap = rec["order amount"] if kind == "orders" else amounts[rec["order id"]]
        return _money(value) > _money(cap)
    if bad_class == "unknown_enum":
        return value not in VOCAB[column]
    if bad_class == "empty_key":
        return value == ""
    if bad_class == "shipped_before_paid":
        return _parse_time(value, zone) < _parse_time(rec["paid time"], zone)
    if bad_class == "seller_response_before_request":
        return _parse_time(value, zone) < _parse_time(rec["request time"], zone)
    raise AssertionError(bad_class)


def test_bad_rows_are_where_the_report_says_and_nowhere_else(sample):
    inbox, report = sample
    assert {b.bad_class for b in report.bad_rows} == set(BAD_CLASSES)
    assert 8 <= len(report.bad_rows) <= 20  # a handful in the committed sample
    zones = {r[0]: r[5] for r in csv.reader(io.StringIO((inbox / "shops.csv").read_text("utf-8")))}
    files = {f.path: f for f in report.files}
    amounts = {}  # order amount per order, from every well-formed line (bad ones included)
    for f in report.files:
        if f.kind == "orders":
            rows = _table(inbox / f.path)
            at = [_norm(h) for h in rows[0]].index("order amount")
            amounts.update({r[0].strip("\t'"): r[at] for r in rows[1:] if len(r) == len(rows[0]) and r[0]})
    reported = defaultdict(dict)
    for b in report.bad_rows:
        reported[b.file][b.line] = b
    for path, f in files.items():
        if not f.kind or f.encoding == "xlsx":
            continue
        rows = _table(inbox / path)
        header, first = rows[0], 2 if "description_row" in f.quirks else 1
        assert len(_decode((inbox / path).read_bytes()).splitlines()) == len(
            rows
        )  # one physical line per row
        for i, row in enumerate(rows[first:]):
            line = first + i + 1
            b = reported[path].get(line)
            if b:
                assert b.kind == f.kind
                assert _breaks(b.bad_class, b.column, f.kind, header, row, zones[f.shop_id], amounts), (
                    path,
                    line,
                    b,
                )
            else:
                assert len(row) == len(header), (path, line)
                for cls, col in (
                    ("empty_key", CONTRACT_HEADERS[f.kind][0]),
                    ("unparseable_timestamp", _first_time(f.kind)),
                ):
                    assert not _breaks(cls, col, f.kind, header, row, zones[f.shop_id], amounts), (
                        path,
                        line,
                        cls,
                    )


def _first_time(kind: str) -> str:
    return next(c.header for c in KINDS[kind] if c.role == "time")


def test_zero_rate_gives_a_clean_inbox(tmp_path):
    spec = GeneratorSpec(shops=6, orders=200, seed=11, bad_row_rate=0.0)
    report = generate_inbox(tmp_path / "clean", spec)
    assert report.bad_rows == []
    recs = _records(tmp_path / "clean", report)
    assert sum(len(v) for v in recs.values()) == sum(report.rows.values())
    for r in recs["orders"]:
        assert r["order id"] and _money(r["sku unit original price"]) > 0
        _parse_time(r["created time"], r["_zone"])


# ---------------------------------------------------------------- personal data


def test_personal_values_are_exposed_for_leak_scans(sample, records):
    inbox, _ = sample
    values = personal_values(inbox)
    orders = records["orders"]
    assert {r["recipient"] for r in orders} <= values
    assert {r["phone #"] for r in orders} <= values
    assert {r["buyer username"] for r in orders} <= values
    assert {r["detail address"] for r in orders} <= values
    assert any(not v.isascii() for v in values), "non-ASCII names"
    assert (
        any(r["buyer message"] for r in orders)
        and {r["buyer message"] for r in orders if r["buyer message"]} <= values
    )
    contents = {r["content"] for r in records["messages"]}
    named = [c for c in contents if any(r["recipient"] in c for r in orders) or "+8" in c or "555-01" in c]
    assert named, "message contents carry names or phone numbers"
    assert contents - values <= GENERIC_CONTENT  # only greetings, auto-replies, notices, placeholders
    assert not values & GENERIC_CONTENT
    assert "hi" not in values and "[Image]" not in values
    ids = {r["order id"] for r in orders}
    assert not values & ids
    assert len(personal_values(inbox, min_length=1)) > len(values)


# ---------------------------------------------------------------- spec and command


def test_default_counts_are_proportional_to_order_lines():
    counts = GeneratorSpec(orders=1_000_000).counts()
    assert counts == {"orders": 1_000_000, "aftersales_requests": 100_000, "cancellations": 50_000,
                      "messages": 1_000_000, "evidence": 300_000, "appeals": 12_500}  # fmt: skip
    assert GeneratorSpec(orders=400, requests=7).counts()["aftersales_requests"] == 7
    with pytest.raises(ValueError):
        GeneratorSpec(bad_row_rate=0.9)


def test_command_line_generates_and_reports(tmp_path, capsys):
    out, report = tmp_path / "inbox", tmp_path / "report.json"
    code = cli_main(["generate", "--out", str(out), "--shops", "7", "--orders", "120", "--seed", "5",
                     "--batch-date", "2026-06-30", "--messages", "50", "--bad-row-rate", "0", "--report", str(report)])  # fmt: skip
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    shops = list(csv.reader(io.StringIO((out / "shops.csv").read_text("utf-8"))))[1:]
    assert len(shops) == 7 and shops[6][2] == "ID" and shops[6][5] == "Asia/Jakarta"
    doc = report.read_text("utf-8")
    assert '"batch_date": "2026-06-30"' in doc and '"bad_rows": []' in doc
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    assert cli_main(["generate", "--out", str(tmp_path / "docs"), "--orders", "10"]) == 1
    assert "refusing" in capsys.readouterr().err
