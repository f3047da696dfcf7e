"""The smallest real cluster: an external `dask scheduler` + N `dask worker` processes on loopback.

Issue 14 asks for the nightly batch on an existing distributed engine; on one machine the
smallest honest stand-in is what a real deployment runs, a scheduler and workers as separate
processes that import the installed package, not a `LocalCluster` inside the batch's process.
`start_cluster` starts them (each in its own process group, so a worker's nanny and its worker
process are stopped together and none outlives the bench) and waits until every worker has
connected. `python -m aftersales.bench.dask_cluster` then measures one nightly batch on it: a
real Prefect server, the flow with `runner="dask"` on the external address, time per shard,
the coordinator's overhead and the peak memory of the whole process tree.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil

from aftersales.bench.batch_run import free_port
from aftersales.bench.memory import TreeSampler

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKER_MEMORY = "2GiB"


class ClusterUnavailable(RuntimeError):
    """The scheduler or a worker exited, or not every worker connected in time."""


@dataclass
class DaskCluster:
    """Scheduler and worker processes started here; `stop` ends every one of their process groups."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]
    log_dir: Path
    started_in_s: float | None = field(default=None, compare=False)

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [*self.workers, self.scheduler]

    def group_pids(self) -> dict[int, list[int]]:
        """Live process ids per process group (leader pid -> members): a worker's nanny and worker."""
        groups: dict[int, list[int]] = {proc.pid: [] for proc in self.processes}
        for candidate in psutil.process_iter(["pid", "status"]):
            if candidate.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                pgid = os.getpgid(candidate.info["pid"])
            except (ProcessLookupError, PermissionError):
                continue
            if pgid in groups:
                groups[pgid].append(candidate.info["pid"])
        return groups

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM to every group (workers first, so none reconnects), SIGKILL what is left after `grace_s`."""
        for proc in self.processes:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        while time.monotonic() < deadline and any(self.group_pids().values()):
            time.sleep(0.1)
        for proc in self.processes:
            _signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _log_tail(path: Path, lines: int = 12) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def worker_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The cluster's environment: the package importable from the project, no analytics, quiet logs."""
    env = dict(os.environ if base is None else base)
    paths = [str(PROJECT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(GX_ANALYTICS_ENABLED="False", PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def start_cluster(
    worker_count: int,
    log_dir: Path,
    *,
    memory_limit: str = DEFAULT_WORKER_MEMORY,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 120.0,
) -> DaskCluster:
    """Start a scheduler and `worker_count` one-thread workers on loopback; return once all connected.

    Every process is the venv's Python, cwd the project root, in a new session (its own group).
    A failure to come up stops whatever did start before raising ClusterUnavailable.
    """
    if worker_count < 1:
        raise ValueError(f"a cluster needs at least one worker, not {worker_count}")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    child_env = worker_env(env)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()

    def spawn(args: list[str], log_name: str) -> subprocess.Popen:
        with open(log_dir / log_name, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "dask", *args],
                cwd=PROJECT_ROOT, env=child_env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    scheduler = spawn(
        ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], "scheduler.log"
    )
    cluster = DaskCluster(address, scheduler, [], log_dir)
    try:
        for i in range(worker_count):
            name = f"worker-{i + 1}"
            args = ["worker", address, "--name", name, "--nthreads", "1", "--memory-limit", memory_limit,
                    "--no-dashboard", "--death-timeout", "60", "--local-directory", str(log_dir / name)]  # fmt: skip
            cluster.workers.append(spawn(args, f"{name}.log"))
        wait_for_workers(cluster, worker_count, started + timeout_s)
    except BaseException:  # a timeout, Ctrl-C or SIGTERM while waiting: leave nothing running
        cluster.stop(grace_s=5.0)
        raise
    cluster.started_in_s = round(time.monotonic() - started, 2)
    return cluster


def wait_for_workers(cluster: DaskCluster, count: int, deadline: float) -> None:
    """Poll the scheduler until `count` workers are connected; a process that exits fails at once."""
    from distributed import Client

    client = None
    try:
        while True:
            named = [("scheduler", cluster.scheduler)]
            named += [(f"worker-{i + 1}", proc) for i, proc in enumerate(cluster.workers)]
            for name, proc in named:
                if proc.poll() is not None:
                    log = cluster.log_dir / f"{name}.log"
                    raise ClusterUnavailable(
                        f"dask {name} exited with status {proc.returncode}; log {log}:\n{_log_tail(log)}"
                    )
            if client is None:
                try:
                    client = Client(cluster.address, timeout=2, set_as_default=False)
                except OSError:  # the scheduler is not listening yet
                    client = None
            if client is not None and len(client.nthreads()) >= count:
                return
            if time.monotonic() > deadline:
                connected = len(client.nthreads()) if client is not None else 0
                raise ClusterUnavailable(
                    f"{connected} of {count} dask workers connected to {cluster.address} in time; "
                    f"logs in {cluster.log_dir}"
                )
            time.sleep(0.2)
    finally:
        if client is not None:
            client.close()


# --------------------------------------------------------------------------- the measured batch


@dataclass(frozen=True)
class TaskSpan:
    """One task run of the flow: seconds from the flow run's start."""

    name: str
    start: float
    end: float


def busy_seconds(spans: list[TaskSpan]) -> float:
    """Length of the union of the spans: the time at least one task ran."""
    total, reach = 0.0, float("-inf")
    for span in sorted(spans, key=lambda s: s.start):
        if span.end <= reach:
            continue
        total += span.end - max(span.start, reach)
        reach = span.end
    return total


def coordinator_overhead(flow_seconds: float, spans: list[TaskSpan], workers: int) -> dict:
    """What the coordinator adds around the work: flow wall minus the time any task ran, etc.

    The tasks' union is the executed critical path (shards overlap on the workers; preflight,
    publish and report follow them), so what is left is the coordinator's own time: planning
    shards, submitting to Dask, waiting for results, the run record and artifacts.
    """
    shards = [s for s in spans if "shard" in s.name.lower()]
    busy = busy_seconds(spans)
    out = {
        "flow_seconds": round(flow_seconds, 3),
        "task_runs": len(spans),
        "tasks_busy_seconds": round(busy, 3),
        "overhead_seconds": round(flow_seconds - busy, 3),
        "overhead_share": round((flow_seconds - busy) / flow_seconds, 4) if flow_seconds > 0 else None,
    }
    if shards:
        wall = max(s.end for s in shards) - min(s.start for s in shards)
        work = sum(s.end - s.start for s in shards)
        out.update(
            first_shard_start_seconds=round(min(s.start for s in shards), 3),
            shards_wall_seconds=round(wall, 3),
            shard_task_seconds_sum=round(work, 3),
            worker_utilisation=round(work / (workers * wall), 3) if wall > 0 else None,
        )
    return out


def flow_task_spans(flow_run_id: str, settle_s: float = 15.0) -> tuple[float, list[TaskSpan]]:
    """The flow run's wall (API start to end) and the task runs of it and its subflows, from the API.

    The shards run in a subflow; the placeholder task run standing for that subflow in the parent
    is left out (it spans the subflow's own set-up, which is the coordinator's time, not work).
    Task-run states reach the server as events, a moment after the flow returns: poll until every
    task run has ended, or `settle_s` passes.
    """
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

    deadline = time.monotonic() + settle_s
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(UUID(flow_run_id))
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id])
                )
            )
            placeholders = {child.parent_task_run_id for child in children}
            ids = [flow_run.id, *(child.id for child in children)]
            runs = [
                r
                for r in client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
                if r.id not in placeholders
            ]
            done = [r for r in runs if r.start_time and r.end_time]
            if (len(done) == len(runs) and flow_run.end_time is not None) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    origin = flow_run.start_time.timestamp()
    end = (flow_run.end_time or max(r.end_time for r in done)).timestamp()
    spans = [
        TaskSpan(r.name, r.start_time.timestamp() - origin, r.end_time.timestamp() - origin) for r in done
    ]
    return end - origin, sorted(spans, key=lambda s: s.start)


def shard_rows(summary: dict, worker_pids: dict[str, list[int]]) -> list[dict]:
    """The summary's shards, each with the worker (worker-N) whose process ran it, when known."""
    by_pid = {pid: name for name, pids in worker_pids.items() for pid in pids}
    rows = []
    for shard in summary.get("shards") or []:
        parts = str(shard.get("worker", "")).split(":")  # host:pid:thread
        pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        rows.append({**shard, "worker_process": by_pid.get(pid)})
    return rows


def process_figures(roles: dict[str, list[int]]) -> dict[str, dict]:
    """CPU seconds and peak RSS (the kernel's VmHWM, so no sample misses a spike) per role's processes."""
    out = {}
    for role, pids in roles.items():
        cpu, peak = 0.0, 0
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
                status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
            except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
                continue
            cpu += times.user + times.system
            hwm = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
            peak = max(peak, int(hwm[0]) << 10 if hwm else 0)
        out[role] = {"cpu_seconds": round(cpu, 2), "peak_rss_mib": round(peak / 2**20, 1)}
    return out


def run_bench(
    inbox: Path,
    work: Path,
    batch_date: date,
    *,
    workers: int = 4,
    shards: int = 8,
    worker_memory: str = DEFAULT_WORKER_MEMORY,
) -> dict:
    """One nightly batch on a fresh Prefect server + external Dask cluster; returns the figures."""
    from aftersales.orchestration.server import start_server

    work.mkdir(parents=True, exist_ok=True)
    out: dict = {"workers": workers, "shards_asked": shards, "worker_memory": worker_memory,
                 "inbox": str(inbox), "batch_date": batch_date.isoformat(), "host_cpus": os.cpu_count()}  # fmt: skip
    with TreeSampler(interval_s=0.1) as sampler:
        t0 = time.perf_counter()
        server = start_server("127.0.0.1", free_port(), work / "prefect-server.log", ui=False, timeout_s=180)
        out["server_start_seconds"] = round(time.perf_counter() - t0, 2)
        os.environ["PREFECT_API_URL"] = server.url  # before the flow is imported: it talks to this server
        cluster = None
        try:
            cluster = start_cluster(workers, work / "dask", memory_limit=worker_memory)
            out["cluster_start_seconds"] = cluster.started_in_s
            out["dask_address"] = cluster.address
            groups = cluster.group_pids()
            pids = {f"worker-{i + 1}": groups[proc.pid] for i, proc in enumerate(cluster.workers)}
            server_pids = [
                server.process.pid,
                *(c.pid for c in psutil.Process(server.process.pid).children(True)),
            ]
            roles = {"coordinator": [os.getpid()], "prefect_server": server_pids,
                     "scheduler": groups[cluster.scheduler.pid], **pids}  # fmt: skip
            before = process_figures(roles)
            from flows.nightly import nightly_batch

            t0 = time.perf_counter()
            state = nightly_batch(
                inbox=str(inbox), warehouse=str(work / "warehouse.ducklake"), batch_date=batch_date.isoformat(),
                report_dir=str(work / "reports"), runner="dask", dask_address=cluster.address, shards=shards,
                return_state=True,
            )  # fmt: skip
            out["seconds"] = round(time.perf_counter() - t0, 3)
            summary = state.result()  # a failed flow raises here, naming the failed shard
            after = process_figures(roles)  # before the cluster stops: its processes must be alive
            flow_seconds, spans = flow_task_spans(str(state.state_details.flow_run_id))
        finally:
            if cluster is not None:
                cluster.stop()
            server.stop()
    out["memory"] = sampler.peak().__dict__
    out["processes"] = {  # during the flow only; peak RSS over each process's life
        role: {"cpu_seconds": round(after[role]["cpu_seconds"] - before[role]["cpu_seconds"], 2),
               "peak_rss_mib": after[role]["peak_rss_mib"]}
        for role in roles
    }  # fmt: skip
    out["stage_timings"] = summary.get("stage_timings", {})
    out["shards"] = shard_rows(summary, pids)
    out["coordinator"] = coordinator_overhead(flow_seconds, spans, workers)
    out["coordinator"]["overhead_from_stage_timings_seconds"] = round(
        out["seconds"]
        - sum(out["stage_timings"].get(k, 0.0) for k in ("preflight", "shards", "publish", "report")),
        3,
    )
    out["task_runs"] = [
        span.__dict__ | {"start": round(span.start, 3), "end": round(span.end, 3)} for span in spans
    ]
    out["run_id"] = summary.get("run_id")
    out["rows"] = {"read": (summary.get("ingest") or {}).get("rows_read"),
                   "published": sum(((summary.get("publish") or {}).get("rows") or {}).values())}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aftersales.bench.dask_cluster",
        description="One nightly batch on an external Dask scheduler + N workers on loopback.",
    )
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--worker-memory", default=DEFAULT_WORKER_MEMORY, help="memory limit of each worker")
    parser.add_argument("--batch-date", type=date.fromisoformat, default=None,
                        help="default: the batch date in the bench inbox's generator.json")  # fmt: skip
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / "bench" / "work" / "dask-cluster",
                        help="folder for the warehouse, reports, Prefect home and logs")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the figures")
    args = parser.parse_args(argv)
    # SIGTERM ends the bench through its `finally` blocks: the server and cluster are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work, inbox = args.work.resolve(), args.inbox.resolve()
    spec = inbox.parent / "generator.json"  # bench/inbox-<scale>/{inbox,generator.json}
    if args.batch_date is None and not spec.exists():
        parser.error(f"--batch-date is needed: no {spec} to take it from")
    day = args.batch_date or date.fromisoformat(json.loads(spec.read_text())["key"]["spec"]["batch_date"])
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # A throw-away pseudonym key unless one is given (as the bench harness does): workers inherit it.
    os.environ.setdefault("AFTERSALES_PSEUDONYM_KEY", secrets.token_hex(32))
    figures = run_bench(
        inbox, work, day,
        workers=args.workers, shards=args.shards, worker_memory=args.worker_memory,
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
