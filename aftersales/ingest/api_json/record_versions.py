"""Which version of each API record wins, and what happened to every record read.

Integrations pull by `update_time` with an overlap, so the same record arrives in several dumps:
the version with the greatest `update_time` wins; equal versions count once (the first in file
order). Superseded versions still feed a request's status history (`api_versions` keeps them).
Every record ends in exactly one of staged, quarantined or superseded (`api_item_status`).
"""

from __future__ import annotations

from aftersales.ingest.api_json.json_fields import text, unix_seconds
from aftersales.sql_quoting import sql_literal

# shape -> (SQL key identifying the record within the shop, SQL version, what the key is called)
_KEYS = {
    "return_order": (text("$.return_id"), unix_seconds("$.update_time"), "return_id"),
    "cancellation": (text("$.cancel_id"), unix_seconds("$.update_time"), "cancel_id"),
    "order": (text("$.id"), unix_seconds("$.update_time"), "id"),
    "message": (
        f"coalesce({text('$.conversation_id')}, ctx_id) || '/' || {text('$.id')}",
        "0",
        "conversation_id and id",
    ),
    # A return record has no id of its own: equal content is the same record.
    "return_record": (
        f"coalesce({text('$.return_id')}, ctx_id) || '/' || md5(CAST(rec AS VARCHAR))",
        "0",
        "return_id",
    ),  # fmt: skip
    "return_webhook": (
        f"coalesce({text('$.tts_notification_id')}, md5(CAST(rec AS VARCHAR)))",
        "0",
        "tts_notification_id",
    ),
    "cancellation_webhook": (
        f"coalesce({text('$.tts_notification_id')}, md5(CAST(rec AS VARCHAR)))",
        "0",
        "tts_notification_id",
    ),
}
# Webhooks must name the request they change.
_WEBHOOK_SUBJECT = {"return_webhook": "$.data.return_id", "cancellation_webhook": "$.data.cancel_id"}


def rank_versions(con) -> None:
    """`api_versions`: every placeable record with its key, version and rank (1 = the winner)."""
    keyed = " UNION ALL ".join(
        f"""SELECT file, ord, line, shape, ctx_id, rec, {key} AS key, {version} AS version
            FROM api_items WHERE shape = {sql_literal(shape)}"""
        for shape, (key, version, _) in _KEYS.items()
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE api_versions AS
            SELECT *, row_number() OVER (PARTITION BY shape, key ORDER BY version DESC NULLS LAST, file, ord) AS rank
            FROM ({keyed}) WHERE key IS NOT NULL"""
    )


def settle_items(con) -> None:
    """`api_item_status` (file, ord, line, status, reason, shape): one row per record read."""
    missing_key = " ".join(
        f"WHEN {sql_literal(shape)} THEN {sql_literal(f'{shape.replace(chr(95), chr(32))} without {name}')}"
        for shape, (_, _, name) in _KEYS.items()
    )
    subject = " ".join(
        f"WHEN {sql_literal(shape)} THEN {text(path, 'v.rec')}" for shape, path in _WEBHOOK_SUBJECT.items()
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE api_item_status AS
            SELECT i.file, i.ord, i.line, i.shape,
                   CASE WHEN i.shape IN ('unknown', 'unknown_body', 'webhook_other') OR v.key IS NULL THEN 'quarantined'
                        WHEN v.rank > 1 THEN 'superseded'
                        WHEN i.shape IN ('return_webhook', 'cancellation_webhook')
                             AND (CASE i.shape {subject} END) IS NULL THEN 'quarantined'
                        ELSE 'staged' END AS status,
                   CASE WHEN i.shape = 'unknown' THEN 'unknown API record: neither a response body, a webhook nor a known record'
                        WHEN i.shape = 'unknown_body' THEN 'response body without a record list this reader knows'
                        WHEN i.shape = 'webhook_other'
                            THEN 'webhook type ' || coalesce(left({text("$.type", "i.rec")}, 12), '(none)')
                                 || ' is not read: no export fact comes from it'
                        WHEN v.key IS NULL THEN (CASE i.shape {missing_key} END)
                        WHEN i.shape IN ('return_webhook', 'cancellation_webhook')
                             AND (CASE i.shape {subject} END) IS NULL
                            THEN 'webhook without the id of the request it changes'
                   END AS reason
            FROM api_items AS i LEFT JOIN api_versions AS v USING (file, ord)"""
    )
    # Webhooks (history only) count as staged when they name a request.
    con.execute("DELETE FROM api_versions WHERE (file, ord) IN (SELECT file, ord FROM api_item_status "
                "WHERE status = 'quarantined')")  # fmt: skip
