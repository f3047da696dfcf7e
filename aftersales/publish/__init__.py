"""Publishing a batch into the warehouse: atomic snapshot swap plus the run journal."""

from aftersales.publish.journal import (
    clear_attempts,
    pending_attempts,
    record_attempt_started,
    record_failed_attempt,
    running_attempts,
)
from aftersales.publish.swap import PublishSummary, publish_batch

__all__ = [
    "PublishSummary",
    "clear_attempts",
    "pending_attempts",
    "publish_batch",
    "record_attempt_started",
    "record_failed_attempt",
    "running_attempts",
]
