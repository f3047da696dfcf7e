"""The two ways ingestion refuses input: the whole batch, or one file."""

from __future__ import annotations


class InboxError(Exception):
    """The batch cannot run at all (missing inbox, unreadable or invalid shops.csv).

    The message is one human-readable line; the CLI prints it and exits non-zero.
    """


class FileRejected(Exception):
    """One file cannot be ingested; the reason goes to the ledger and quarantine, the run goes on."""

    def __init__(self, reason: str, expectation: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.expectation = expectation
