"""The read floor: DuckDB reading every input file of an inbox once, nothing else.

Per file, one `SELECT count(*) FROM read_csv(...)` with every column VARCHAR (the CSV sniffer
picks the dialect; malformed lines are skipped, not fatal). DuckDB reads UTF-8 only, so the few
other files are first transcoded to a UTF-8 CSV in a scratch folder the way ingestion does:
UTF-16 and GB18030 with Python's codecs, XLSX with python-calamine (first sheet). Transcoding
time is part of the floor and reported separately. Finding those files (BOM / zip magic, and a
strict UTF-8 check for BOM-less GB18030) is a separate untimed pre-pass, so the floor is as low
as it can honestly be and the pipeline/floor ratio errs against the pipeline. The ratio pipeline time / floor time says
how much work the batch does beyond merely reading its inputs.
"""

from __future__ import annotations

import codecs
import csv
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

_ZIP_MAGIC = b"PK\x03\x04"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CHUNK = 8 << 20


@dataclass
class FloorResult:
    files: int = 0
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    transcoded: dict[str, int] = field(default_factory=dict)  # source format -> files
    transcode_seconds: float = 0.0
    detect_seconds: float = 0.0  # untimed pre-pass (not part of `seconds`)
    per_file: list[tuple[str, str, int, float]] = field(default_factory=list)  # path, format, rows, s


def _transcode_text(path: Path, encoding: str, out: Path) -> None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    with open(path, "rb") as src, open(out, "wb") as dst:
        while chunk := src.read(_CHUNK):
            dst.write(decoder.decode(chunk).lstrip("\ufeff").encode("utf-8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))


def _transcode_xlsx(path: Path, out: Path) -> None:
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    with open(out, "w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst)
        for row in sheet.iter_rows():
            writer.writerow(["" if c is None else c for c in row])


def _count_sql(path: Path) -> str:
    quoted = str(path).replace("'", "''")
    return (
        f"SELECT count(*) FROM read_csv('{quoted}', all_varchar = true, header = true, delim = ',', "
        "quote = '\"', escape = '\"', ignore_errors = true, null_padding = true, strict_mode = false, "
        "max_line_size = 1048576)"
    )


def source_format(path: Path) -> str:
    """utf-8, utf-16, gb18030 or xlsx: what DuckDB can read directly, and what needs transcoding."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    with open(path, "rb") as fh:
        first = True
        while chunk := fh.read(_CHUNK):
            if first and chunk.startswith(_ZIP_MAGIC):
                return "xlsx"
            if first and chunk.startswith(_UTF16_BOMS):
                return "utf-16"
            first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "gb18030"
    return "utf-8"


def read_floor(inbox: Path, scratch: Path | None = None, threads: int | None = None) -> FloorResult:
    """Read every file under `inbox` once with DuckDB (transcoding the few non-UTF-8 ones first)."""
    inbox = Path(inbox)
    paths = sorted(p for p in inbox.rglob("*") if p.is_file())
    result = FloorResult()
    t0 = time.perf_counter()
    formats = [source_format(p) for p in paths]
    result.detect_seconds = round(time.perf_counter() - t0, 3)
    tmp = Path(tempfile.mkdtemp(prefix="floor-", dir=scratch))
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    started = time.perf_counter()
    try:
        for i, (path, fmt) in enumerate(zip(paths, formats, strict=True)):
            t0 = time.perf_counter()
            target = path
            if fmt == "xlsx":
                target = tmp / f"{i}.csv"
                _transcode_xlsx(path, target)
            elif fmt != "utf-8":
                target = tmp / f"{i}.csv"
                _transcode_text(path, fmt, target)
            rows = con.execute(_count_sql(target)).fetchone()[0]
            seconds = time.perf_counter() - t0
            if fmt != "utf-8":
                result.transcoded[fmt] = result.transcoded.get(fmt, 0) + 1
                result.transcode_seconds += seconds
            result.per_file.append((path.relative_to(inbox).as_posix(), fmt, rows, round(seconds, 4)))
            result.files += 1
            result.rows += rows
            result.bytes += path.stat().st_size
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(time.perf_counter() - started, 3)
    result.transcode_seconds = round(result.transcode_seconds, 3)
    return result


def warm_page_cache(inbox: Path) -> int:
    """Read every file once (untimed) so the floor and the pipeline both start from a warm cache."""
    total = 0
    for path in sorted(Path(inbox).rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    total += len(chunk)
    return total
