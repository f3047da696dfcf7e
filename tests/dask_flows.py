"""Driver for tests/test_task_runners.py: one small Prefect flow on a chosen task runner.

Run as a script (`python tests/dask_flows.py SCENARIO RUNNER [SCHEDULER_ADDRESS]`) so that the Dask workers it
starts inherit a clean environment with PREFECT_API_URL pointing at the test's real server.
Prints one JSON line: the flow run's final state and, when it completed, the units' results.
Scenarios: `ok` (DuckDB work per unit), `unimportable` (a task whose module the workers cannot
import), `killed` (a task that kills its worker process).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import dask
from prefect import flow, task

from aftersales.task_runners import RunnerChoice, current_worker_budget, resolve, task_runner

UNITS = 3


@task
def unit_work(n: int) -> dict:
    """DuckDB work sized by the worker's budget when on a Dask worker."""
    import duckdb

    con = duckdb.connect()
    budget = current_worker_budget()
    if budget is not None:
        memory_limit, threads = budget
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET threads = {threads}")
    total = con.execute("SELECT sum(i) FROM range(?) t(i)", [n]).fetchone()[0]
    return {
        "total": int(total),
        "memory_limit": con.execute("SELECT current_setting('memory_limit')").fetchone()[0],
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        "on_worker": budget is not None,
    }


@task
def kill_own_process(n: int) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)
    return {"n": n}  # never reached


def vanishing_task():
    """A task whose code needs a module that only the client has (as when the package is not
    installed on the workers): pickled to the worker, it fails there on import."""
    folder = Path(tempfile.mkdtemp(prefix="vanishing-"))
    (folder / "vanishing_helpers.py").write_text("def double(n):\n    return 2 * n\n")
    (folder / "vanishing_tasks.py").write_text(
        "from prefect import task\n\n@task\ndef lost(n: int) -> dict:\n"
        "    import vanishing_helpers\n    return {'n': vanishing_helpers.double(n)}\n"
    )
    sys.path.insert(0, str(folder))
    module = importlib.import_module("vanishing_tasks")
    shutil.rmtree(folder)
    importlib.invalidate_caches()
    return module.lost


def batch(scenario: str) -> dict:
    work = {"ok": unit_work, "killed": kill_own_process, "unimportable": None}[scenario]
    if work is None:
        work = vanishing_task()
    futures = {f"shard-{i + 1:03d}": work.submit(100_000 * (i + 1)) for i in range(UNITS)}
    return resolve(futures)


def main(scenario: str, runner: str, address: str = "") -> int:
    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    choice = RunnerChoice(name=runner, workers=2, worker_memory="1GiB", dask_address=address)
    nightly = flow(name=f"runner-{scenario}", retries=0)(batch).with_options(task_runner=task_runner(choice))
    state = nightly(scenario, return_state=True)
    out = {"state": state.type.value, "message": state.message or ""}
    if state.is_completed():
        out["results"] = state.result()
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
