"""Byte-level facts about an inbox file: fingerprint, container, text encoding, and a UTF-8 stream.

Detection order (contract §2): a byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32); else a
file without NUL bytes that decodes as strict UTF-8 is UTF-8; else GB18030 when it decodes
cleanly *and* reads like Chinese text (mostly CJK among the non-ASCII characters, no control or
private-use characters). NUL bytes without a BOM mean UTF-16 without BOM when the NULs sit in
every other byte of ASCII text, otherwise a binary file. Anything else is rejected with the
offset of the first bad byte. Files are read in chunks: memory stays flat on large exports.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aftersales.ingest.errors import FileRejected

CHUNK_BYTES = 8 << 20

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: same first two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")

# Characters a Chinese export legitimately contains beyond ASCII: CJK ideographs and
# punctuation, full-width forms, and the curly quotes / dashes of Chinese typography.
_CJK = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3100-\u312f\u31a0-\u31bf\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u00b7\u2014\u2018\u2019\u201c\u201d\u2026]"
)
_NON_ASCII = re.compile("[^\x00-\x7f]")
_CONTROL_OR_PRIVATE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff]")
GB18030_MIN_CJK_SHARE = 0.6


@dataclass(frozen=True)
class Sniff:
    sha256: str
    size: int
    container: str  # "text", "xlsx", "xls"
    encoding: str | None  # for text: utf-8, utf-8-sig, utf-16-le, ... ; "xlsx"/"xls" otherwise
    bom_length: int = 0
    problem: str | None = None  # why the file cannot be read, if known from its bytes alone
    utf8_error: str | None = None  # why strict UTF-8 failed, for the GB18030 fallback message
    cr_newlines: bool = False  # classic-Mac line ends (CR only): read as LF


def sniff(path: Path) -> Sniff:
    """One streaming pass: SHA-256, size, container, BOM, NUL bytes and strict-UTF-8 validity."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    nul_at: int | None = None
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_error: str | None = None
    check_text = True
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            if size == 0:
                head = chunk[:4096]
                check_text = not (head.startswith((_ZIP_MAGIC, _OLE2_MAGIC)) or _bom(head)[1] > 0)
            digest.update(chunk)
            if check_text:
                if nul_at is None and (i := chunk.find(b"\x00")) >= 0:
                    nul_at = size + i
                if utf8_error is None:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError as exc:
                        utf8_error = _describe_bad_byte(chunk, exc, size)
            size += len(chunk)
    if check_text and utf8_error is None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_error = f"truncated multi-byte character at the end (offset {size})"
    sha = digest.hexdigest()

    if size == 0:
        return Sniff(sha, size, "text", None, problem="empty file: 0 bytes")
    if head.startswith(_ZIP_MAGIC):
        return Sniff(sha, size, "xlsx", "xlsx")
    if head.startswith(_OLE2_MAGIC):
        return Sniff(sha, size, "xls", "xls")
    encoding, bom_length = _bom(head)
    if encoding:
        return Sniff(sha, size, "text", encoding, bom_length)
    if nul_at is not None:
        guessed = _bomless_utf16(head)
        if guessed:
            return Sniff(sha, size, "text", guessed)
        return Sniff(
            sha,
            size,
            "text",
            None,
            problem=f"binary file: NUL byte at offset {nul_at} (not a CSV or XLSX export)",
        )
    cr_only = b"\n" not in head and b"\r" in head
    if utf8_error is None:
        return Sniff(sha, size, "text", "utf-8", cr_newlines=cr_only)
    return Sniff(sha, size, "text", "gb18030", utf8_error=utf8_error, cr_newlines=cr_only)


def _bom(head: bytes) -> tuple[str | None, int]:
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    return None, 0


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 without BOM: the header row is ASCII, so up to its first newline every character
    is one ASCII byte and one NUL byte (NUL second in little-endian, first in big-endian)."""
    for encoding, newline, ascii_at in (("utf-16-le", b"\n\x00", 0), ("utf-16-be", b"\x00\n", 1)):
        end = head.find(newline)
        while end >= 0 and end % 2:
            end = head.find(newline, end + 1)
        segment = head[: end if end > 0 else 64]
        segment = segment[: len(segment) // 2 * 2]
        if len(segment) < 8:
            continue
        chars, nuls = segment[ascii_at::2], segment[1 - ascii_at :: 2]
        if nuls.count(0) == len(nuls) and 0 not in chars and max(chars) < 0x80:
            return encoding
    return None


def _describe_bad_byte(chunk: bytes, exc: UnicodeDecodeError, offset: int) -> str:
    return f"byte 0x{chunk[exc.start]:02X} at offset {offset + exc.start}"


def utf8_chunks(path: Path, found: Sniff) -> Iterator[bytes]:
    """The file's text re-encoded as UTF-8 (no BOM), streamed in chunks.

    UTF-8 input is passed through unchanged (already validated by `sniff`). Other encodings are
    decoded strictly; a decoding error or, for GB18030, text that does not read as Chinese raises
    FileRejected. Classic-Mac files (CR-only line ends) get LF line ends.
    """
    if found.cr_newlines:
        yield from (chunk.replace(b"\r", b"\n") for chunk in _decoded(path, found))
        return
    yield from _decoded(path, found)


def _decoded(path: Path, found: Sniff) -> Iterator[bytes]:
    encoding = found.encoding
    if encoding in ("utf-8", "utf-8-sig"):
        with open(path, "rb") as fh:
            fh.seek(found.bom_length)
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk
        return

    decoder = codecs.getincrementaldecoder(encoding)("strict")
    stats = _Gb18030Plausibility() if encoding == "gb18030" else None
    offset = 0
    first = True
    with open(path, "rb") as fh:
        fh.seek(found.bom_length)
        while True:
            chunk = fh.read(CHUNK_BYTES)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                raise FileRejected(_undecodable(found, encoding, chunk, exc, offset)) from None
            if first and text.startswith("\ufeff"):
                text = text[1:]  # GB18030 / BOM-less UTF-16 byte-order mark
            first = False
            if "\x00" in text:
                raise FileRejected(
                    f"binary file: NUL character in {encoding} text (not a CSV or XLSX export)"
                )
            if stats is not None:
                stats.feed(text)
            if text:
                yield text.encode("utf-8")
            offset += len(chunk)
            if final:
                break
    if stats is not None:
        stats.verdict(found)


def _undecodable(found: Sniff, encoding: str, chunk: bytes, exc: UnicodeDecodeError, offset: int) -> str:
    if encoding == "gb18030":
        return (
            f"undecodable bytes: not UTF-8 ({found.utf8_error}) and not GB18030 "
            f"(byte 0x{chunk[exc.start]:02X} at offset {offset + exc.start + found.bom_length})"
        )
    return f"undecodable bytes: invalid {encoding} at offset {offset + exc.start + found.bom_length}"


class _Gb18030Plausibility:
    """GB18030 decodes many byte strings: accept it only when the result reads as Chinese."""

    def __init__(self) -> None:
        self.non_ascii = 0
        self.cjk = 0
        self.control = False

    def feed(self, text: str) -> None:
        self.non_ascii += len(_NON_ASCII.findall(text))
        self.cjk += len(_CJK.findall(text))
        self.control = self.control or bool(_CONTROL_OR_PRIVATE.search(text))

    def verdict(self, found: Sniff) -> None:
        share = self.cjk / self.non_ascii if self.non_ascii else 1.0
        if self.control or share < GB18030_MIN_CJK_SHARE:
            raise FileRejected(
                f"undecodable bytes: not UTF-8 ({found.utf8_error}) and not plausible GB18030 text "
                f"({share:.0%} CJK characters{', control characters' if self.control else ''})"
            )
