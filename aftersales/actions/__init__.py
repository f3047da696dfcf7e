"""The morning action queue (issue #15): what a seller can still act on as of the batch end."""

from aftersales.actions.queue import ActionQueueSummary, build_action_queue

__all__ = ["ActionQueueSummary", "build_action_queue"]
