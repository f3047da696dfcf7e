"""The `raw` of a quarantined row: the record as JSON, personal data masked.

Keys are the contract headers of the columns the file has (in file order); values are the text
as written. Personal-data columns (contract §2.2 and message "Content", plus "Seller Note")
show "***" when they held a value. Columns the contract does not know are left out: they could
hold personal data nobody has classified.

For a record DuckDB could not split into the header's fields, the fields are mapped by
position; when the field count is off, every field from the first position where a personal
value could have shifted to is masked, so misalignment cannot leak personal data.
"""

from __future__ import annotations

import csv
import io
import json

from aftersales.ingest.kinds import PERSONAL_TYPES, Kind
from aftersales.ingest.typing_sql import source_column, sql_literal

MASK = "***"
MAX_RAW_VALUE_CHARS = 500


def masked_raw_sql(kind: Kind, positions: dict[str, tuple[int, ...]]) -> str:
    """DuckDB expression over `src` (a numbered file) producing the masked JSON of a record."""
    items = []
    for header, pos in sorted(positions.items(), key=lambda item: item[1][0]):
        value = f"src.{source_column(pos[0])}"
        if kind.by_header[header].type in PERSONAL_TYPES:
            value = f"CASE WHEN NULLIF(trim({value}), '') IS NULL THEN NULL ELSE '{MASK}' END"
        else:
            value = f"left({value}, {MAX_RAW_VALUE_CHARS})"
        items.append(f"{sql_literal(header)}: {value}")
    return "to_json({" + ", ".join(items) + "})" if items else "'{}'"


def masked_raw_from_line(
    kind: Kind, positions: dict[str, tuple[int, ...]], header_width: int, csv_line: str
) -> str:
    """Masked JSON of a malformed record given as text (its `__line` prefix removed)."""
    try:
        fields = next(csv.reader(io.StringIO(csv_line)), [])
    except csv.Error:
        fields = [csv_line]
    shift = abs(len(fields) - header_width)
    personal = [p[0] for h, p in positions.items() if kind.by_header[h].type in PERSONAL_TYPES]
    unsafe_from = min(personal) - shift if personal else len(fields) + header_width
    out: dict[str, str | None] = {}
    for header, pos in sorted(positions.items(), key=lambda item: item[1][0]):
        i = pos[0]
        if i >= len(fields):
            continue
        value = fields[i]
        if kind.by_header[header].type in PERSONAL_TYPES or (shift and i >= unsafe_from):
            out[header] = MASK if value.strip() else None
        else:
            out[header] = value[:MAX_RAW_VALUE_CHARS]
    out["__fields"] = str(len(fields))
    return json.dumps(out, ensure_ascii=False)
