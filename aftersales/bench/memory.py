"""Peak memory of a process tree, sampled from a background thread (psutil).

The sum of RSS over a process and all its descendants (the batch plus the Prefect server it
talks to) is sampled every `interval_s`; shared pages count once per process, so the figure
errs high. `ru_maxrss` of the measured process itself is reported next to it as a cross-check
that sampling missed no short spike of the batch.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass

import psutil

MIB = 1 << 20


@dataclass(frozen=True)
class MemoryPeak:
    tree_peak_mib: float  # sampled peak of the summed RSS of the whole process tree
    self_peak_mib: float  # sampled peak RSS of the root process alone
    self_maxrss_mib: float  # kernel high-water mark (ru_maxrss) of the root process, whole lifetime
    samples: int
    interval_s: float


def tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(RSS of root and every live descendant, RSS of root alone) in bytes."""
    own = root.memory_info().rss
    total = own
    for child in root.children(recursive=True):
        try:
            total += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total, own


class TreeSampler:
    """Context manager sampling the RSS of `pid` (default: this process) and its descendants."""

    def __init__(self, pid: int | None = None, interval_s: float = 0.1) -> None:
        self.root = psutil.Process(pid or os.getpid())
        self.interval_s = interval_s
        self.tree_peak = 0
        self.self_peak = 0
        self.samples = 0
        self.started = time.monotonic()
        self.timeline: list[tuple[float, int, int]] = []  # (seconds since start, tree RSS, own RSS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        try:
            total, own = tree_rss(self.root)
        except psutil.NoSuchProcess:
            return
        self.tree_peak = max(self.tree_peak, total)
        self.self_peak = max(self.self_peak, own)
        self.samples += 1
        self.timeline.append((time.monotonic() - self.started, total, own))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeSampler:
        self.started = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def peak(self) -> MemoryPeak:
        maxrss = 0.0
        if self.root.pid == os.getpid():
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB  # KiB on Linux
        return MemoryPeak(
            round(self.tree_peak / MIB, 1),
            round(self.self_peak / MIB, 1),
            round(maxrss, 1),
            self.samples,
            self.interval_s,
        )


def peaks_by_window(timeline: list[tuple[float, int, int]], windows: list[tuple[str, float, float]]) -> dict:
    """Peak tree RSS (MiB) inside each named [start, end) window of seconds since sampling began."""
    out = {}
    for name, start, end in windows:
        inside = [tree for t, tree, _ in timeline if start <= t < end]
        out[name] = round(max(inside) / MIB, 1) if inside else None
    return out
