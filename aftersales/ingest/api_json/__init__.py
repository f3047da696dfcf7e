"""TikTok Shop Open API JSON dumps in the inbox, read as the raw rows of the CSV exports.

Why this shape: a JSON dump is mapped onto exactly the rows a CSV export of the same facts would
give (every contract header a VARCHAR column), so the ingest type -> validate -> quarantine ->
write path (pseudonyms, greeting classification, GX suites) handles both identically. Equivalence
and personal-data handling then hold by construction; ../shared/domain/openapi.md and
docs/OPENAPI_MAPPING.md say which API field feeds which export column.

Interface with `ingest_inbox` (one call per shop, with that shop's JSON files)::

    read = read_api_dumps(con, shop_id, files, batch_date, settings)

`ApiDumpRead` (below) holds, for each export kind derived from the files:

- `tables[kind]`: a TEMP table in `con`, the raw layout of a multi-file CSV read of that kind:
  `__line BIGINT, __file INTEGER, __source_file VARCHAR, __shop_id VARCHAR, __record BIGINT,
  c0 .. cN VARCHAR`,
  where `c{i}` holds the text of header `headers[kind][i]` (the contract headers of the kind, in
  `export_kinds` order; `positions(kind)` gives the `Recognition.positions` mapping). Feed it
  to `typing_sql.typed_select(kind, read.positions(kind), FileContext(None, None, None, market,
  zone), table, ...)` like a `read_csvs_sql` source. `__line` is the row's ordinal among all
  rows derived from its file, numbered on across the kinds (a JSON record has no CSV line of its
  own and one order record gives several SKU lines; (`__file`, `__line`) stays a unique record
  id). `__file` is the ledger index of the file holding the winning version of the record;
  `__record` is that record's ordinal in its file (an order gives several SKU lines, a return
  record several evidence rows): count quarantined records, not rows, as DISTINCT
  (`__file`, `__record`). Times are ISO 8601 with `Z` (instants), money plain decimals.
- `entries`: one `LedgerEntry` per JSON file (status, `file_kind` "openapi", reason; error
  pages are `skipped` with their code and message). `rows_read` counts API records (elements
  of a response's list, single-record lines, webhook payloads); every record is staged,
  quarantined or superseded (`superseded[file]`: an older or equal version of a record held
  by another dump): rows_read = rows_staged + rows_quarantined + superseded.
- `quarantine`: rows shaped like ingest's `q_rows` (file, line, rid, scope, expectation,
  reason, raw): malformed JSON per line (JSON Lines, physical line) or per file (NULL line),
  records that cannot be placed; `raw` never holds a value from the record (key names only).
- `unknown_values`: API enum values outside the known vocabularies, kept as written and also
  named in the file's ledger `reason`.

Personal data (`user_id`, `buyer_email`, `buyer_nickname`, `buyer_message`,
`recipient_address.*`, message `content`): only `user_id` (-> "Buyer Username", pseudonymised
by the typing SELECT) and TEXT message content (-> "Content", read only to classify greetings)
are carried, and only inside `con`'s temporary tables; everything else is never extracted.
"""

from aftersales.ingest.api_json.dump_read import ApiDumpRead, is_api_dump, read_api_dumps

__all__ = ["ApiDumpRead", "is_api_dump", "read_api_dumps"]
