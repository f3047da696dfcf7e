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

from aftersales.definitions import stage_names

_listeners: list[Callable[[str], None]] = []

# The nightly flow advances once per declared stage (aftersales.definitions).
NIGHTLY_STAGES: tuple[str, ...] = stage_names()


def advance(label: str) -> None:
    for listener in list(_listeners):
        listener(label)


def _interactive(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


@contextmanager
def bar(length: int, label: str) -> Iterator[None]:
    """A progress bar on stderr for `length` steps, only when stderr is a terminal.

    A scheduler, a pipe or a log file gets nothing: click would print the label as a stray
    line there, and stderr of a non-interactive run is kept for its one-line error.
    """
    if not _interactive(sys.stderr):
        yield
        return
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
