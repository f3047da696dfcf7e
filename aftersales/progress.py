"""Progress of long steps, reported by the flows and shown by the command line.

Flows call `advance(...)` after each stage (nightly) or date (backfill); a command that wants a
progress bar wraps the call in `bar(...)`. Without a listener, `advance` does nothing, so the
flows stay free of any terminal concern and run the same under a scheduler.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

_listeners: list[Callable[[str], None]] = []

NIGHTLY_STAGES = ("preflight", "ingest", "score", "sla", "health", "publish", "report")


def advance(label: str) -> None:
    for listener in list(_listeners):
        listener(label)


@contextmanager
def bar(length: int, label: str) -> Iterator[None]:
    """A progress bar on stderr for `length` steps; plain text when stderr is not a terminal."""
    with click.progressbar(
        length=length, label=label, file=sys.stderr, show_eta=False, item_show_func=lambda item: item
    ) as progress:

        def listener(step: str) -> None:
            progress.update(1, current_item=step)

        _listeners.append(listener)
        try:
            yield
        finally:
            _listeners.remove(listener)
