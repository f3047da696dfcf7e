"""Which engine runs the batch's tasks: Prefect's thread pool, a Dask cluster, or one at a time.

- `threads` (default on one machine): Prefect's ThreadPoolTaskRunner. DuckDB releases the GIL
  while it works, so shards in threads use every core without copying data between processes.
- `dask`: prefect-dask's DaskTaskRunner, on a `LocalCluster` started for the run (processes,
  one thread each) or on an external scheduler (`--dask-address tcp://host:8786`) with workers
  on other machines. It needs a real Prefect API: with the ephemeral one every worker process
  starts its own temporary server (several servers, "database is locked", orphaned uvicorn
  processes, measured here), so it is refused with one line naming the fix.
- `sequential`: one task at a time, in the flow's thread; the reference the others are
  compared with.

Dask hides failures unless every future is resolved: a task that cannot be deserialised on a
worker, or a worker killed under it, leaves the flow Completed with `None` results. `resolve`
is the one way the batch waits for its tasks: it calls `.result()` on every future and raises
the first failure naming its unit of work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RUNNERS = ("threads", "dask", "sequential")
# DuckDB inside a task gets this share of the worker's memory: the rest is the worker's own
# Python heap, pandas frames and Dask's bookkeeping (a worker is paused at 80% and killed at 95%).
DUCKDB_SHARE_OF_WORKER = 0.6


class RunnerRefused(Exception):
    """The chosen task runner cannot run here (one line, shown as the batch's refusal)."""


class UnitFailed(RuntimeError):
    """A task of the batch failed: names the unit (a shard and its shops) and the cause."""


@dataclass(frozen=True)
class RunnerChoice:
    """The task runner settings of one batch."""

    name: str = "threads"
    workers: int = 0  # 0 = one per core
    dask_address: str = ""  # tcp://host:port of an external scheduler; "" = a LocalCluster
    worker_memory: str = "2GiB"  # memory limit of each LocalCluster worker

    def __post_init__(self) -> None:
        if self.name not in RUNNERS:
            raise RunnerRefused(f"unknown task runner {self.name!r}: choose one of {', '.join(RUNNERS)}")
        if self.dask_address and self.name != "dask":
            raise RunnerRefused(f"--dask-address needs --runner dask (not {self.name})")

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to, or None when it would use an ephemeral one."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def require_real_prefect_api(runner: str) -> str:
    """The API URL, or RunnerRefused when only the ephemeral API is configured."""
    url = prefect_api_url()
    if not url:
        raise RunnerRefused(
            f"the {runner} task runner needs a running Prefect server: start one "
            "(`aftersales serve` or `prefect server start`) and set PREFECT_API_URL"
        )
    return url


def task_runner(choice: RunnerChoice):
    """The Prefect task runner for `choice` (not yet started: the flow enters it)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if choice.name == "sequential":
        return ThreadPoolTaskRunner(max_workers=1)
    if choice.name == "threads":
        return ThreadPoolTaskRunner(max_workers=choice.worker_count)
    require_real_prefect_api("dask")
    from prefect_dask import DaskTaskRunner

    if choice.dask_address:
        return DaskTaskRunner(address=choice.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": choice.worker_count,
            "threads_per_worker": 1,
            "processes": True,
            "memory_limit": choice.worker_memory,
            "dashboard_address": None,
        },
    )


def duckdb_budget(worker_memory_bytes: int | None, worker_threads: int) -> tuple[str, int]:
    """DuckDB's memory_limit and threads for a task on a worker with this memory and threads.

    DuckDB's defaults (80% of the machine's RAM, one thread per core) ignore the worker's own
    limits; on a Dask worker that gets the worker killed instead of DuckDB spilling to disk.
    """
    threads = max(1, worker_threads)
    if not worker_memory_bytes:
        return "", threads
    mib = max(64, int(worker_memory_bytes * DUCKDB_SHARE_OF_WORKER) >> 20)
    return f"{mib}MB", threads


def current_worker_budget() -> tuple[str, int] | None:
    """DuckDB's budget when this code runs inside a Dask worker, else None (keep the settings)."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return None
    return duckdb_budget(worker.memory_manager.memory_limit, worker.state.nthreads)


def resolve_all(
    futures: Mapping[str, Any] | Sequence[tuple[str, Any]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Wait for every future: (results by unit name, one-line failure by unit name).

    A future that raises, or that resolves to None (Dask's answer for a task lost on its worker
    when nobody looks), is a failure. Every future is waited for before returning, so no task of
    a failed batch is still running (and writing its shard's files) when the flow reports it.
    """
    items = list(futures.items()) if isinstance(futures, Mapping) else list(futures)
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for unit, future in items:
        try:
            value = future.result()
        except BaseException as exc:  # noqa: BLE001 - a worker's failure of any kind fails the unit
            failures[unit] = f"{type(exc).__name__}: {_first_line(exc)}"
            continue
        if value is None:
            failures[unit] = "RuntimeError: the task returned no result (lost on its worker)"
            continue
        results[unit] = value
    return results, failures


def failure_line(failures: Mapping[str, str]) -> str:
    """The batch's one line for failed units: the first named with its cause, then how many more."""
    unit, cause = next(iter(failures.items()))
    more = f" (and {len(failures) - 1} more failed units)" if len(failures) > 1 else ""
    return f"{unit} failed: {cause}{more}"


def resolve(futures: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Wait for every future and return its result by unit name; any failure raises UnitFailed."""
    results, failures = resolve_all(futures)
    if failures:
        raise UnitFailed(failure_line(failures))
    return results


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
