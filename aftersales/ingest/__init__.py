"""Ingestion: an inbox of Seller Center exports -> typed, validated `stg_*` tables.

The pipeline calls `ingest_inbox`; see inbox.py for the phases and aftersales/export_kinds.py
for the exports.
"""

from aftersales.ingest.errors import InboxError
from aftersales.ingest.inbox import IngestSummary, KindCounts, ingest_inbox, ingest_preflighted_inbox

__all__ = ["InboxError", "IngestSummary", "KindCounts", "ingest_inbox", "ingest_preflighted_inbox"]
