"""`aftersales serve` on a real Prefect server: schedule registered, a run executed, clean shutdown.

One `aftersales serve` starts `prefect server start` on a free loopback port (temporary
PREFECT_HOME) and serves the nightly deployment; a second one finds that server answering and
only registers/serves. A run is then created through the API, scheduled (in the past) for
02:00 London on 28 Nov 2026 with no batch date: the serving process must execute it and close
27 Nov from the sample inbox. SIGTERM stops serving; the server stops with the process that
started it, and only with that one.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from aftersales.orchestration.server import is_healthy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")
DAY = date(2026, 11, 27)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serving:
    """An `aftersales serve` subprocess in its own process group, its output collected as it comes."""

    def __init__(self, args: list[str], env: dict, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aftersales.cli", "serve", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, pattern: str, timeout_s: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout_s
        for line in list(self.lines):
            if m := re.search(pattern, line):
                return m
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            if m := re.search(pattern, line):
                return m
        pytest.fail(f"no line matching {pattern!r}; output:\n{''.join(self.lines)[-4000:]}")

    def terminate(self, timeout_s: float = 40) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def deployment_facts(name: str) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        dep = await client.read_deployment_by_name(name)
        scheduled = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )
        return {"deployment": dep, "scheduled": scheduled}


async def flow_run_facts(flow_run_id: str) -> tuple[str, str, str]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        fr = await client.read_flow_run(flow_run_id)
        flow = await client.read_flow(fr.flow_id)
        return flow.name, fr.name, fr.state.type.value


def test_serve_registers_the_schedule_and_executes_a_run(inbox, tmp_path):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployment import DEPLOYMENT_NAME, FLOW_NAME

    port = free_port()
    wh = tmp_path / "warehouse" / "aftersales.duckdb"
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)  # frozen: the shared tree's rules/ may change meanwhile
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_", "PREFECT_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # pick the run up within a second (default 10 s)
        GX_ANALYTICS_ENABLED="False",
        DO_NOT_TRACK="1",
        AFTERSALES_INBOX=str(inbox),
        AFTERSALES_RULES_DIR=str(rules),
        AFTERSALES_WAREHOUSE=str(wh),
        AFTERSALES_REPORT_DIR=str(tmp_path / "reports"),
        AFTERSALES_TIMEZONE="Europe/London",
        AFTERSALES_PREFECT_API_PORT=str(port),
        AFTERSALES_PSEUDONYM_KEY="5e" * 32,
    )
    url = f"http://127.0.0.1:{port}/api"
    first = second = None
    server_pid = None
    try:
        started = time.monotonic()
        first = Serving(["--no-ui"], env, tmp_path)
        m = first.wait_for(r"Prefect server started at (\S+) in ([\d.]+)s \(pid (\d+)", timeout_s=90)
        assert m.group(1) == url
        server_pid = int(m.group(3))
        first.wait_for(
            r"serving 'aftersales-scheduled-nightly/nightly': cron '0 2 \* \* \*' in Europe/London"
        )
        first.wait_for(r"next: .* -> batch \d{4}-\d{2}-\d{2}")

        # A second serve finds the server answering and leaves it alone when it stops.
        second = Serving(["--no-ui"], env, tmp_path)
        second.wait_for(r"Prefect server already answering at http://127\.0\.0\.1:\d+/api: using it")
        second.wait_for(r"stop with Ctrl-C")

        name = f"{FLOW_NAME}/{DEPLOYMENT_NAME}"
        with temporary_settings(updates={PREFECT_API_URL: url}):
            deadline = time.monotonic() + 60
            facts = None
            while time.monotonic() < deadline:
                try:
                    facts = asyncio.run(deployment_facts(name))
                except Exception:  # noqa: BLE001 - not registered yet
                    facts = None
                if facts and facts["scheduled"]:
                    break
                time.sleep(1)
            assert facts and facts["scheduled"], "the server's scheduler created no nightly runs"
            dep = facts["deployment"]
            (schedule,) = dep.schedules
            assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (
                "0 2 * * *",
                "Europe/London",
                True,
            )
            assert dep.parameters["inbox"] == str(inbox)
            assert dep.parameters["rules_dir"] == str(rules)
            assert dep.parameters["warehouse"] == str(wh)
            for run in facts["scheduled"]:
                local = run.expected_start_time.astimezone(LONDON)
                assert (local.hour, local.minute) == (2, 0)
                assert "batch_date" not in run.parameters

            assert second.terminate() == 0
            assert is_healthy(url), "the second serve stopped a server it did not start"

            # Due since 02:00 London on 28 Nov 2026 with no batch date: it must close 27 Nov.
            t0 = time.monotonic()
            flow_run = run_deployment(
                name,
                parameters={},
                scheduled_time=datetime(2026, 11, 28, 2, 0, tzinfo=LONDON),
                timeout=150,
                poll_interval=1,
                as_subflow=False,
            )
            run_s = time.monotonic() - t0
            assert flow_run.state.is_completed(), flow_run.state
            con = duckdb.connect(str(wh), read_only=True)
            rows = con.execute(
                "SELECT batch_date::VARCHAR, status, flow_run_id FROM runs ORDER BY started_at"
            ).fetchall()
            rulings = con.execute(
                "SELECT count(*) FROM rulings WHERE batch_date = DATE '2026-11-27'"
            ).fetchone()[0]
            con.close()
            assert [(d, s) for d, s, _ in rows] == [("2026-11-27", "success")]
            assert rulings > 0
            assert asyncio.run(flow_run_facts(rows[0][2])) == (
                "aftersales-nightly",
                "batch-2026-11-27",
                "COMPLETED",
            )

        assert first.terminate() == 0
        assert not is_healthy(url, timeout_s=1.0)
        deadline = time.monotonic() + 15
        while pid_alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pid_alive(server_pid), "the Prefect server outlived `aftersales serve`"
        print(
            f"serve: server up in {m.group(2)}s, triggered run completed in {run_s:.1f}s, "
            f"whole test {time.monotonic() - started:.1f}s"
        )
    finally:
        for s in (second, first):
            if s is not None:
                s.kill()
        if server_pid and pid_alive(server_pid):
            os.killpg(server_pid, signal.SIGKILL)
