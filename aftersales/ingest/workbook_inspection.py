"""XLSX inspection, in the parent process, before any reader sees the workbook.

Each part calamine would read (workbook, relationships, shared strings, the sheet) is inflated
in a stream, counting the bytes actually produced, and parsed incrementally (expat, no DTD or
entity declarations accepted): inflation totals and ratios, the real extent of the cells, string
lengths, shared-string count and formulas without a saved value are checked against the limits
below (far above real Seller Center exports). See workbook.py for the whole story.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from aftersales.ingest.errors import FileRejected

# Limits of what a workbook may hold (a real export: <= 1,048,576 rows, ~60 columns, short texts).
MAX_SHEETS = 256
MAX_ROWS = 1_048_576  # Excel's own row limit
MAX_COLUMNS = 1_024  # real exports: ~60
MAX_CELL_AREA = 80_000_000  # rows x columns of the cells' extent (what the reader allocates)
MAX_CELL_CHARS = 32_767  # Excel's own limit for the text of one cell
MAX_SHARED_STRINGS = 16_000_000
MAX_INFLATED_BYTES = 8 << 30  # all inspected parts together
MAX_INFLATION_RATIO = 250  # per part (real XLSX parts: 5-30x; deflate bombs: ~1000x)
_RATIO_GRACE_BYTES = 16 << 20  # small parts may inflate more (runs of identical empty cells)
_CHUNK = 1 << 20

_REL_WORKSHEET = "/worksheet"
_CELL_REF = re.compile(r"([A-Z]{1,3})?(\d{1,7})?")


@dataclass(frozen=True)
class Sheet:
    name: str
    part: str | None  # zip member of a worksheet; None for chart/dialog sheets (no rows)


@dataclass
class SheetFacts:
    rows: int = 0  # highest row number of any cell
    columns: int = 0  # highest column number of any cell
    cells: int = 0
    formulas: set[tuple[int, int]] = field(default_factory=set)  # (row, column), 1-based
    unsaved_formulas: set[tuple[int, int]] = field(default_factory=set)  # formulas with no value


class InflateBudget:
    """Inflated bytes left for the whole workbook."""

    def __init__(self) -> None:
        self.left = MAX_INFLATED_BYTES


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(f"unreadable XLSX workbook: not a valid zip archive ({exc})") from None
    names = [i.filename for i in book.infolist()]
    if len(names) != len(set(names)):
        book.close()
        raise FileRejected("unreadable XLSX workbook: the zip archive names a part twice")
    return book


def _inflate(book: zipfile.ZipFile, name: str, budget: InflateBudget) -> Iterator[bytes]:
    """One part inflated in chunks, counting the bytes really produced (never the declared size)."""
    try:
        info = book.getinfo(name)
    except KeyError:
        raise FileRejected(f"unreadable XLSX workbook: part {name!r} is missing") from None
    inflated = 0
    allowed = max(_RATIO_GRACE_BYTES, info.compress_size * MAX_INFLATION_RATIO)
    try:
        with book.open(info) as part:
            while True:
                try:
                    chunk = part.read(_CHUNK)
                except (
                    zipfile.BadZipFile,
                    OSError,
                    EOFError,
                    RuntimeError,
                    NotImplementedError,
                    ValueError,
                ) as exc:
                    raise FileRejected(f"unreadable XLSX workbook: {name}: {exc}") from None
                if not chunk:
                    return
                inflated += len(chunk)
                budget.left -= len(chunk)
                if inflated > allowed:
                    raise FileRejected(
                        f"XLSX part {name} inflates over {MAX_INFLATION_RATIO}x its compressed size "
                        f"({info.compress_size} bytes): a zip bomb, not an export"
                    )
                if budget.left < 0:
                    raise FileRejected(f"XLSX workbook inflates to over {MAX_INFLATED_BYTES >> 30} GiB")
                yield chunk
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise FileRejected(f"unreadable XLSX workbook: {name}: {exc}") from None


def _parse(book: zipfile.ZipFile, name: str, budget: InflateBudget, handler: _Handler) -> None:
    """Parse one part in a stream (expat: no DTD, no entity declarations)."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    try:
        for chunk in _inflate(book, name, budget):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise FileRejected(f"unreadable XLSX workbook: malformed XML in {name} ({exc})") from None


def _refuse_dtd(*_args) -> None:
    raise FileRejected("XLSX part declares a DTD or entities: refused (not written by a spreadsheet)")


def _local(tag: str) -> str:
    return tag.rpartition(":")[2]


class _Handler:
    def start(self, tag: str, attrs: dict) -> None:
        pass

    def end(self, tag: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


class _Relations(_Handler):
    def __init__(self) -> None:
        self.targets: dict[str, tuple[str, str]] = {}

    def start(self, tag, attrs):
        if _local(tag) == "Relationship":
            self.targets[attrs.get("Id", "")] = (attrs.get("Target", ""), attrs.get("Type", ""))


class _WorkbookPart(_Handler):
    def __init__(self) -> None:
        self.sheets: list[tuple[str, str]] = []  # (name, relationship id)
        self.full_calc_on_load = False

    def start(self, tag, attrs):
        local = _local(tag)
        if local == "sheet":
            rid = next((v for k, v in attrs.items() if _local(k) == "id"), "")
            self.sheets.append((attrs.get("name", ""), rid))
            if len(self.sheets) > MAX_SHEETS:
                raise FileRejected(f"XLSX workbook with over {MAX_SHEETS} sheets")
        elif local == "calcPr":
            self.full_calc_on_load = attrs.get("fullCalcOnLoad") in ("1", "true")


def _workbook_part(book: zipfile.ZipFile) -> str:
    for candidate in ("xl/workbook.xml", "xl/workbook2.xml"):
        if candidate in book.NameToInfo:
            return candidate
    raise FileRejected("unreadable XLSX workbook: no xl/workbook.xml part")


def xlsx_sheets(book: zipfile.ZipFile, budget: InflateBudget) -> tuple[list[Sheet], bool]:
    """The sheets (name and part) and whether the writer asked for a full recalculation on load."""
    part = _workbook_part(book)
    wb = _WorkbookPart()
    _parse(book, part, budget, wb)
    rels = _Relations()
    rels_part = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    _parse(book, rels_part, budget, rels)
    if not wb.sheets:
        raise FileRejected("XLSX workbook holds no sheets")
    names = [n for n, _ in wb.sheets]
    if len(set(names)) != len(names):
        raise FileRejected("unreadable XLSX workbook: two sheets share a name")
    sheets = []
    for name, rid in wb.sheets:
        target, kind = rels.targets.get(rid, ("", ""))
        if not target:
            raise FileRejected(f"unreadable XLSX workbook: sheet {name!r} has no part")
        member = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(posixpath.dirname(part), target))
        )
        sheets.append(Sheet(name, member if kind.endswith(_REL_WORKSHEET) else None))
    return sheets, wb.full_calc_on_load


class _Strings(_Handler):
    """Shared strings: count and the length of each (text runs of one `<si>` add up)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.count = 0
        self.chars = 0
        self.in_text = False

    def start(self, tag, attrs):
        local = _local(tag)
        if local == "si":
            self.count += 1
            self.chars = 0
            if self.count > MAX_SHARED_STRINGS:
                raise FileRejected(f"XLSX workbook with over {MAX_SHARED_STRINGS} shared strings")
        elif local == "t":
            self.in_text = True

    def end(self, tag):
        if _local(tag) == "t":
            self.in_text = False

    def text(self, data):
        if self.in_text:
            self.chars += len(data)
            if self.chars > MAX_CELL_CHARS:
                raise FileRejected(
                    f"XLSX {self.where} holds a text over {MAX_CELL_CHARS} characters "
                    "(a spreadsheet cell's limit): not an export"
                )


def check_parts(book: zipfile.ZipFile, sheets: list[Sheet], chosen: Sheet, budget: InflateBudget) -> None:
    """Every XML part the reader may load besides the sheet (shared strings, styles, relations,
    properties): inflation, DTDs, and for shared strings their count and lengths. Other sheets'
    parts are not read with this sheet and are checked when their own entry is read."""
    others = {s.part for s in sheets if s.part and s is not chosen}
    for info in book.infolist():
        name = info.filename
        if name in others or name == chosen.part or not name.endswith((".xml", ".rels", ".vml")):
            continue
        if posixpath.basename(name).lower() == "sharedstrings.xml":
            _parse(book, name, budget, _Strings("shared strings"))
        else:
            _parse(book, name, budget, _Handler())


class _Cells(_Strings):
    """Worksheet cells: real extent, count, inline string lengths, formulas without a value."""

    def __init__(self, sheet: str) -> None:
        super().__init__(f"sheet {sheet!r}")
        self.sheet = sheet
        self.facts = SheetFacts()
        self.row = 0
        self.col = 0
        self.formula = False
        self.value = False
        self.in_value = False

    def start(self, tag, attrs):
        local = _local(tag)
        if local == "c":
            self._cell(attrs.get("r"))
            self.formula = self.value = False
        elif local == "row":
            r = attrs.get("r")
            self.row = int(r) if r and r.isdigit() else self.row + 1
            self.col = 0
            self._bounds()
        elif local == "f":
            self.formula = True
        elif local == "v":
            self.in_value = True
        elif local == "t":
            self.in_text = True
            self.chars = 0

    def end(self, tag):
        local = _local(tag)
        if local == "c" and self.formula:
            self.facts.formulas.add((self.row, self.col))
            if not self.value:
                self.facts.unsaved_formulas.add((self.row, self.col))
        elif local == "v":
            self.in_value = False
        elif local == "t":
            self.in_text = False

    def text(self, data):
        if self.in_value:
            self.value = self.value or bool(data.strip())
        elif self.in_text:
            super().text(data)

    def _cell(self, ref: str | None) -> None:
        m = _CELL_REF.fullmatch(ref or "")
        if ref and not m:
            raise FileRejected(f"unreadable XLSX sheet {self.sheet!r}: cell reference {ref[:20]!r}")
        letters, digits = (m.group(1), m.group(2)) if m else (None, None)
        if digits:
            self.row = int(digits)
        self.col = _column_number(letters) if letters else self.col + 1
        facts = self.facts
        facts.cells += 1
        facts.rows = max(facts.rows, self.row)
        facts.columns = max(facts.columns, self.col)
        self._bounds()

    def _bounds(self) -> None:
        self.facts.rows = max(self.facts.rows, self.row)
        _check_extent(self.facts, self.sheet)


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def inspect_sheet(book: zipfile.ZipFile, sheet: Sheet, budget: InflateBudget) -> SheetFacts:
    """The sheet's facts: the fast byte scan, or, for the few sheets it cannot judge (formulas,
    cells or rows without a reference), the exact expat walk."""
    facts = _scan_sheet(book, sheet, budget)
    if facts is None:
        cells = _Cells(sheet.name)
        _parse(book, sheet.part or "", budget, cells)
        facts = cells.facts
    return facts


# Byte patterns of the fast scan (tag names with an optional namespace prefix).
_PLAIN_C_REF = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"')
_PLAIN_ROW_REF = re.compile(rb'<row r="(\d{1,7})"')
_TAG_C_REF = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s[^>]*?\br=["']([A-Z]{1,3})(\d{1,7})["']""")
_TAG_ROW_REF = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?\br=["'](\d{1,7})["']""")
_TAG_F = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_LONG_RUN = re.compile(rb">[^<]{%d}" % MAX_CELL_CHARS)
_ENTITY = re.compile(rb"&[^;&<]{1,12};")


def _scan_sheet(book: zipfile.ZipFile, sheet: Sheet, budget: InflateBudget) -> SheetFacts | None:
    """Extent, cell count and text lengths of a sheet from its bytes, with C-speed regexes over
    tag-aligned chunks (expat callbacks cost ~10 us a cell). None when the sheet holds formulas or
    cells/rows without a reference, which only the exact walk can place."""
    facts = SheetFacts()
    carry = b""
    where = f"sheet {sheet.name!r}"
    for chunk in _inflate(book, sheet.part or "", budget):
        data = carry + chunk
        cut = data.rfind(b"<")
        if cut <= 0:  # inside one long text: bounded by the run check
            carry = data
            if len(carry) > MAX_CELL_CHARS:
                _check_text_run(carry, where)
            continue
        data, carry = data[:cut], data[cut:]
        if b"<!" in data and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
            _refuse_dtd()
        if b":c" in data or b":row" in data or b":f" in data or b"<f" in data:
            # Prefixed tags (rare writers) or formulas: the exact walk decides.
            if b":c" in data or b":row" in data or _TAG_F.search(data):
                return None
        cells = data.count(b"<c ") + data.count(b"<c>") + data.count(b"<c/>")
        refs = _PLAIN_C_REF.findall(data)  # `r` first, as spreadsheets write it
        if len(refs) != cells:
            refs = _TAG_C_REF.findall(data)
        rows = data.count(b"<row ") + data.count(b"<row>") + data.count(b"<row/>")
        row_refs = _PLAIN_ROW_REF.findall(data)
        if len(row_refs) != rows:
            row_refs = _TAG_ROW_REF.findall(data)
        if len(refs) != cells or len(row_refs) != rows:
            return None  # cells or rows without a reference: placed by position
        facts.cells += cells
        if refs:
            letters = max((r[0] for r in refs), key=lambda x: (len(x), x))
            facts.columns = max(facts.columns, _column_number(letters.decode()))
            facts.rows = max(facts.rows, max(int(r[1]) for r in refs))
        if row_refs:
            facts.rows = max(facts.rows, max(map(int, row_refs)))
        _check_extent(facts, sheet.name)
        if (long_text := _LONG_RUN.search(data)) is not None:
            end = data.find(b"<", long_text.start())
            _check_text_run(data[long_text.start() : end if end >= 0 else len(data)], where)
    if b"<!DOCTYPE" in carry or b"<!ENTITY" in carry:
        _refuse_dtd()
    if len(carry) > MAX_CELL_CHARS:
        _check_text_run(carry, where)
    return facts


def _check_text_run(run: bytes, where: str) -> None:
    """A run of bytes between two tags: refused when it holds over MAX_CELL_CHARS characters
    (entities count one character each), or is over 16 bytes a character long anyway."""
    text = _ENTITY.sub(b"&", run.partition(b">")[2]).decode("utf-8", "replace")
    if len(text) > MAX_CELL_CHARS or len(run) > 16 * MAX_CELL_CHARS:
        raise FileRejected(
            f"XLSX {where} holds a text over {MAX_CELL_CHARS} characters (a spreadsheet cell's limit): not an export"
        )


def _check_extent(facts: SheetFacts, sheet: str) -> None:
    if facts.rows > MAX_ROWS or facts.columns > MAX_COLUMNS:
        raise FileRejected(
            f"XLSX sheet {sheet!r} has a cell at row {facts.rows}, column {facts.columns}: over the "
            f"limit of {MAX_ROWS} rows x {MAX_COLUMNS} columns (exports hold ~60 columns)"
        )
    if facts.rows * facts.columns > MAX_CELL_AREA:
        raise FileRejected(
            f"XLSX sheet {sheet!r} spans {facts.rows} rows x {facts.columns} columns: over the "
            f"limit of {MAX_CELL_AREA} cells"
        )
