"""XLSX/XLS workbooks: bounded inspection first, then one sheet read in a child process.

A workbook is a zip of XML parts; its declared sizes and `<dimension>` are the writer's claims,
so nothing is allocated from them. Before python-calamine sees an XLSX, each part it would read
(workbook, relationships, shared strings, the sheet) is inflated in a stream, counting the bytes
actually produced, and parsed incrementally (expat, no DTD or entity declarations accepted):

- total inflated bytes and inflation ratio per part (zip bombs),
- the real extent of the cells (highest row and column of any cell, not `<dimension>`), the cell
  count and the extent's area (calamine allocates rows x columns densely: one cell at XFD1048576
  is a 512 GiB allocation),
- the length of every string (shared or inline) and the number of shared strings,
- formula cells without a saved value (`<f>` with no or an empty `<v>`, or any formula when the
  writer asked for a full recalculation on load, as xlsxwriter does, whose saved values are
  placeholders): a data row holding one is set aside and quarantined with the reason "formula
  without a saved value in B7: re-save the workbook", never read as the 0 the file holds.

Limits (module constants) sit far above real Seller Center exports, which stop at about a million
rows and sixty columns with short texts; a workbook over one is skipped with a one-line reason.

Then calamine reads the sheet in a child Python process whose address space is limited
(`CHILD_ADDRESS_SPACE`, defence in depth for what inspection cannot see, and for XLS files, which
are not zipped XML): a reader abort or out-of-memory costs that one sheet (FileRejected), never the
batch. The child writes the numbered CSV itself, so rows never cross the process boundary.
A workbook with several sheets is ledgered per sheet (`<path>#<sheet name>`, see export_listing.py).
Inspection is workbook_inspection.py; the child's side is workbook_child.py.
"""

from __future__ import annotations

import hashlib
import pickle
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from aftersales.ingest.decoding import Sniff
from aftersales.ingest.errors import FileRejected
from aftersales.ingest.records import BrokenLine, NumberedCsv
from aftersales.ingest.workbook_child import CHILD_ADDRESS_SPACE
from aftersales.ingest.workbook_inspection import (
    InflateBudget,
    Sheet,
    check_parts,
    inspect_sheet,
    open_zip,
    xlsx_sheets,
)

# The child reading a sheet: wall time (its address space: workbook_child.CHILD_ADDRESS_SPACE).
CHILD_SECONDS = 900


def sheet_fingerprint(workbook_sha256: str, sheet: str) -> str:
    """SHA-256 identifying one sheet of a workbook in the ledger: the same workbook dropped twice
    gives the same sheet fingerprints (duplicates), two sheets of one workbook never collide."""
    return hashlib.sha256(f"{workbook_sha256}#{sheet}".encode()).hexdigest()


def workbook_sheets(path: Path, container: str) -> list[str]:
    """Names of the workbook's sheets in order, after the workbook-level checks (FileRejected)."""
    if container == "xlsx":
        with open_zip(path) as book:
            return [s.name for s in xlsx_sheets(book, InflateBudget())[0]]
    return _run_child(path, container, None, None)


def numbered_sheet(path: Path, container: str, sheet: str | None, out_path: Path) -> NumberedCsv | None:
    """Numbered CSV of one sheet (`sheet` None: the workbook's only sheet); None when it holds no
    row. FileRejected when the workbook or sheet is over a limit or unreadable."""
    unsaved: set[tuple[int, int]] = set()
    if container == "xlsx":
        with open_zip(path) as book:
            budget = InflateBudget()
            sheets, recalculates = xlsx_sheets(book, budget)
            chosen = _choose(sheets, sheet)
            if chosen.part is None:
                raise FileRejected(f"sheet {chosen.name!r} is a chart or dialog sheet: no rows to read")
            sheet = chosen.name
            check_parts(book, sheets, chosen, budget)
            facts = inspect_sheet(book, chosen, budget)
            # A writer that asks for recalculation on load saved placeholders, not values.
            unsaved = facts.formulas if recalculates else facts.unsaved_formulas
    return _run_child(path, container, sheet, out_path, unsaved)


def _choose(sheets: list[Sheet], name: str | None) -> Sheet:
    if name is None:
        if len(sheets) != 1:
            raise FileRejected(f"workbook with {len(sheets)} sheets where one was expected")
        return sheets[0]
    for s in sheets:
        if s.name == name:
            return s
    raise FileRejected(f"workbook has no sheet named {name!r}")


# -- reading (child process) -------------------------------------------------------------------


# The child loads only what it needs (workbook_child.py, records.py, errors.py) by path, not the
# `aftersales.ingest` package (whose import pulls in DuckDB, pandas and Great Expectations).
_CHILD_BOOT = """
import importlib.util, sys
def load(name, file):
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
load("aftersales.ingest.errors", sys.argv[1])
load("aftersales.ingest.records", sys.argv[2])
load("aftersales_workbook_child", sys.argv[3]).child_main(sys.argv[4], sys.argv[5])
"""


def _run_child(path: Path, container: str, sheet: str | None, out_path: Path | None, unsaved=frozenset()):
    """Run calamine in a child with a bounded address space: the sheet names (`out_path` None) or
    the numbered CSV of one sheet. Any failure of the child is this workbook's FileRejected."""
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="workbook-", dir=out_path.parent if out_path else None) as tmp:
        request, result = Path(tmp) / "request.pickle", Path(tmp) / "result.pickle"
        request.write_bytes(pickle.dumps((str(path), container, sheet, str(out_path or ""), set(unsaved))))
        argv = [str(here / "errors.py"), str(here / "records.py"), str(here / "workbook_child.py")]
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", _CHILD_BOOT, *argv, str(request), str(result)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=CHILD_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FileRejected(
                f"unreadable {container.upper()} workbook: reading took over {CHILD_SECONDS} s"
            ) from None
        if done.returncode != 0 or not result.exists():
            raise FileRejected(f"unreadable {container.upper()} workbook: {_child_failure(done)}")
        outcome = pickle.loads(result.read_bytes())
    match outcome:
        case ("rejected", reason):
            raise FileRejected(reason)
        case ("sheets", names):
            return names
        case ("empty",):
            return None
        case ("numbered", header, header_line, lines, offsets, diverted):
            broken = tuple(BrokenLine(line, reason, text) for line, reason, text in diverted)
            return NumberedCsv(
                out_path,
                header,
                header_line,
                np.asarray(lines, np.int64),
                np.asarray(offsets, np.int64),
                broken,
            )
    raise FileRejected(f"unreadable {container.upper()} workbook: unexpected reader result")


def _child_failure(done: subprocess.CompletedProcess) -> str:
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return (
            f"the reader was stopped by {name} (out of memory: over the "
            f"{CHILD_ADDRESS_SPACE >> 30} GiB limit, or a crash)"
        )
    lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if any("memory allocation" in line or "MemoryError" in line for line in lines):
        return f"the reader ran out of memory (limit {CHILD_ADDRESS_SPACE >> 30} GiB)"
    return f"the reader failed (exit status {done.returncode})"


def sheet_entries(path: Path, found: Sniff) -> list[tuple[str, Sniff]]:
    """The ledger entries of a workbook: (suffix of its source_file, its sniff), one per sheet.

    A workbook with one sheet stays one entry under its own name (suffix ""); with several, each
    sheet is an entry `<path>#<sheet name>` whose fingerprint is `sheet_fingerprint` (so per-sheet
    line numbers and rows read = staged + quarantined + skipped hold, and a sheet of another kind,
    an empty sheet or a notes sheet is skipped with its own reason). FileRejected for the workbook.
    """
    names = workbook_sheets(path, found.container)
    if len(names) == 1:
        return [("", replace(found, sheet=names[0]))]
    return [(f"#{n}", replace(found, sheet=n, sha256=sheet_fingerprint(found.sha256, n))) for n in names]
