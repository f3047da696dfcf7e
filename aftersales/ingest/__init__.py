"""Ingestion: an inbox of Seller Center exports -> typed, validated `stg_*` tables.

The pipeline calls `ingest_inbox`; see inbox.py for the flow and kinds.py for the exports.
"""

from aftersales.ingest.errors import InboxError
from aftersales.ingest.inbox import IngestSummary, KindCounts, ingest_inbox

__all__ = ["InboxError", "IngestSummary", "KindCounts", "ingest_inbox"]
