"""Choosing a legacy (non-Unicode) encoding for bytes that are not UTF-8, from evidence only.

A bounded sample (the head plus the neighbourhood of the first bad byte) is ranked by
charset-normalizer; a CJK candidate must read as its script, a single-byte one needs enough
non-ASCII characters and agreeing near-best candidates (or to be the only Western reading);
UTF-8 mixed in is refused. `Plausibility` then checks the whole file as it is decoded. See
decoding.py for the full detection order.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import TYPE_CHECKING

from aftersales.ingest.errors import FileRejected

if TYPE_CHECKING:
    from aftersales.ingest.decoding import Sniff

# Characters a Chinese export legitimately contains beyond ASCII: CJK ideographs and
# punctuation, full-width forms, and the curly quotes / dashes of Chinese typography.
_CJK = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3100-\u312f\u31a0-\u31bf\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u00b7\u2014\u2018\u2019\u201c\u201d\u2026]"
)
_NON_ASCII = re.compile("[^\x00-\x7f]")
_CONTROL_OR_PRIVATE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff]")
GB18030_MIN_CJK_SHARE = 0.6


# Evidence for a legacy (non-Unicode) encoding: bytes sampled from the head and around the first
# byte that is not UTF-8, the least number of non-ASCII characters to judge from, how far below the
# best candidate's mess ratio (charset-normalizer "chaos") another candidate counts as a rival, the
# share of valid multi-byte sequences above which non-UTF-8 bytes are damage to UTF-8 text, and the
# number of valid ones that means UTF-8 mixed with another encoding.
SAMPLE_HEAD_BYTES = 256 << 10
SAMPLE_WINDOW_BYTES = 64 << 10
MIN_LEGACY_EVIDENCE = 4
CANDIDATE_CHAOS_MARGIN = 0.02
CORRUPT_UTF8_SHARE = 0.8
MIXED_MIN_UTF8 = 2  # UTF-8 letters (`_UTF8_SEQUENCE`) that rule out a single-byte encoding
# Multi-byte CJK encodings (Python codec names as charset-normalizer reports them) and the script
# their text must read as; GBK / GB2312 are subsets of GB18030, which is used for them.
_CJK_ENCODINGS = {
    "gb18030": "chinese",
    "gbk": "chinese",
    "gb2312": "chinese",
    "big5": "chinese",
    "big5hkscs": "chinese",
    "cp950": "chinese",
    "shift_jis": "japanese",
    "cp932": "japanese",
    "euc_jp": "japanese",
    "shift_jis_2004": "japanese",
    "shift_jisx0213": "japanese",
    "euc_jis_2004": "japanese",
    "euc_jisx0213": "japanese",
    "euc_kr": "korean",
    "cp949": "korean",
    "johab": "korean",
}
_SCRIPTS = {
    "chinese": _CJK,
    "japanese": re.compile(_CJK.pattern[:-1] + "\u3040-\u30ff\u31f0-\u31ff]"),
    "korean": re.compile(_CJK.pattern[:-1] + "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"),
}
# UTF-8 of the characters Western text is made of (Latin-1 letters and signs, Œ/Š/Ž, and the
# curly quotes, dashes and ellipsis of U+2010-U+203F), as raw bytes. Read as a single-byte
# encoding these are the mojibake pairs "Ã©", "Â ", "â€™": never written on purpose, so in text
# chosen as single-byte they mean UTF-8 rows merged in. (A legitimate "É’", bytes C9 92, is not one.)
_UTF8_SEQUENCE = re.compile(rb"[\xc2\xc3\xc5][\x80-\xbf]|\xe2\x80[\x80-\xbf]")
_HALFWIDTH_KANA = re.compile("[\uff61-\uff9f]")
# What Windows-1252 text of Western names and products holds beyond ASCII: Latin letters, and
# signs / typographic punctuation that are never glued inside a word ("£ukasz", "Żółć" read as
# "¯ó³æ": cp1250 text read as cp1252) nor a currency sign directly before a letter.
_LATIN_LETTERS = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e"
_LATIN = "A-Za-z" + _LATIN_LETTERS
_MARKS = "\u00a0-\u00bf\u20ac\u2013\u2014\u2018-\u201e\u2022\u2026\u2122"
# Marks that never sit between two letters (not: no-break space, soft hyphen, middle dot, ’).
_INNER_MARKS = (
    "\u00a1-\u00ac\u00ae-\u00b6\u00b8-\u00bf\u20ac\u2013\u2014\u2018\u201a-\u201e\u2022\u2026\u2122"
)
_WESTERN = re.compile(f"[{_LATIN_LETTERS}{_MARKS}]")
_GLUED_MARK = re.compile(f"[{_LATIN}][{_INNER_MARKS}][{_LATIN}]|[\u00a2-\u00a5\u20ac][{_LATIN}]")


def sample_for_detection(path: Path, head: bytes, bad_at: int) -> tuple[bytes, int, int]:
    """(sample, length of its head part, file offset of the rest): the head, plus a window
    starting at a line start before the first non-UTF-8 byte when that lies beyond the head
    (0x0A is never a trail byte of the legacy multi-byte encodings)."""
    if bad_at < len(head):
        return head, len(head), len(head)
    start = max(0, bad_at - SAMPLE_WINDOW_BYTES // 2)
    with open(path, "rb") as fh:
        fh.seek(start)
        window = fh.read(SAMPLE_WINDOW_BYTES)
    cut = window.find(b"\n")
    if 0 <= cut < SAMPLE_WINDOW_BYTES // 2:
        window, start = window[cut + 1 :], start + cut + 1
    kept = head[: head.rfind(b"\n") + 1]
    return kept + window, len(kept), start


def legacy_encoding(sampled: tuple[bytes, int, int], utf8_error: str) -> tuple[str | None, str | None]:
    """(encoding, None) when the evidence names one encoding beyond doubt, else (None, reason)."""
    sample, head_len, window_at = sampled
    not_utf8 = f"undecodable bytes: not UTF-8 ({utf8_error})"
    text = sample.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    valid = len(_NON_ASCII.findall(text)) - bad
    if valid >= CORRUPT_UTF8_SHARE * (valid + bad):
        return None, (
            f"{not_utf8}: corrupted UTF-8 ({valid} valid and {bad} invalid multi-byte sequences "
            "in the sample), not another encoding"
        )
    try:
        gb18030 = codecs.getincrementaldecoder("gb18030")("strict").decode(sample, final=False)
        not_gb = "not plausible GB18030 text" if not _reads_as(gb18030, "chinese") else "not GB18030"
    except UnicodeDecodeError as exc:
        at = exc.start if exc.start < head_len else window_at + exc.start - head_len
        not_gb = f"not GB18030 (byte 0x{sample[exc.start]:02X} at offset {at})"

    from charset_normalizer import from_bytes  # only for files that are not UTF-8

    matches = list(from_bytes(sample))
    best = min((m.chaos for m in matches), default=0.0)
    # A match stands for every encoding giving the same text (`could_be_from_charset`).
    rivals = list(
        dict.fromkeys(
            enc
            for m in matches
            if m.chaos <= best + CANDIDATE_CHAOS_MARGIN
            for enc in (m.encoding, *m.could_be_from_charset)
        )
    )
    named = (", ".join(rivals[:5]) + (", ..." if len(rivals) > 5 else "")) if rivals else "none"
    doubt = f"{not_utf8} and {not_gb}; encoding not certain (candidates: {named})"
    texts = {enc: t for enc in rivals if (t := _strict_text(sample, enc)) is not None}
    top = rivals[0] if rivals else ""
    if top in _CJK_ENCODINGS:
        # The detector's best reading is CJK: use it only when the text reads as that script.
        if top in texts and _reads_as(texts[top], _CJK_ENCODINGS[top]):
            return ("gb18030" if top in ("gbk", "gb2312") else top), None
        return None, doubt
    if (merged := len(_UTF8_SEQUENCE.findall(sample))) >= MIXED_MIN_UTF8:
        # UTF-8 letters next to bytes that are not UTF-8: e.g. files merged by a script.
        return None, (
            f"{not_utf8}: mixed encodings ({merged} UTF-8 characters next to {bad} bytes "
            f"that are not UTF-8; candidates for the rest: {named})"
        )
    single = {
        enc: t for enc, t in texts.items() if enc not in _CJK_ENCODINGS and not _CONTROL_OR_PRIVATE.search(t)
    }
    if not single:
        return None, doubt
    evidence = len(_NON_ASCII.findall(next(iter(single.values()))))
    if evidence < MIN_LEGACY_EVIDENCE:
        return None, f"{doubt}: too little text to tell ({evidence} non-ASCII characters)"
    if len(set(single.values())) == 1 and len(single) == len(rivals):
        return ("cp1252" if "cp1252" in single else next(iter(single))), None
    western = single.get("cp1252")
    if western is not None and _is_western(western):
        if not any(_is_western(t) for t in single.values() if t != western):
            return "cp1252", None  # the only candidate reading that is Western European text
    return None, doubt


def _is_western(text: str) -> bool:
    return all(_WESTERN.fullmatch(c) for c in _NON_ASCII.findall(text)) and not _GLUED_MARK.search(text)


def _strict_text(sample: bytes, encoding: str) -> str | None:
    """The sample decoded strictly (a character cut at the sample's end is not an error)."""
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=False)
    except (UnicodeDecodeError, LookupError):
        return None


def _reads_as(text: str, script: str) -> bool:
    """Text in a CJK encoding is plausible when most non-ASCII characters are of its script (half-
    width katakana, what mis-decoded UTF-8 looks like in Shift-JIS, not counting) and none is a
    control or private-use character."""
    non_ascii = len(_NON_ASCII.findall(text))
    if not non_ascii or _CONTROL_OR_PRIVATE.search(text):
        return False
    native = len(_SCRIPTS[script].findall(text)) - len(_HALFWIDTH_KANA.findall(text))
    return native / non_ascii >= GB18030_MIN_CJK_SHARE


class Plausibility:
    """Legacy encodings decode many byte strings: accept the whole file only when it reads as
    text in that encoding (no control or private-use characters; CJK encodings: mostly CJK;
    single-byte encodings: no run of valid UTF-8 sequences, i.e. UTF-8 rows merged in beyond the
    sample the encoding was chosen from)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.script = _SCRIPTS.get(_CJK_ENCODINGS.get(encoding, ""))
        self.non_ascii = 0
        self.native = 0
        self.control = False
        self.utf8_sequences = 0

    def feed(self, text: str, raw: bytes) -> None:
        if self.script is not None:
            self.non_ascii += len(_NON_ASCII.findall(text))
            self.native += len(self.script.findall(text)) - len(_HALFWIDTH_KANA.findall(text))
        elif self.utf8_sequences < MIXED_MIN_UTF8:
            self.utf8_sequences += len(_UTF8_SEQUENCE.findall(raw))
        self.control = self.control or bool(_CONTROL_OR_PRIVATE.search(text))

    def verdict(self, found: Sniff) -> None:
        if self.utf8_sequences >= MIXED_MIN_UTF8:
            raise FileRejected(
                f"undecodable bytes: not UTF-8 ({found.utf8_error}) and not {self.encoding} throughout: "
                "mixed encodings (valid UTF-8 characters further on)"
            )
        share = self.native / self.non_ascii if self.non_ascii else 1.0
        if self.control or share < GB18030_MIN_CJK_SHARE:
            name = "GB18030" if self.encoding == "gb18030" else self.encoding
            script = f"{share:.0%} CJK characters" if self.script is not None else "decoded"
            raise FileRejected(
                f"undecodable bytes: not UTF-8 ({found.utf8_error}) and not plausible {name} text "
                f"({script}{', control characters' if self.control else ''})"
            )
