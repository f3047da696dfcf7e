"""Seeded mutations of the real sample exports, for the reader fuzz tests (issue #11).

`mutate(mutation, source_file, seed)` takes one export of the committed sample inbox
(`data/sample/inbox`, described by `data/sample/generation_report.json`), plants distinctive
personal values into the personal-data columns (contract §2.2, message "Content") of a few of its
rows, breaks the file one way and returns a `Mutant`: the bytes plus what a test needs to judge the
outcome (the planted values, the physical lines a reader must account for, the lines that must not
be staged as written, values that must survive). The call itself is a complete reproduction: the
same arguments always give the same bytes.

Physical lines are 1-based (header = 1) and split at LF, CRLF or CR, like the ledger's line
numbers. Every planted value has a `z`/`Z` in each 6-character window, so any leaked fragment of 6
characters or more is recognisable and cannot be confused with sample data.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_INBOX = ROOT / "data" / "sample" / "inbox"
GENERATION_REPORT = ROOT / "data" / "sample" / "generation_report.json"

LEAK_WINDOW = 6  # a leaked fragment this long or longer is a leak

# Contract §2.2 (orders) and §2.5 (message Content): personal data, never stored in clear.
PERSONAL_HEADERS: dict[str, tuple[str, ...]] = {
    "orders": (
        "Buyer Username",
        "Recipient",
        "Phone #",
        "Zipcode",
        "Detail Address",
        "Additional address information",
        "Buyer Message",
    ),
    "messages": ("Content",),
}
PLANTED: dict[str, str] = {
    "Buyer Username": "zzbuyzer_zsecrzet",
    "Recipient": "Zzoe Zzmuzller",
    "Phone #": "ZZPHOZNE555Z0101",
    "Zipcode": "ZZ9Z0Z1",
    "Detail Address": "12 Zzelm Zztreet",
    "Additional address information": "Zzapt Z7Q Zzwing",
    "Buyer Message": "pleazse, zrinzg twzice zzname.zsecrzet@exzamzple.zcom",
    "Content": "my zphozne izs ZZPHOZNE555Z0101 zand Iz lzive azt 12 Zzelm Zztrezet, zzname.zsecrzet@exzamzple.zcom",
}
# Windows-1252 spellings (re-encoding mutation): accented personal values and product names.
PLANTED_CP1252: dict[str, str] = {
    "Buyer Username": "zzoëzy_müzller",
    "Recipient": "Zzoëzy Müzller",
    "Phone #": "ZZPHOZNE555Z0101",
    "Zipcode": "ZZ9Z0Z1",
    "Detail Address": "12 Zzrue Zzdé Zzl'Élzysée",
    "Additional address information": "Zzbâzt Zzç",
    "Buyer Message": "mezrci, Zzoëzy Müzller",
    "Content": "bonjzour, zc'esZt Zzoëzy Müzllerz, z12 Zzrue Zzdé Zzl'Élzysée",
}
CP1252_PRODUCTS = ("Crème Brûlée Torch", "Café Crème Mug", "Jalapeño Señorita Sauce")
# Money columns (contract §2.2, §2.3) and values no export writes for an amount.
MONEY_HEADERS: dict[str, tuple[str, ...]] = {
    "orders": ("SKU Unit Original Price", "Order Amount", "Order Refund Amount", "Taxes"),
    "aftersales_requests": ("Item Price", "Refund Amount"),
}
ODD_MONEY = ("1e308", "NaN", "1,2,3", "--5", "Infinity", "12.3.4", "9" * 25, "-1e-400")
# Per kind: a non-personal column whose staged value must equal the file's (trimmed, ID prefix
# removed) on every staged line the mutation did not touch: a wrong decoding or a shifted record
# shows up here.
VALUE_CHECKS: dict[str, tuple[str, str, str]] = {
    "orders": ("Product Name", "stg_order_lines", "product_name"),
    "aftersales_requests": ("Return Order ID", "stg_aftersales_requests", "return_order_id"),
    "cancellations": ("Cancellation ID", "stg_cancellations", "cancellation_id"),
    "messages": ("Message ID", "stg_messages", "message_id"),
    "evidence": ("File Name", "stg_evidence", "file_name"),
    "appeals": ("Appeal ID", "stg_appeals", "appeal_id"),
}


def leak_windows(value: str) -> set[str]:
    """Every substring of LEAK_WINDOW characters (a shorter value: the value itself)."""
    if len(value) <= LEAK_WINDOW:
        return {value}
    return {value[i : i + LEAK_WINDOW] for i in range(len(value) - LEAK_WINDOW + 1)}


def _assert_marked(value: str) -> None:
    for window in leak_windows(value):
        assert "z" in window.lower(), (value, window)


for _value in (*PLANTED.values(), *PLANTED_CP1252.values()):
    _assert_marked(_value)


# -- the sample exports ------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleExport:
    source_file: str  # relative to the sample inbox
    kind: str
    shop_id: str
    encoding: str  # as the generation report names it
    header: tuple[str, ...]
    description: tuple[str, ...] | None
    rows: tuple[tuple[str, ...], ...]

    def column(self, contract_header: str) -> int | None:
        wanted = _norm(contract_header)
        for i, h in enumerate(self.header):
            if _norm(h) == wanted or (
                wanted == "cancellation/return type" and _norm(h) == "cancelation/return type"
            ):
                return i
        return None


def _norm(header: str) -> str:
    return re.sub(r"\s+", " ", header.replace("\ufeff", "")).strip().lower()


def _python_codec(encoding: str) -> str:
    return {"utf-16": "utf-16", "utf-8-sig": "utf-8-sig"}.get(encoding, encoding)


@cache
def sample_exports() -> dict[str, SampleExport]:
    """The CSV exports of the sample inbox (of a known kind), parsed with the csv module."""
    report = json.loads(GENERATION_REPORT.read_text(encoding="utf-8"))
    out: dict[str, SampleExport] = {}
    for entry in report["files"]:
        if not entry["kind"] or entry["encoding"] == "xlsx" or "byte_identical_duplicate" in entry["quirks"]:
            continue
        text = (SAMPLE_INBOX / entry["path"]).read_bytes().decode(_python_codec(entry["encoding"]))
        rows = [tuple(r) for r in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))]
        has_description = "description_row" in entry["quirks"]
        out[entry["path"]] = SampleExport(
            source_file=entry["path"],
            kind=entry["kind"],
            shop_id=entry["shop_id"],
            encoding=entry["encoding"],
            header=rows[0],
            description=rows[1] if has_description else None,
            rows=tuple(rows[2:] if has_description else rows[1:]),
        )
    return out


def sources(kinds: tuple[str, ...] | None = None, max_rows: int = 40) -> list[str]:
    """Sample exports of these kinds, small enough to ingest in about a second."""
    return sorted(
        p
        for p, e in sample_exports().items()
        if (kinds is None or e.kind in kinds) and len(e.rows) <= max_rows and len(e.rows) >= 2
    )


def shops_csv_line(shop_id: str) -> str:
    """The sample registry's header and the line of one shop."""
    lines = (SAMPLE_INBOX / "shops.csv").read_text(encoding="utf-8").splitlines()
    return "\n".join([lines[0], *[line for line in lines[1:] if line.split(",")[0] == shop_id]]) + "\n"


# -- the mutant ---------------------------------------------------------------------------------


@dataclass
class Mutant:
    mutation: str
    source_file: str
    seed: int
    variant: str
    kind: str
    shop_id: str
    data: bytes
    planted: frozenset[str]
    # Physical lines (1-based) that must each be staged or quarantined when the file is ingested;
    # None when line boundaries are ambiguous (a bare CR inside a field).
    data_lines: frozenset[int] | None
    physical_lines: int
    description_line: int | None  # may be skipped as the description row
    touched_lines: frozenset[int]  # lines the mutation changed (values there may differ)
    expected_values: dict[int, str]  # line -> VALUE_CHECKS value, for lines not touched
    # line -> names of the bad cell (its header, for a workbook also its cell reference "L3")
    must_not_stage: dict[int, tuple[str, ...]] = field(default_factory=dict)
    rows_read: int | None = None  # exact count for lossless mutations (same records, new bytes)
    usernames: dict[int, str] = field(default_factory=dict)  # line -> Buyer Username (pseudonym check)
    skip_allowed: bool = False  # may the file be skipped (with a reason)? Only if it is a bad file
    other_sheet: str | None = None  # a workbook sheet whose rows must be read or the sheet reported
    suffix: str = ".csv"

    @property
    def file_name(self) -> str:
        return f"fuzz-{self.mutation}{self.suffix}"

    def reproduction(self) -> str:
        return f"mutate({self.mutation!r}, {self.source_file!r}, seed={self.seed})  # {self.variant}"


# A document: one list of raw (already quoted) cells per physical line, or a raw string line.
Line = list[str] | str


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


class _Doc:
    """An export being mutated: rows of raw cells, physical line per element (no cell holds a newline)."""

    def __init__(self, export: SampleExport, rng: random.Random, planted_values: dict[str, str]) -> None:
        self.export = export
        self.rng = rng
        self.lines: list[Line] = [[_quote(h) for h in export.header]]
        self.values: list[list[str] | None] = [
            list(export.header)
        ]  # parsed values per line (None: not a record)
        if export.description is not None:
            self.lines.append([_quote(c) for c in export.description])
            self.values.append(list(export.description))
        self.first_data = len(self.lines)
        for row in export.rows:
            self.lines.append([_quote(c) for c in row])
            self.values.append(list(row))
        self.description_index = 1 if export.description is not None else None
        self.touched: set[int] = set()  # indexes
        self.planted: set[str] = set()
        self.usernames: dict[int, str] = {}
        self.must_not_stage: dict[int, tuple[str, ...]] = {}
        self.plant(planted_values)

    # -- planting --

    def data_indexes(self) -> list[int]:
        return [i for i in range(self.first_data, len(self.lines)) if isinstance(self.lines[i], list)]

    def plant(self, planted_values: dict[str, str]) -> None:
        """Personal values into up to three rows (always the first data row: cut and flip targets)."""
        candidates = self.data_indexes()
        chosen = {candidates[0], *self.rng.sample(candidates, k=min(2, len(candidates)))}
        self.planted_rows = sorted(chosen)
        for header in PERSONAL_HEADERS.get(self.export.kind, ()):
            col = self.export.column(header)
            if col is None:
                continue
            for i in self.planted_rows:
                self.set_cell(i, col, planted_values[header], touch=False)
                self.planted.add(planted_values[header])
                if header == "Buyer Username":
                    self.usernames[i] = planted_values[header]

    def set_cell(self, i: int, col: int, value: str, touch: bool = True) -> None:
        line = self.lines[i]
        assert isinstance(line, list)
        if col < len(line):
            line[col] = _quote(value)
            values = self.values[i]
            if values is not None and col < len(values):
                values[col] = value
        if touch:
            self.touched.add(i)

    def personal_cols(self) -> list[int]:
        cols = [self.export.column(h) for h in PERSONAL_HEADERS.get(self.export.kind, ())]
        return [c for c in cols if c is not None]

    # -- rendering --

    def text(self, newline: str = "\n") -> str:
        return newline.join(ln if isinstance(ln, str) else ",".join(ln) for ln in self.lines) + newline

    def expected_values(self) -> dict[int, str]:
        header, _, _ = VALUE_CHECKS[self.export.kind]
        col = self.export.column(header)
        out = {}
        for i in self.data_indexes():
            values = self.values[i]
            if i in self.touched or values is None or col is None or col >= len(values):
                continue
            value = values[col].strip().lstrip("\t'").strip()
            if value:
                out[i + 1] = value
        return out

    def data_lines(self) -> frozenset[int]:
        return frozenset(
            i + 1
            for i in range(1, len(self.lines))
            if not (isinstance(self.lines[i], str) and not self.lines[i])
        )

    def mutant(self, mutation: str, seed: int, variant: str, data: bytes, **overrides) -> Mutant:
        fields = dict(
            mutation=mutation,
            source_file=self.export.source_file,
            seed=seed,
            variant=variant,
            kind=self.export.kind,
            shop_id=self.export.shop_id,
            data=data,
            planted=frozenset(self.planted),
            data_lines=self.data_lines(),
            physical_lines=len(self.lines),
            description_line=(self.description_index + 1) if self.description_index is not None else None,
            touched_lines=frozenset(i + 1 for i in self.touched),
            expected_values=self.expected_values(),
            must_not_stage={i + 1: h for i, h in self.must_not_stage.items()},
            usernames={i + 1: u for i, u in self.usernames.items() if i not in self.touched},
        )
        fields.update(overrides)
        return Mutant(**fields)


def _encode(text: str, encoding: str) -> bytes:
    """Bytes as the sample wrote them (a UTF-8 BOM, UTF-16 with BOM, GB18030, plain UTF-8)."""
    return text.encode(_python_codec(encoding))


# -- mutators -------------------------------------------------------------------------------------


def _stray_quote(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """One `"` at a random position of a cell of a planted row (a personal cell 2 times out of 3);
    at the start of a cell it opens a quoted field that swallows the following lines."""
    i = rng.choice(doc.planted_rows)
    line = doc.lines[i]
    cols = doc.personal_cols() if doc.personal_cols() and rng.random() < 2 / 3 else list(range(len(line)))
    col = rng.choice(cols)
    cell = line[col]
    pos = rng.choice([0, rng.randint(0, len(cell)), len(cell)])
    line[col] = cell[:pos] + '"' + cell[pos:]
    doc.touched.add(i)
    doc.values[i] = None
    return f"line {i + 1} col {col} at {pos}", _encode(doc.text(), doc.export.encoding), {}


def _delimiter_in_personal(keep_count: bool):
    def mutator(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
        """One to three unquoted commas inside a personal field (a planted value split, the rest
        of the row shifted right); with keep_count as many other fields are dropped (the last
        ones, or earlier ones when the split field is last), so the field count looks right."""
        cols = doc.personal_cols() or [len(doc.export.header) // 2]
        i = rng.choice(doc.planted_rows)
        line = doc.lines[i]
        col = rng.choice(cols)
        value = (doc.values[i][col] if doc.values[i] else line[col]).replace('"', "").replace(",", " ")
        cuts = sorted(rng.sample(range(1, len(value)), k=min(len(value) - 1, rng.randint(1, 3))))
        line[col] = ",".join(value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True))
        if keep_count:
            for _ in cuts:
                drop = len(line) - 1 if col < len(line) - 1 else rng.randrange(col)
                del line[drop]
                col -= drop < col
        doc.touched.add(i)
        doc.values[i] = None
        return f"line {i + 1} col {col} cuts {cuts}", _encode(doc.text(), doc.export.encoding), {}

    return mutator


def _trailing_fields(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """Drop or add trailing fields on one to three rows."""
    picks = rng.sample(doc.data_indexes(), k=min(len(doc.data_indexes()), rng.randint(1, 3)))
    done = []
    for i in picks:
        line = doc.lines[i]
        n = rng.randint(1, 3)
        if rng.random() < 0.5:
            del line[-n:]
            done.append(f"{i + 1}:-{n}")
        else:
            line.extend(rng.choice(["", "x", "ZZPHOZNE555Z0101"]) for _ in range(n))
            done.append(f"{i + 1}:+{n}")
        doc.touched.add(i)
        doc.values[i] = None
    return " ".join(done), _encode(doc.text(), doc.export.encoding), {}


def _truncate(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """Cut the file at a random byte (half the time inside a multi-byte UTF-8 sequence)."""
    data = _encode(doc.text(), doc.export.encoding)
    header_end = data.index(b"\n") + 1 if b"\n" in data else len(data) // 2
    inside = [k for k in range(header_end, len(data)) if 0x80 <= data[k] < 0xC0]
    cut = rng.choice(inside) if inside and rng.random() < 0.5 else rng.randint(header_end, len(data) - 1)
    data = data[:cut]
    kept = data.decode(_python_codec(doc.export.encoding), errors="ignore")
    lines = re.split(r"\r\n|\r|\n", kept)
    if lines and lines[-1] == "":
        lines.pop()
    count = len(lines)
    doc.touched.add(count - 1)  # the cut line
    expected = {ln: v for ln, v in doc.expected_values().items() if ln < count}
    return (
        f"cut at byte {cut} of {len(_encode(doc.text(), doc.export.encoding))}",
        data,
        dict(
            data_lines=frozenset(ln for ln in range(2, count + 1)),
            physical_lines=count,
            expected_values=expected,
            touched_lines=frozenset({count}),
            usernames={ln: u for ln, u in ((i + 1, u) for i, u in doc.usernames.items()) if ln < count},
        ),
    )


LINE_ENDING_VARIANTS = (
    ("cr-only", "\r", "utf-8-sig"),
    ("cr-only", "\r", "utf-8"),
    ("cr-only", "\r", "utf-16"),
    ("crlf", "\r\n", "utf-8-sig"),
    ("crlf", "\r\n", "utf-8"),
    ("crlf", "\r\n", "utf-16"),
    ("one-bare-cr-line-end", "\n", "utf-8-sig"),
    ("one-bare-cr-line-end", "\n", "utf-8"),
    ("bare-cr-in-field", "\n", "utf-8-sig"),
)


def _line_endings(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """CR-only, CRLF, one bare CR ending a line of an LF file, or a bare CR inside an unquoted
    field; UTF-8 with and without BOM, UTF-16 with BOM. The records are unchanged (lossless)."""
    name, newline, encoding = rng.choice(LINE_ENDING_VARIANTS)
    text = doc.text(newline)
    overrides: dict = {"rows_read": len(doc.lines) - 1}
    if name == "one-bare-cr-line-end":
        i = rng.choice(doc.data_indexes()[:-1] or doc.data_indexes())
        starts = [m.end() for m in re.finditer("\n", text)]
        end_of_line = starts[i] - 1  # the LF ending physical line i + 1
        text = text[:end_of_line] + "\r" + text[end_of_line + 1 :]
    elif name == "bare-cr-in-field":
        i = rng.choice(doc.planted_rows)
        line = doc.lines[i]
        col = rng.choice(
            [c for c, cell in enumerate(line) if len(cell) > 1 and not cell.startswith('"')] or [0]
        )
        cell = line[col]
        pos = rng.randint(1, max(1, len(cell) - 1))
        line[col] = cell[:pos] + "\r" + cell[pos:]
        doc.touched.add(i)
        doc.values[i] = None
        text = doc.text("\n")
        # Is the CR a line break (later lines move down one) or data? Either reading is fine.
        overrides = {
            "data_lines": None,
            "physical_lines": len(doc.lines) + 1,
            "expected_values": {},
            "usernames": {},
        }
    bom = encoding != "utf-8"
    data = text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding)
    return f"{name} {encoding}{' BOM' if bom else ''}", data, overrides


REENCODINGS = ("utf-16-le", "utf-16-be", "utf-16-le+bom", "utf-16-be+bom", "gb18030", "cp1252")


def _reencode(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """The same records in UTF-16 LE/BE with or without BOM, GB18030, or Windows-1252 (then with
    accented names and product names, planted for the purpose)."""
    target = rng.choice(REENCODINGS)
    if target == "cp1252":
        if doc.export.kind != "orders":  # only orders carry accented names worth checking
            target = "gb18030"
        else:
            doc.planted.clear()
            doc.usernames.clear()
            for header in PERSONAL_HEADERS["orders"]:
                col = doc.export.column(header)
                if col is None:
                    continue
                for i in doc.planted_rows:
                    doc.set_cell(i, col, PLANTED_CP1252[header], touch=False)
                    doc.planted.add(PLANTED_CP1252[header])
                    if header == "Buyer Username":
                        doc.usernames[i] = PLANTED_CP1252[header]
            col = doc.export.column("Product Name")
            for i in doc.data_indexes():
                doc.set_cell(i, col, rng.choice(CP1252_PRODUCTS), touch=False)
            text = doc.text()
            # Non-cp1252 characters of the sample (Thai, Vietnamese...) become "?": their lines differ.
            for i in doc.data_indexes():
                try:
                    ",".join(doc.lines[i]).encode("cp1252")
                except UnicodeEncodeError:
                    doc.touched.add(i)
            # Not UTF-8/UTF-16/GB18030 beyond doubt: reading it right or skipping it are both fine.
            data = text.encode("cp1252", errors="replace")
            return target, data, {"rows_read": len(doc.lines) - 1, "skip_allowed": True}
    text = doc.text()
    codec, _, bom = target.partition("+")
    # GB18030 bytes of text that is not mostly Chinese are not GB18030 "beyond doubt" (they may
    # read as a single-byte code page too): skipping the file with a reason is fine (issue #11).
    non_ascii = sum(ord(c) > 127 for c in text)
    cjk = len(re.findall("[\u3000-\u9fff\uff00-\uffef]", text))
    ambiguous = codec == "gb18030" and cjk * 2 <= non_ascii
    prefix = (
        {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"") if bom else b""
    )
    return target, prefix + text.encode(codec), {"rows_read": len(doc.lines) - 1, "skip_allowed": ambiguous}


def _nul_bytes(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """One to three NUL bytes at random positions after the header."""
    data = bytearray(_encode(doc.text(), doc.export.encoding))
    start = data.index(b"\n") + 1 if b"\n" in data else 0
    offsets = sorted(rng.randint(start, len(data)) for _ in range(rng.randint(1, 3)))
    if doc.export.encoding.startswith("utf-16"):  # a NUL byte shifts every later code unit
        overrides: dict = {"data_lines": None, "expected_values": {}, "usernames": {}}
    else:  # NUL is no line break: the lines stay, those holding a NUL are touched
        doc.touched |= {data.count(b"\n", 0, k) for k in offsets}
        overrides = {"expected_values": doc.expected_values()}
        overrides["usernames"] = {i + 1: u for i, u in doc.usernames.items() if i not in doc.touched}
    for k in reversed(offsets):
        data[k:k] = b"\x00"
    return f"NUL at {offsets}", bytes(data), overrides


LONG_LENGTHS = (70_000, 1_100_000, 2_300_000)


def _long_line(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """One very long field (up to 2.3 MB, beyond DuckDB's default 2 MB line limit): a personal
    field repeating its planted value, or a non-personal one."""
    i = rng.choice(doc.planted_rows)
    length = rng.choice(LONG_LENGTHS)
    personal = doc.personal_cols()
    if personal and rng.random() < 0.5:
        col = rng.choice(personal)
        value = doc.values[i][col]
        doc.set_cell(i, col, (value + " ") * (length // (len(value) + 1)))
        what = "personal"
    else:
        col = rng.randrange(len(doc.lines[i]))
        doc.set_cell(i, col, "Zlong " * (length // 6))
        what = "field"
    return f"{what} col {col} of line {i + 1}: {length} chars", _encode(doc.text(), doc.export.encoding), {}


def _duplicated_header(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """The header row again, right under the header or between data rows (merged exports)."""
    at = rng.randint(1, len(doc.lines))
    doc.lines.insert(at, list(doc.lines[0]))
    doc.values.insert(at, None)
    _shift(doc, at)
    doc.touched.add(at)
    # Right under the header, a header copy may be taken for the description row (it holds no data).
    overrides = {"description_line": 2} if at == 1 and doc.description_index is None else {}
    return f"header copy at line {at + 1}", _encode(doc.text(), doc.export.encoding), overrides


def _blank_lines(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """Empty lines at random places (after the header, between rows, at the end)."""
    ats = sorted({rng.randint(1, len(doc.lines)) for _ in range(rng.randint(1, 4))}, reverse=True)
    for at in ats:
        doc.lines.insert(at, "")
        doc.values.insert(at, None)
        _shift(doc, at)
    return f"blank lines at {sorted(a + 1 for a in ats)}", _encode(doc.text(), doc.export.encoding), {}


def _description_row(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """A description row (field explanations) under the header or, as after a merge, mid-file
    (a second one when the export already has one): only the one under the header may be skipped."""
    description = doc.export.description or tuple(
        f"The {h.strip()} of the record." for h in doc.export.header
    )
    under_header = doc.description_index is None and rng.random() < 0.5
    at = 1 if under_header else rng.randint(2, len(doc.lines))
    doc.lines.insert(at, [_quote(c) for c in description])
    doc.values.insert(at, None)
    _shift(doc, at)
    if under_header:
        doc.description_index, doc.first_data = 1, 2
    else:
        doc.touched.add(at)
    return f"description row at line {at + 1}", _encode(doc.text(), doc.export.encoding), {}


def _odd_money(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """Amounts no export writes (`1e308`, `NaN`, `1,2,3`, `--5`, ...) in money columns of planted
    rows: each such row must be quarantined naming the column, never staged with a guessed value."""
    cols = [(h, doc.export.column(h)) for h in MONEY_HEADERS.get(doc.export.kind, ())]
    cols = [(h, c) for h, c in cols if c is not None]
    done = []
    for i in doc.planted_rows:
        header, col = rng.choice(cols)
        value = rng.choice(ODD_MONEY)
        doc.set_cell(i, col, value)
        doc.must_not_stage[i] = (header,)
        done.append(f"line {i + 1} {header}={value}")
    return "; ".join(done), _encode(doc.text(), doc.export.encoding), {}


def _byte_flips(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """One to eight random bytes XOR-ed with a random non-zero mask (never in the header)."""
    data = bytearray(_encode(doc.text(), doc.export.encoding))
    start = data.index(b"\n") + 1 if b"\n" in data else 0
    offsets = sorted(rng.sample(range(start, len(data)), k=min(len(data) - start, rng.randint(1, 8))))
    for k in offsets:
        data[k] ^= rng.randint(1, 255)
    data = bytes(data)
    text = data.decode(_python_codec(doc.export.encoding), errors="replace")
    all_lines = re.split(r"\r\n|\r|\n", text)
    overrides: dict = {"expected_values": {}, "usernames": {}, "physical_lines": len(all_lines)}
    if b"\x00" in data or re.search(r"\r(?!\n)", text) or doc.export.encoding.startswith("utf-16"):
        overrides["data_lines"] = None  # a bare CR or a NUL: line boundaries are a reading choice
    else:
        lines = re.split(r"\r\n|\n", text)
        if lines and lines[-1] == "":
            lines.pop()
        overrides["data_lines"] = frozenset(
            n for n, line in enumerate(lines, start=1) if n >= 2 and line.strip("\ufeff")
        )
        overrides["physical_lines"] = len(lines)
    return f"flipped bytes at {offsets}", data, overrides


def _shift(doc: _Doc, at: int) -> None:
    """Line indexes at or after `at` moved down by one line."""

    def moved(i: int) -> int:
        return i + 1 if i >= at else i

    doc.touched = {moved(i) for i in doc.touched}
    doc.usernames = {moved(i): u for i, u in doc.usernames.items()}
    doc.must_not_stage = {moved(i): names for i, names in doc.must_not_stage.items()}
    doc.planted_rows = [moved(i) for i in doc.planted_rows]
    if doc.description_index is not None:
        doc.description_index = moved(doc.description_index)


XLSX_VARIANTS = ("truncated", "byte_flips", "formula_without_value", "second_sheet")
XLSX_FIRST_SHEET = "OrderSKUList"


def _column_letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx(doc: _Doc, rng: random.Random) -> tuple[str, bytes, dict]:
    """The export saved as an XLSX workbook (xlsxwriter), then damaged: the zip cut at a random
    byte, bytes flipped, a money cell holding a formula without a cached value, or the rows split
    over two sheets (each with the header)."""
    import xlsxwriter

    variant = rng.choice(XLSX_VARIANTS)
    rows = [v for v in doc.values if v is not None]  # header, description row, data rows
    overrides: dict = {"suffix": ".xlsx", "rows_read": len(rows) - 1}
    split = len(rows)
    if variant == "second_sheet":
        split = rng.randint(2, len(rows) - 1)
        overrides.update(
            other_sheet="More orders",
            data_lines=frozenset(range(2, split + 1)),
            expected_values={ln: v for ln, v in doc.expected_values().items() if ln <= split},
            usernames={i + 1: u for i, u in doc.usernames.items() if i + 1 <= split},
        )
    formula_cell = None
    if variant == "formula_without_value":
        header, col = next(
            (h, c) for h in MONEY_HEADERS.get(doc.export.kind, ()) if (c := doc.export.column(h)) is not None
        )
        i = rng.choice(doc.planted_rows)
        formula_cell = (i, col)
        names = (header, f"{_column_letters(col)}{i + 1}")
        doc.must_not_stage[i] = names
        doc.touched.add(i)
        overrides.update(
            must_not_stage={i + 1: names}, skip_allowed=True, expected_values=doc.expected_values()
        )
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    for name, part in ((XLSX_FIRST_SHEET, rows[:split]), ("More orders", [rows[0], *rows[split:]])):
        if len(part) < 2 and name != XLSX_FIRST_SHEET:
            continue
        sheet = book.add_worksheet(name)
        for r, row in enumerate(part):
            for c, value in enumerate(row):
                if formula_cell == (r, c) and name == XLSX_FIRST_SHEET:
                    sheet.write_formula(r, c, "=SUM(1,2)")
                else:
                    sheet.write_string(r, c, value)
    book.close()
    data = out.getvalue()
    if variant == "formula_without_value":  # xlsxwriter caches 0: remove it, as a script would leave it
        data = _rewrite_zip(data, lambda name, xml: re.sub(rb"(</f>)<v>[^<]*</v>", rb"\1", xml))
    elif variant == "truncated":
        data = data[: rng.randint(1, len(data) - 1)]
        overrides.update(skip_allowed=True, data_lines=None, expected_values={}, usernames={}, rows_read=None)
    elif variant == "byte_flips":
        flipped = bytearray(data)
        for k in rng.sample(range(len(flipped)), k=rng.randint(1, 8)):
            flipped[k] ^= rng.randint(1, 255)
        data = bytes(flipped)
        overrides.update(skip_allowed=True, data_lines=None, expected_values={}, usernames={}, rows_read=None)
    return f"xlsx {variant}", data, overrides


def _rewrite_zip(data: bytes, edit: Callable[[str, bytes], bytes]) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item)
            dst.writestr(
                item, edit(item.filename, body) if item.filename.startswith("xl/worksheets/") else body
            )
    return out.getvalue()


Mutator = Callable[[_Doc, random.Random], tuple[str, bytes, dict]]

MUTATORS: dict[str, Mutator] = {
    "stray_quote": _stray_quote,
    "delimiter_in_personal_field": _delimiter_in_personal(keep_count=False),
    "delimiter_in_personal_field_same_count": _delimiter_in_personal(keep_count=True),
    "trailing_fields": _trailing_fields,
    "truncated": _truncate,
    "line_endings": _line_endings,
    "reencoded": _reencode,
    "nul_bytes": _nul_bytes,
    "long_line": _long_line,
    "duplicated_header": _duplicated_header,
    "blank_lines": _blank_lines,
    "description_row": _description_row,
    "odd_money": _odd_money,
    "byte_flips": _byte_flips,
    "xlsx": _xlsx,
}
# Mutations that may make a bad file (README: undecodable or binary bytes): skipping it with a
# reason is fine. Every other mutation breaks rows, not the file: its other rows must be read.
MAY_SKIP = frozenset({"truncated", "nul_bytes", "byte_flips"})
# Which sample exports each mutation may take (default: every kind).
MUTATION_KINDS: dict[str, tuple[str, ...]] = {
    "stray_quote": ("orders", "messages", "aftersales_requests", "cancellations", "evidence"),
    "delimiter_in_personal_field": ("orders", "messages"),
    "delimiter_in_personal_field_same_count": ("orders", "messages"),
    "odd_money": ("orders", "aftersales_requests"),
    "long_line": ("orders", "messages"),
    "xlsx": ("orders",),  # workbooks come from the Orders export
}


def mutation_sources(mutation: str) -> list[str]:
    return sources(MUTATION_KINDS.get(mutation))


def mutate(mutation: str, source_file: str, seed: int) -> Mutant:
    """The sample export `source_file` with values planted and broken by `mutation` (seeded)."""
    export = sample_exports()[source_file]
    rng = random.Random(f"{mutation}:{source_file}:{seed}")
    doc = _Doc(export, rng, PLANTED)
    variant, data, overrides = MUTATORS[mutation](doc, rng)
    return doc.mutant(mutation, seed, variant, data, **{"skip_allowed": mutation in MAY_SKIP, **overrides})
