"""The child process that reads one workbook with python-calamine (see workbook.py).

Loaded by path with only errors.py and records.py beside it (never the `aftersales.ingest`
package, whose import pulls in DuckDB, pandas and Great Expectations): it limits its own address
space, reads the sheet names or writes one sheet's numbered CSV, and pickles a plain result.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import pickle
import re
import resource
from collections.abc import Iterator
from pathlib import Path

from aftersales.ingest.errors import FileRejected
from aftersales.ingest.records import write_numbered_rows

# The child's address space (defence in depth for what inspection cannot see, and for XLS).
CHILD_ADDRESS_SPACE = 6 << 30
_SAFE_INT = 2**53


def child_main(request: str, result: str) -> None:
    """Child process entry: limit the address space, read, pickle a plain result."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    path, container, sheet, out_path, unsaved = pickle.loads(Path(request).read_bytes())
    try:
        outcome = _read(Path(path), container, sheet, Path(out_path) if out_path else None, unsaved)
    except FileRejected as exc:
        outcome = ("rejected", exc.reason)
    Path(result).write_bytes(pickle.dumps(outcome))


def _read(path: Path, container: str, sheet: str | None, out_path: Path | None, unsaved: set) -> tuple:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        names = list(book.sheet_names)
        if out_path is None:
            return ("sheets", names)
        if sheet is None:
            if len(names) != 1:
                raise FileRejected(f"workbook with {len(names)} sheets where one was expected")
            sheet = names[0]
        diverted: list[tuple[int, str, str]] = []
        rows = _rows(book.get_sheet_by_name(sheet), unsaved, diverted)
        numbered = write_numbered_rows(rows, out_path)
    except FileRejected:
        raise
    except MemoryError:
        raise FileRejected(f"unreadable {container.upper()} workbook: out of memory") from None
    except Exception as exc:  # noqa: BLE001 - calamine raises several error types for corrupt workbooks
        raise FileRejected(f"unreadable {container.upper()} workbook: {_reader_error(exc)}") from None
    if numbered is None:
        return ("empty",)
    return (
        "numbered",
        numbered.header,
        numbered.header_line,
        numbered.record_lines.tolist(),
        (numbered.record_offsets if numbered.record_offsets is not None else []).tolist(),
        diverted,
    )


def _reader_error(exc: Exception) -> str:
    """The reader's error as one short line, without quoted text (it may quote a cell)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    first = _QUOTED.sub("'…'", first)
    return f"{type(exc).__name__}: {first[:_MAX_ERROR_CHARS]}".rstrip(": ")


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_MAX_ERROR_CHARS = 160


def _rows(
    sheet, unsaved: set[tuple[int, int]], diverted: list[tuple[int, str, str]]
) -> Iterator[tuple[int, list[str]]]:
    """(sheet row number, cell texts) of the rows to number. A data row holding a formula whose
    value was not saved (`unsaved`) is diverted instead, with its reason and its text as a CSV
    line: the caller quarantines it (its cells are never read as the placeholder the file holds).
    In the header row such a cell is empty."""
    by_row: dict[int, list[int]] = {}
    for r, c in unsaved:
        by_row.setdefault(r, []).append(c)
    first_row, first_col = sheet.start if sheet.start else (0, 0)
    header_seen = False
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="")
    for offset, cells in enumerate(sheet.iter_rows()):
        row = first_row + offset + 1
        texts = [_cell_text(c) for c in cells]
        formulas = sorted(c for c in by_row.get(row, ()) if 0 <= c - 1 - first_col < len(texts))
        for c in formulas:
            texts[c - 1 - first_col] = ""
        if formulas and header_seen:
            cells_named = ", ".join(_cell_name(row, c) for c in formulas[:3])
            more = f" and {len(formulas) - 3} more" if len(formulas) > 3 else ""
            writer.writerow(texts)
            reason = (
                f"formula without a saved value in {cells_named}{more}: re-save the workbook in a spreadsheet"
            )
            diverted.append((row, reason, line.getvalue()))
            line.seek(0)
            line.truncate()
            continue
        header_seen = header_seen or any(texts)
        yield row, texts


def _cell_name(row: int, column: int) -> str:
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"


def _cell_text(value) -> str:
    """Spreadsheet cell as the text a CSV export would hold (times as ISO local wall time)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _SAFE_INT:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)
