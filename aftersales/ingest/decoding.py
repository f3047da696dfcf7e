"""Byte-level facts about an inbox file: fingerprint, container, text encoding, and a UTF-8 stream.

Detection order (contract §2): a byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32); else a
file without NUL bytes that decodes as strict UTF-8 is UTF-8 (the fast path: no detector runs);
NUL bytes without a BOM mean UTF-16 without BOM when the NULs sit in every other byte of ASCII
text, otherwise a binary file. Bytes that fail strict UTF-8 are decided with evidence, from a
bounded sample (the head plus the neighbourhood of the first bad byte), never by trying codecs
until one does not fail:

- text that is almost all valid UTF-8 is corrupted UTF-8, not another encoding: rejected;
- charset-normalizer ranks the candidates; when its best is a CJK encoding (GB18030 for GBK /
  GB2312, Big5, Shift-JIS, EUC-KR, ...), it is used only if the text reads as that script (mostly
  CJK / kana / Hangul among the non-ASCII characters, no control or private-use characters);
- UTF-8 letters next to non-UTF-8 bytes are mixed encodings (files merged by a script): rejected;
- a single-byte encoding (cp1252, cp1251, ...) is used only with at least `MIN_LEGACY_EVIDENCE`
  non-ASCII characters, and when the near-best candidates agree on the text, or cp1252 is the
  only one of them that reads as Western European text.
  Anything doubtful is rejected naming the candidates: a mis-decoded name would be staged (and
  pseudonymised) as a different person.

The chosen encoding is then checked on the whole file while it is decoded (strictly, and with the
same plausibility test). Line ends: a text whose decoded head holds CRs but no LF (classic Mac)
is read with CR as the line end, whatever its encoding or BOM. Files are read in chunks: memory
stays flat on large exports.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aftersales.ingest.errors import FileRejected
from aftersales.ingest.legacy_encoding import (
    SAMPLE_HEAD_BYTES,
    Plausibility,
    legacy_encoding,
    sample_for_detection,
)

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


@dataclass(frozen=True)
class Sniff:
    sha256: str
    size: int
    container: str  # "text", "xlsx", "xls"
    encoding: str | None  # for text: utf-8, utf-8-sig, utf-16-le, ... ; "xlsx"/"xls" otherwise
    bom_length: int = 0
    problem: str | None = None  # why the file cannot be read, if known from its bytes alone
    utf8_error: str | None = None  # why strict UTF-8 failed, for the legacy-encoding messages
    cr_newlines: bool = False  # classic-Mac line ends (CR only): read as LF
    sheet: str | None = None  # workbooks: the sheet this ledger entry reads (None: the only one)


def sniff(path: Path) -> Sniff:
    """One streaming pass: SHA-256, size, container, BOM, NUL bytes and strict-UTF-8 validity."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    nul_at: int | None = None
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_error: str | None = None
    bad_at = 0
    check_text = True
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            if size == 0:
                head = chunk[:SAMPLE_HEAD_BYTES]
                # Text is checked byte by byte unless a BOM names a decoder that checks it (UTF-16
                # and UTF-32 are decoded strictly later); UTF-8 with a BOM is passed through, so
                # it is validated here like UTF-8 without one.
                check_text = not (
                    head.startswith((_ZIP_MAGIC, _OLE2_MAGIC)) or _bom(head)[0] not in (None, "utf-8-sig")
                )
            digest.update(chunk)
            if check_text:
                if nul_at is None and (i := chunk.find(b"\x00")) >= 0:
                    nul_at = size + i
                if utf8_error is None:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError as exc:
                        utf8_error = _describe_bad_byte(chunk, exc, size)
                        bad_at = size + exc.start
            size += len(chunk)
    if check_text and utf8_error is None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_error = f"truncated multi-byte character at the end (offset {size})"
            bad_at = size
    sha = digest.hexdigest()

    if size == 0:
        return Sniff(sha, size, "text", None, problem="empty file: 0 bytes")
    if head.startswith(_ZIP_MAGIC):
        return Sniff(sha, size, "xlsx", "xlsx")
    if head.startswith(_OLE2_MAGIC):
        return Sniff(sha, size, "xls", "xls")
    encoding, bom_length = _bom(head)
    if encoding == "utf-8-sig" and (nul_at is not None or utf8_error is not None):
        problem = (
            f"binary file: NUL byte at offset {nul_at} (not a CSV or XLSX export)"
            if nul_at is not None
            else f"undecodable bytes: UTF-8 byte-order mark, but not UTF-8 ({utf8_error})"
        )
        return Sniff(sha, size, "text", None, bom_length, problem=problem, utf8_error=utf8_error)
    if encoding:
        return Sniff(
            sha, size, "text", encoding, bom_length, cr_newlines=_cr_only(head[bom_length:], encoding)
        )
    if nul_at is not None:
        guessed = _bomless_utf16(head)
        if guessed:
            return Sniff(sha, size, "text", guessed, cr_newlines=_cr_only(head, guessed))
        return Sniff(
            sha,
            size,
            "text",
            None,
            problem=f"binary file: NUL byte at offset {nul_at} (not a CSV or XLSX export)",
        )
    if utf8_error is None:
        return Sniff(sha, size, "text", "utf-8", cr_newlines=_cr_only(head, "utf-8"))
    encoding, problem = legacy_encoding(sample_for_detection(path, head, bad_at), utf8_error)
    if problem:
        return Sniff(sha, size, "text", None, problem=problem, utf8_error=utf8_error)
    return Sniff(sha, size, "text", encoding, utf8_error=utf8_error, cr_newlines=_cr_only(head, encoding))


def _cr_only(head: bytes, encoding: str) -> bool:
    """Classic-Mac line ends: the decoded head holds a CR and no LF (decoded, so that UTF-16's
    two-byte CR is seen, and a GB18030 / Shift-JIS trail byte is never taken for a newline)."""
    text = codecs.getincrementaldecoder(encoding)("ignore").decode(head, final=False)
    return "\n" not in text and "\r" in text


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
    decoded strictly; a decoding error or, for a legacy encoding, text that is not plausible in it
    (control characters; for CJK encodings, not mostly that script) raises FileRejected.
    Classic-Mac files (CR-only line ends) get LF line ends.
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
    stats = None if encoding.startswith("utf-") else Plausibility(encoding)
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
                stats.feed(text, chunk)
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
