"""One measured nightly batch, in its own process: `python -m aftersales.bench.batch_run ...`.

The benchmark runs each measured batch in a fresh process so its peak memory is the batch's
own (not what generating the inbox or an earlier scale left behind).

Mode `flow` (default): a real `prefect server start` on a free loopback port (its own
PREFECT_HOME under the bench work folder) is started and awaited first; the clock then runs
from the call of the nightly flow to its return, so server start-up is excluded and reported
on its own. Mode `plain`: the declared stages (`aftersales.definitions`) as plain calls, no
Prefect at all. Either way the RSS of the whole process tree (batch + server) is sampled.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from datetime import date
from pathlib import Path

import psutil

from aftersales.bench.memory import TreeSampler, peaks_by_window


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


def _tree_cpu(root: psutil.Process) -> float:
    return _cpu_seconds(root) + sum(_cpu_seconds(c) for c in root.children(recursive=True))


def stage_windows(timings: dict[str, float]) -> list[tuple[str, float, float]]:
    """Stage windows (seconds from the start of sampling) from the stages' durations in order.

    The stages run back to back; the small gaps between them (Prefect task bookkeeping, about a
    second in all) shift later windows slightly, so a window is widened by half a second each side.
    The per-shard stages run side by side inside the `shards` window, which stands for them all.
    """
    from aftersales.definitions import shard_stages

    per_shard = {stage.name for stage in shard_stages()} if "shards" in timings else set()
    windows, at = [], 0.0
    for name, seconds in timings.items():
        if name in per_shard:
            continue
        windows.append((name, max(0.0, at - 0.5), at + seconds + 0.5))
        at += seconds
    return windows


def run_plain(inbox: Path, warehouse: Path, day: date, report_dir: Path) -> dict:
    """The declared stages as plain function calls (`aftersales.definitions.run_plain`), no Prefect."""
    from aftersales import definitions, pipeline
    from aftersales.run_record import RunRecord, summary_dict
    from aftersales.settings import load_settings

    settings = load_settings()
    run_id = pipeline.new_run_id(day)
    paths = pipeline.batch_paths(inbox, warehouse, settings.rules_dir, report_dir, run_id)
    record = RunRecord(run_id, day, paths.inbox)
    results = definitions.run_plain(paths, record, settings)
    pipeline.discard_work(paths)
    summaries = {"scoring": "score", "sla": "sla", "health": "health", "publish": "publish"}
    return {"run_id": run_id, "ingest": record.ingest, "stage_timings": record.stage_timings,
            "shards": results["shards"], "task_runner": "plain",
            **{key: summary_dict(results[stage]) for key, stage in summaries.items()}}  # fmt: skip


def measure(inbox: Path, warehouse: Path, day: date, report_dir: Path, mode: str, log_dir: Path) -> dict:
    me = psutil.Process()
    out: dict = {"mode": mode, "pid": os.getpid()}
    server = None
    if mode == "flow":
        from aftersales.orchestration.server import start_server

        t0 = time.perf_counter()
        server = start_server(
            "127.0.0.1", free_port(), log_dir / "prefect-server.log", ui=False, timeout_s=180
        )
        out["server_start_seconds"] = round(time.perf_counter() - t0, 2)
        out["api_url"] = server.url
        os.environ["PREFECT_API_URL"] = server.url  # before Prefect is imported: the flow talks to it
        from flows.nightly import nightly_batch
    try:
        out["loadavg_before"] = list(os.getloadavg())
        cpu_before, own_before = _tree_cpu(me), _cpu_seconds(me)
        with TreeSampler(interval_s=0.1) as sampler:
            t0 = time.perf_counter()
            if mode == "flow":
                result = nightly_batch(
                    inbox=str(inbox), warehouse=str(warehouse), batch_date=day.isoformat(),
                    report_dir=str(report_dir),
                )  # fmt: skip
            else:
                result = run_plain(inbox, warehouse, day, report_dir)
            out["seconds"] = round(time.perf_counter() - t0, 3)
            cpu_after, own_after = _tree_cpu(me), _cpu_seconds(me)
        out["loadavg_after"] = list(os.getloadavg())
        out["cpu_seconds"] = round(cpu_after - cpu_before, 2)  # batch + Prefect server
        out["batch_cpu_seconds"] = round(own_after - own_before, 2)
        out["memory"] = sampler.peak().__dict__
        out["memory"]["by_stage_mib"] = peaks_by_window(
            sampler.timeline, stage_windows(result["stage_timings"])
        )
        out["memory"]["timeline"] = [  # one sample per second: (s, tree MiB, batch MiB)
            (round(t, 1), round(tree / 2**20), round(own / 2**20))
            for i, (t, tree, own) in enumerate(sampler.timeline)
            if i % max(1, round(1 / sampler.interval_s)) == 0
        ]
        out["result"] = result
    finally:
        if server is not None:
            server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aftersales.bench.batch_run")
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--batch-date", type=date.fromisoformat, required=True)
    parser.add_argument("--report-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the measurements")
    parser.add_argument("--mode", choices=("flow", "plain"), default="flow")
    args = parser.parse_args(argv)
    measured = measure(
        args.inbox.resolve(), args.warehouse.resolve(), args.batch_date, args.report_dir.resolve(), args.mode,
        args.out.resolve().parent,
    )  # fmt: skip
    args.out.write_text(json.dumps(measured, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
