"""Shared test setup: project-local Prefect home, no analytics, UTC sessions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    # Each pytest-xdist worker is its own process with its own temporary Prefect server: a
    # Prefect home (and SQLite database) of its own, or two servers lock each other out.
    os.environ["PREFECT_HOME"] = str(Path(os.environ["PREFECT_HOME"]) / f"xdist-{worker}")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session: flows run for real, start-up paid once."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


SAMPLE_INBOX = ROOT / "data" / "sample" / "inbox"
SAMPLE_BATCH_DATE = "2026-11-27"  # the sample inbox's business date (Makefile DEMO_DATE)


@pytest.fixture(scope="session")
def inbox(tmp_path_factory) -> Path:
    """The committed sample inbox, or a small generated one where it is missing."""
    if (SAMPLE_INBOX / "shops.csv").is_file():
        return SAMPLE_INBOX
    from datetime import date

    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec

    folder = tmp_path_factory.mktemp("generated") / "inbox"
    spec = GeneratorSpec(shops=2, orders=60, seed=3, batch_date=date.fromisoformat(SAMPLE_BATCH_DATE))
    generate_inbox(folder, spec, overwrite=True)
    return folder


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory, inbox) -> Path:
    """The warehouse `make demo` publishes: the real nightly batch (CLI, Prefect flow) on the sample inbox.

    Run once per session in a subprocess, so its Prefect and GX state never leak into the tests.
    """
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("demo")
    db = folder / "aftersales.duckdb"
    env = os.environ | {"AFTERSALES_PSEUDONYM_KEY": "00" * 32}
    proc = subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "run", "--inbox", str(inbox), "--db", str(db)]
        + ["--batch-date", SAMPLE_BATCH_DATE, "--report-dir", str(folder / "reports")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_env(tmp_path_factory):
    """A real Prefect server on loopback (what Dask workers and cron schedules need) and the
    environment a subprocess needs to use it: a fresh PREFECT_HOME, no analytics."""
    from aftersales.orchestration.server import start_server

    home = tmp_path_factory.mktemp("prefect-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="ERROR",
        DO_NOT_TRACK="1",
        PYTHONPATH=str(ROOT),
    )
    server = start_server("127.0.0.1", free_port(), home / "server.log", ui=False, env=env)
    env["PREFECT_API_URL"] = server.url
    yield env
    server.stop()


@pytest.fixture(scope="session")
def external_cluster(prefect_env, tmp_path_factory):
    """An external `dask scheduler` and two `dask worker` processes on loopback, started from an
    empty folder: what a task needs must be importable from the installed package, as on
    machines the batch does not run on."""
    folder = tmp_path_factory.mktemp("dask-cluster")
    env = {k: v for k, v in prefect_env.items() if k != "PYTHONPATH"}
    address = f"tcp://127.0.0.1:{free_port()}"
    dask_cli = [str(Path(sys.executable).with_name("dask"))]
    scheduler = subprocess.Popen(
        [*dask_cli, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "wb"),
    )  # fmt: skip
    workers = subprocess.Popen(
        [*dask_cli, "worker", address, "--nworkers", "2", "--nthreads", "1", "--memory-limit", "1GiB",
         "--no-dashboard"],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "workers.log", "wb"),
    )  # fmt: skip
    yield address
    for proc in (workers, scheduler):
        proc.terminate()
    for proc in (workers, scheduler):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
