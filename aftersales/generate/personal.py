"""Read the personal values back out of a generated inbox.

Another stage's tests scan every warehouse text column for these values to prove that no
personal data is stored in clear. Reading them back from the files (rather than remembering
them while generating) keeps the check honest about what the exports really contain.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from python_calamine import CalamineWorkbook

from aftersales.generate.chats import GENERIC_CONTENT
from aftersales.generate.exports import ORDER_COLUMNS, PERSONAL_HEADERS

_PERSONAL_KEYS = {" ".join(h.lower().split()) for h in PERSONAL_HEADERS}
_DESCRIPTIONS = {c.description for c in ORDER_COLUMNS}


def personal_values(inbox: Path, *, min_length: int = 3) -> set[str]:
    """Every distinct value found under a personal-data header anywhere in the inbox.

    Left out, because they identify nobody and would match unrelated text: values shorter
    than `min_length`, bare greetings and media placeholders ("hi", "[Image]"), and purely
    numeric values under six digits (a bare postcode such as "10330"). Pass `min_length=1`
    for the raw set.
    """
    found: set[str] = set()
    for path in sorted(Path(inbox).rglob("*")):
        if not path.is_file() or path.name == "shops.csv":
            continue
        for row in _rows(path):
            found.update(row)
    if min_length <= 1:
        return found
    return {
        v
        for v in found
        if len(v) >= min_length
        and v not in GENERIC_CONTENT
        and v not in _DESCRIPTIONS
        and not (v.isdigit() and len(v) < 6)
    }


def _rows(path: Path):
    """Values of the personal columns of each data row (any supported encoding or XLSX)."""
    table = _read_table(path)
    if not table:
        return
    header = [" ".join(str(h).replace("\ufeff", "").lower().split()) for h in table[0]]
    wanted = [i for i, h in enumerate(header) if h in _PERSONAL_KEYS]
    if not wanted:
        return
    for row in table[1:]:
        yield [str(row[i]).strip() for i in wanted if i < len(row) and row[i] not in (None, "")]


def _read_table(path: Path) -> list[list]:
    data = path.read_bytes()
    if data[:2] == b"PK":
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        return sheet.to_python(skip_empty_area=False)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
    return list(csv.reader(io.StringIO(text, newline="")))
