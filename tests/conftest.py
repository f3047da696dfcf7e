"""Shared test setup: project-local Prefect home, no analytics, UTC sessions."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
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
