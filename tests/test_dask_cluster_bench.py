"""The 4-worker bench's cluster harness: real `dask scheduler` / `dask worker` processes on loopback.

A cluster that starts must take work and leave no process behind when stopped (a worker's nanny
and its worker process included); one that cannot start must say which process failed and leave
nothing running either. The coordinator's overhead is the flow's wall minus the union of its
task runs.
"""

from __future__ import annotations

import operator
import os

import psutil
import pytest
from distributed import Client

from aftersales.bench.dask_cluster import (
    ClusterUnavailable,
    TaskSpan,
    busy_seconds,
    coordinator_overhead,
    start_cluster,
)


def _alive(pids: list[int]) -> list[int]:
    """Pids still running (a zombie waiting for a reaper runs nothing)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def test_cluster_takes_work_on_every_worker_and_stops_without_orphans(tmp_path):
    with start_cluster(2, tmp_path / "dask", memory_limit="512MiB", timeout_s=90) as cluster:
        groups = cluster.group_pids()
        # scheduler + two workers, each worker a nanny, its worker process (and a resource tracker)
        assert len(groups) == 3
        worker_groups = [groups[proc.pid] for proc in cluster.workers]
        assert all(len(pids) >= 2 for pids in worker_groups), groups
        with Client(cluster.address, timeout=10, set_as_default=False) as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            assert sorted(w["name"] for w in info.values()) == ["worker-1", "worker-2"]
            assert {w["nthreads"] for w in info.values()} == {1}
            assert {w["memory_limit"] for w in info.values()} == {512 << 20}
            assert client.submit(operator.mul, 6, 7).result(timeout=30) == 42
            ran_on = set(client.run(os.getpid).values())  # one call on each worker process
        assert len(ran_on) == 2 and ran_on <= {pid for pids in worker_groups for pid in pids}
        all_pids = [pid for pids in cluster.group_pids().values() for pid in pids]
    assert _alive(all_pids) == []
    assert all(proc.poll() is not None for proc in cluster.processes)
    assert not any(cluster.group_pids().values())


def _dask_children() -> set[int]:
    return {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if p.status() != psutil.STATUS_ZOMBIE and "dask" in " ".join(p.cmdline())
    }


def test_a_worker_that_cannot_start_is_named_and_nothing_is_left_running(tmp_path):
    # Dask processes other tests of this session keep running (a session fixture's cluster) are
    # not this test's to judge: only what `start_cluster` started must be gone.
    before = _dask_children()
    with pytest.raises(
        ClusterUnavailable, match=r"dask worker-1 exited with status \d+; log .*worker-1\.log"
    ):
        start_cluster(1, tmp_path / "dask", memory_limit="plenty", timeout_s=60)
    assert _dask_children() - before == set()


def test_overhead_is_the_flow_wall_outside_every_task_run():
    spans = [
        TaskSpan("preflight", 0.5, 1.0),
        TaskSpan("shard-001-of-004", 1.5, 5.5),
        TaskSpan("shard-002-of-004", 1.6, 4.0),
        TaskSpan("shard-003-of-004", 4.1, 6.0),
        TaskSpan("shard-004-of-004", 5.6, 6.5),
        TaskSpan("publish", 7.0, 8.0),
        TaskSpan("report", 8.0, 8.5),
    ]
    assert busy_seconds(spans) == pytest.approx(0.5 + 5.0 + 1.5)
    figures = coordinator_overhead(9.0, spans, workers=2)
    assert figures["overhead_seconds"] == pytest.approx(2.0)
    assert figures["first_shard_start_seconds"] == pytest.approx(1.5)
    assert figures["shards_wall_seconds"] == pytest.approx(5.0)
    assert figures["shard_task_seconds_sum"] == pytest.approx(4.0 + 2.4 + 1.9 + 0.9)
    assert figures["worker_utilisation"] == pytest.approx(9.2 / 10.0, abs=1e-3)
