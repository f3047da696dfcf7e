"""Keyed buyer pseudonyms: HMAC-SHA256(key, normalised "Buyer Username"), hex.

The same buyer gets the same pseudonym in every batch as long as the key is stable (see
`aftersales.settings.pseudonym_key`), which is what repeat-claim analysis needs; without the key
a pseudonym cannot be linked back to a username. The HMAC is computed inside DuckDB
(RFC 2104 with the built-in SHA-256), in the same SELECT that reads the export, so usernames
are never materialised in any table, temporary or not. The padded keys are session variables
of the connection, never part of a stored table or of the SQL text.

Normalisation: Unicode NFC, trimmed, leading "@" removed, lower case.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

_BLOCK = 64  # SHA-256 block size
_TRIMMED = " \t\r\n\u00a0\ufeff"


def normalise_username(username: str) -> str:
    return unicodedata.normalize("NFC", username).strip(_TRIMMED).lstrip("@").lower()


def buyer_pseudonym(key: bytes, username: str) -> str | None:
    """Reference implementation (Python) of the SQL expression below."""
    norm = normalise_username(username)
    if not norm:
        return None
    return hmac.new(key, norm.encode("utf-8"), hashlib.sha256).hexdigest()


def install_pseudonym_key(con, key: bytes) -> None:
    """Store the HMAC inner/outer padded keys as session variables of this connection."""
    if not key:
        raise ValueError("empty pseudonym key")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\x00")
    con.execute("SET VARIABLE pseudonym_ipad = $1::BLOB", [bytes(b ^ 0x36 for b in padded)])
    con.execute("SET VARIABLE pseudonym_opad = $1::BLOB", [bytes(b ^ 0x5C for b in padded)])


def pseudonym_sql(expr: str) -> str:
    """SQL expression: the pseudonym of the username in `expr`, NULL when it is empty."""
    norm = f"NULLIF(lower(ltrim(as_text(nfc_normalize({expr})), '@')), '')"
    return (
        f"CASE WHEN {norm} IS NULL THEN NULL ELSE sha256(getvariable('pseudonym_opad') || "
        f"unhex(sha256(getvariable('pseudonym_ipad') || encode({norm})))) END"
    )
