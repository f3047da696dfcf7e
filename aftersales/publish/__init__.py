"""Publishing a batch into the warehouse: atomic snapshot swap plus the failed-run journal."""

from aftersales.publish.journal import clear_attempts, pending_attempts, record_failed_attempt
from aftersales.publish.swap import PublishSummary, publish_batch

__all__ = ["PublishSummary", "clear_attempts", "pending_attempts", "publish_batch", "record_failed_attempt"]
