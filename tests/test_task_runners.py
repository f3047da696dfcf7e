"""Shards and task runners: stable shop grouping, the runner choice, and Dask's failure modes.

The Dask tests start a real Prefect server on loopback and run a small flow in a child process
(tests/dask_flows.py) on a real LocalCluster: a task that workers cannot import and a worker
killed under its task must both fail the flow, never end it Completed with lost results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aftersales.sharding import Shard, plan_shards, shard_count_for, shard_index
from aftersales.task_runners import (
    RunnerChoice,
    RunnerRefused,
    UnitFailed,
    duckdb_budget,
    resolve,
    task_runner,
)

ROOT = Path(__file__).resolve().parent.parent
SHOPS = [f"US{n:08d}" for n in range(200)] + ["GBLCVH2KQT", "THLCL9MDAN", "店铺-7"]


# --------------------------------------------------------------------------- shards


def test_every_shop_lands_in_exactly_one_shard_and_the_grouping_is_stable():
    shards = plan_shards(SHOPS + SHOPS[:5], 8)
    placed = [shop for shard in shards for shop in shard.shop_ids]
    assert sorted(placed) == sorted(set(SHOPS))
    assert [s.index for s in shards] == sorted(s.index for s in shards)
    assert all(shard_index(shop, 8) == shard.index for shard in shards for shop in shard.shop_ids)
    # adding shops moves no existing shop; the hash does not depend on the process
    before = {shop: shard_index(shop, 8) for shop in SHOPS}
    grown = plan_shards(SHOPS + [f"MY{n:08d}" for n in range(50)], 8)
    assert all(before[shop] == s.index for s in grown for shop in s.shop_ids if shop in before)
    child = subprocess.run(
        [sys.executable, "-c", "from aftersales.sharding import shard_index; print(shard_index('GBLCVH2KQT', 8))"],
        capture_output=True, text=True, check=True, env=os.environ | {"PYTHONHASHSEED": "123"},
    )  # fmt: skip
    assert int(child.stdout) == before["GBLCVH2KQT"]
    # 203 shops over 8 shards: none empty, none holding more than twice its share
    assert len(shards) == 8 and max(len(s.shop_ids) for s in shards) < 2 * len(SHOPS) / 8


def test_shard_counts_names_and_bounds():
    assert plan_shards(["A"], 16) == [Shard(shard_index("A", 16), 16, ("A",), holds_inbox_files=True)]
    assert shard_count_for(200, 25, 64) == 8
    assert shard_count_for(3, 25, 64) == 1
    assert shard_count_for(10_000, 25, 64) == 64
    shard = Shard(2, 8, tuple(f"S{i}" for i in range(7)))
    assert shard.name == "shard-003-of-008"
    assert shard.shops_named(3) == "S0, S1, S2 and 4 more"
    with pytest.raises(ValueError):
        shard_index("A", 0)


# --------------------------------------------------------------------------- runner choice


def test_runner_choice_refuses_what_cannot_run():
    with pytest.raises(RunnerRefused, match="unknown task runner 'spark'"):
        RunnerChoice(name="spark")
    with pytest.raises(RunnerRefused, match="--dask-address needs --runner dask"):
        RunnerChoice(name="threads", dask_address="tcp://127.0.0.1:8786")
    assert type(task_runner(RunnerChoice("threads", workers=3))).__name__ == "ThreadPoolTaskRunner"
    assert task_runner(RunnerChoice("threads", workers=3))._max_workers == 3
    assert task_runner(RunnerChoice("sequential"))._max_workers == 1


def test_dask_is_refused_on_the_ephemeral_prefect_api(tmp_path):
    """In a fresh process with no PREFECT_API_URL (the test session itself runs a Prefect harness)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    code = (
        "from aftersales.task_runners import RunnerChoice, RunnerRefused, task_runner\n"
        "try:\n    task_runner(RunnerChoice('dask'))\nexcept RunnerRefused as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "the dask task runner needs a running Prefect server" in done.stdout


def test_duckdb_budget_stays_under_the_worker_limit():
    memory, threads = duckdb_budget(2 << 30, 1)
    assert memory == "1228MB" and threads == 1
    assert duckdb_budget(None, 0) == ("", 1)


class _Done:
    def __init__(self, value=None, error: BaseException | None = None):
        self.value, self.error = value, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


def test_resolve_waits_for_all_and_names_the_failed_unit():
    assert resolve({"shard-001": _Done({"n": 1})}) == {"shard-001": {"n": 1}}
    with pytest.raises(UnitFailed, match=r"shard-002 failed: OSError: disk full \(and 1 more failed units\)"):
        resolve(
            [
                ("shard-001", _Done({"n": 1})),
                ("shard-002", _Done(error=OSError("disk full\ntrace"))),
                ("shard-003", _Done(None)),
            ]
        )
    with pytest.raises(UnitFailed, match="shard-001 failed: RuntimeError: the task returned no result"):
        resolve({"shard-001": _Done(None)})


# --------------------------------------------------------------------------- real Dask + Prefect


def _run(prefect_env, scenario: str, runner: str, address: str = "") -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "dask_flows.py"), scenario, runner, address],
        capture_output=True, text=True, env=prefect_env, timeout=240, cwd=ROOT,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(lines[-1])


@pytest.mark.slow
def test_dask_local_cluster_runs_units_under_the_worker_memory_budget(prefect_env):
    out = _run(prefect_env, "ok", "dask")
    assert out["state"] == "COMPLETED", out
    results = out["results"]
    assert sorted(results) == ["shard-001", "shard-002", "shard-003"]
    assert results["shard-002"]["total"] == sum(range(200_000))
    for unit in results.values():
        assert unit["on_worker"] is True
        # 60% of the 1 GiB worker, one thread: below what DuckDB would take by default
        assert unit["memory_limit"].replace(" ", "") in {"614.0MiB", "614MB", "585.5MiB"}, unit
        assert int(unit["threads"]) == 1


@pytest.mark.slow
def test_a_task_the_workers_cannot_import_fails_the_flow(prefect_env, external_cluster):
    out = _run(prefect_env, "unimportable", "dask", external_cluster)
    assert out["state"] == "FAILED", out
    assert "shard-001 failed" in out["message"] or "failed" in out["message"].lower(), out


@pytest.mark.slow
def test_a_killed_worker_fails_the_flow(prefect_env):
    out = _run(prefect_env, "killed", "dask")
    assert out["state"] == "FAILED", out
    assert "KilledWorker" in out["message"] or "shard-" in out["message"], out


@pytest.mark.slow
def test_threads_and_sequential_give_the_same_results(prefect_env):
    threads = _run(prefect_env, "ok", "threads")
    sequential = _run(prefect_env, "ok", "sequential")
    assert threads["state"] == sequential["state"] == "COMPLETED"
    totals = {k: v["total"] for k, v in threads["results"].items()}
    assert totals == {k: v["total"] for k, v in sequential["results"].items()}
    assert not any(v["on_worker"] for v in threads["results"].values())
