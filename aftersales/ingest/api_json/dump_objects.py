"""From JSON dump files to one row per API record (`api_items`), with DuckDB's JSON functions.

A file is read with `read_text` and parsed by DuckDB (`json_valid`, `json_extract`): either one
JSON document (a response body, or an array of bodies/records) or JSON Lines (one body, record or
webhook per line). Which of the two is decided by the content, never by the name: a text that is
valid JSON as a whole is a document; otherwise it is JSON Lines when its first non-blank line is
a JSON value, and a malformed file when not. In JSON Lines every invalid line is quarantined on
its own, with its physical line.

Each top-level object is an error page (`code` present and not 0: the whole file is skipped), a
response body (its `data` key holding the list names the record shape), a webhook
(`tts_notification_id` + `data`) or a single record recognised by its own keys.
"""

from __future__ import annotations

import os

from aftersales.ingest.ledger import LedgerEntry
from aftersales.ingest.quarantine import looks_personal
from aftersales.sql_quoting import sql_literal

# The `data` key holding a response's list -> the shape of its records.
LIST_SHAPES = {
    "return_orders": "return_order",
    "records": "return_record",
    "cancellations": "cancellation",
    "orders": "order",
    "messages": "message",
}
# Webhook `type` -> the record shape its `data` is a status change of.
WEBHOOK_SHAPES = {"12": "return_webhook", "11": "cancellation_webhook"}

# A single record is recognised by keys only its shape has (first match wins).
_RECORD_SHAPE_SQL = """CASE
    WHEN json_type(r) <> 'OBJECT' THEN NULL
    WHEN json_exists(r, '$.return_status') OR (json_exists(r, '$.return_id') AND json_exists(r, '$.return_type'))
        THEN 'return_order'
    WHEN json_exists(r, '$.event') AND json_exists(r, '$.role') THEN 'return_record'
    WHEN json_exists(r, '$.cancel_id') THEN 'cancellation'
    WHEN json_exists(r, '$.line_items') OR (json_exists(r, '$.id') AND json_exists(r, '$.payment')) THEN 'order'
    WHEN json_exists(r, '$.sender') OR (json_exists(r, '$.conversation_id') AND json_exists(r, '$.index'))
        THEN 'message'
    END"""

# Key names shown in a quarantined record's `raw`: plain API field names only (a key of a hostile
# file could be anything, personal data included).
_SAFE_KEY = "^[a-z][a-z0-9_]{0,39}$"
MAX_ERROR_MESSAGE_CHARS = 200


def create_item_tables(con) -> None:
    """`api_objects` (top-level JSON values per file) and `api_items` (one API record per row)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE api_objects (
               file INTEGER, obj_no BIGINT, line BIGINT, obj JSON)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE api_items (
               file INTEGER, ord BIGINT, line BIGINT, shape VARCHAR, ctx_id VARCHAR, rec JSON)"""
    )


def load_file(con, entry: LedgerEntry) -> list[tuple]:
    """Parse one file into `api_objects`; quarantine rows (q_rows layout) for what cannot be read.

    A file that cannot be read at all is skipped on its ledger entry (one file-scope row)."""
    i = entry.index
    try:
        content = _read_bytes(entry.path).decode("utf-8")
    except UnicodeDecodeError:
        entry.skip("API JSON: not UTF-8 text")
        return [(i, None, None, "file", None, entry.reason, None)]
    except OSError as exc:
        entry.skip(f"unreadable file: {exc.strerror or type(exc).__name__}")
        return [(i, None, None, "file", None, entry.reason, None)]
    # The text goes to DuckDB as a value (a file name is never a glob pattern); DuckDB parses it.
    con.execute("CREATE OR REPLACE TEMP TABLE api_text AS SELECT ltrim($1, chr(65279)) AS t", [content])
    del content
    whole = con.execute(
        "SELECT json_valid(t), CASE WHEN json_valid(t) THEN json_type(t::JSON) END, length(t) FROM api_text"
    ).fetchone()
    valid, top, size = whole
    if size == 0 or not con.execute("SELECT trim(t, ' \t\r\n') <> '' FROM api_text").fetchone()[0]:
        entry.skip("API JSON: empty file")
        return [(i, None, None, "file", None, entry.reason, None)]
    if valid:
        if top == "ARRAY":
            con.execute(
                f"""INSERT INTO api_objects
                    SELECT {i}, unnest(range(1, len(l) + 1)), NULL, unnest(l)
                    FROM (SELECT json_extract(t::JSON, '$[*]') AS l FROM api_text)"""
            )
        else:
            con.execute(f"INSERT INTO api_objects SELECT {i}, 1, NULL, t::JSON FROM api_text")
        return []
    con.execute(
        """CREATE OR REPLACE TEMP TABLE api_lines AS
           SELECT line, text, json_valid(text) AS ok FROM (
               SELECT unnest(range(1, len(parts) + 1)) AS line, rtrim(unnest(parts), chr(13)) AS text
               FROM (SELECT string_split(t, chr(10)) AS parts FROM api_text))
           WHERE trim(text, ' \t') <> ''"""
    )
    first_ok = con.execute("SELECT ok FROM api_lines ORDER BY line LIMIT 1").fetchone()
    if not first_ok or not first_ok[0]:
        entry.skip("API JSON: malformed JSON (neither one JSON document nor JSON Lines)")
        return [(i, None, None, "file", None, entry.reason, None)]
    con.execute(
        f"INSERT INTO api_objects SELECT {i}, row_number() OVER (ORDER BY line), line, text::JSON "
        "FROM api_lines WHERE ok"
    )
    bad = con.execute("SELECT line, strlen(text) FROM api_lines WHERE NOT ok ORDER BY line").fetchall()
    return [
        (i, line, None, "record", None, "malformed JSON line: not a JSON value", f'{{"__bytes": {size}}}')
        for line, size in bad
    ]


def _read_bytes(path) -> bytes:
    """The file's bytes, never through a symbolic link (ingest lists only regular files; a link
    swapped in since is refused, not followed)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def classify_objects(con) -> None:
    """`api_heads`: what each top-level object is, each large page parsed a few times only
    (every JSON function parses its argument again)."""
    known = ", ".join(map(sql_literal, LIST_SHAPES))
    con.execute(
        """CREATE OR REPLACE TEMP TABLE api_heads AS
            SELECT file, obj_no, keys,
                   list_contains(keys, 'code') AS body,
                   CASE WHEN list_contains(keys, 'code') THEN json_extract_string(obj, '$.code') END AS code,
                   CASE WHEN list_contains(keys, 'code') AND json_type(obj, '$.data') = 'OBJECT'
                        THEN json_keys(obj, '$.data') END AS data_keys
            FROM (SELECT file, obj_no, obj, CASE WHEN json_type(obj) = 'OBJECT' THEN json_keys(obj) ELSE [] END AS keys
                  FROM api_objects)"""
    )
    con.execute(
        f"""ALTER TABLE api_heads ADD COLUMN list_key VARCHAR;
            UPDATE api_heads SET list_key = list_filter(data_keys, k -> k IN ({known}))[1] WHERE body"""
    )


def error_pages(con, entries: dict[int, LedgerEntry]) -> list[tuple]:
    """Skip every file holding an error page (`code` not 0): its code and message in the ledger."""
    rows = con.execute(
        f"""SELECT h.file, arg_min(h.code, h.obj_no),
                   arg_min(left(json_extract_string(o.obj, '$.message'), {MAX_ERROR_MESSAGE_CHARS}), h.obj_no),
                   count(*)
            FROM api_heads AS h JOIN api_objects AS o USING (file, obj_no)
            WHERE h.body AND coalesce(TRY_CAST(h.code AS BIGINT) <> 0, TRUE)
            GROUP BY h.file ORDER BY h.file"""
    ).fetchall()
    out = []
    for file, code, message, n in rows:
        entry = entries[file]
        shown = _safe_message(message)
        more = f" ({n} error pages)" if n > 1 else ""
        entry.skip(f"API error page: code {code}: {shown}{more}; nothing read from this file")
        out.append((file, None, None, "file", None, entry.reason, None))
        con.execute(f"DELETE FROM api_objects WHERE file = {file}")
        con.execute(f"DELETE FROM api_heads WHERE file = {file}")
    return out


def _safe_message(message: str | None) -> str:
    """An error page's message for the ledger: masked when it reads like personal data."""
    if not message:
        return "(no message)"
    text = " ".join(message.split())
    return "***" if looks_personal(text) else text


def explode_items(con) -> None:
    """`api_items`: the records of every body's list, single records and webhooks, numbered per file."""
    recs = " ".join(
        f"WHEN {sql_literal(key)} THEN json_extract(o.obj, '$.data.{key}[*]')" for key in LIST_SHAPES
    )
    shapes = " ".join(
        f"WHEN {sql_literal(key)} THEN {sql_literal(shape)}" for key, shape in LIST_SHAPES.items()
    )
    webhook_case = " ".join(f"WHEN {sql_literal(t)} THEN {sql_literal(s)}" for t, s in WEBHOOK_SHAPES.items())
    con.execute(
        f"""INSERT INTO api_items
            WITH pages AS (
                SELECT o.file, o.obj_no, o.line, CASE h.list_key {shapes} END AS shape,
                       CASE WHEN h.list_key IN ('records', 'messages') THEN coalesce(
                           json_extract_string(o.obj, '$.return_id'), json_extract_string(o.obj, '$.data.return_id'),
                           json_extract_string(o.obj, '$.conversation_id'),
                           json_extract_string(o.obj, '$.data.conversation_id')) END AS ctx_id,
                       CASE h.list_key {recs} END AS recs
                FROM api_heads AS h JOIN api_objects AS o USING (file, obj_no)
                WHERE h.body AND h.list_key IS NOT NULL),
            listed AS (
                SELECT file, obj_no, line, shape, ctx_id, unnest(range(1, len(recs) + 1)) AS el, unnest(recs) AS rec
                FROM pages WHERE recs IS NOT NULL),
            orphan AS (  -- a successful body whose data holds a list this reader does not know
                SELECT o.file, o.obj_no, o.line, 'unknown_body' AS shape, NULL AS ctx_id, 1 AS el, o.obj AS rec
                FROM api_heads AS h JOIN api_objects AS o USING (file, obj_no)
                WHERE h.body AND h.list_key IS NULL AND len(h.data_keys) > 0
                  AND list_bool_or(list_transform(h.data_keys, k -> json_array_length(
                      json_extract(o.obj, '$.data'), '/' || replace(replace(k, '~', '~0'), '/', '~1')) > 0))),
            single AS (
                SELECT o.file, o.obj_no, o.line,
                       CASE WHEN list_contains(h.keys, 'tts_notification_id') AND list_contains(h.keys, 'data')
                            THEN CASE json_extract_string(o.obj, '$.type') {webhook_case} ELSE 'webhook_other' END
                            ELSE (SELECT {_RECORD_SHAPE_SQL} FROM (SELECT o.obj AS r)) END AS shape,
                       NULL AS ctx_id, 1 AS el, o.obj AS rec
                FROM api_heads AS h JOIN api_objects AS o USING (file, obj_no)
                WHERE NOT h.body)
            SELECT file, row_number() OVER (PARTITION BY file ORDER BY obj_no, el), line,
                   coalesce(shape, 'unknown'), ctx_id, rec
            FROM (SELECT * FROM listed UNION ALL SELECT * FROM orphan UNION ALL SELECT * FROM single)"""
    )


def record_keys_raw() -> str:
    """SQL for a quarantined record's `raw`: its key names (plain field names only), no value."""
    return (
        f"to_json({{'__keys': list_filter(CASE WHEN json_type(rec) = 'OBJECT' THEN json_keys(rec) ELSE [] END, "
        f"k -> regexp_full_match(k, {sql_literal(_SAFE_KEY)}))[1:20]}})"
    )
