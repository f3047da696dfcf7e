"""The sharded nightly batch end to end: the same published tables whatever the runner and the
shard count, and every way a shard can fail is loud (issue 14).

Each batch runs as `aftersales run` in a subprocess against a real Prefect server on loopback
(conftest `prefect_env`), so the Dask runs have the API their workers need and no run pays for
an ephemeral server.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from aftersales.lakehouse.connect import open_warehouse
from aftersales.sharding import plan_shards

ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-11-27"
KEY = "6b" * 32


def _compare_module():
    spec = importlib.util.spec_from_file_location(
        "compare_warehouses", ROOT / "bench" / "compare_warehouses.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shard_inbox(tmp_path_factory) -> Path:
    """A small generated inbox (5 CSV shops, 1 Open API shop) with what crosses shard lines: a
    file at the root, a folder of no registered shop, and the same bytes in two shops' folders."""
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec

    inbox = tmp_path_factory.mktemp("shards") / "inbox"
    generate_inbox(
        inbox,
        GeneratorSpec(shops=5, orders=150, seed=11, batch_date=date.fromisoformat(DAY), api_shops=1),
        overwrite=True,
    )
    shops = sorted(p.name for p in inbox.iterdir() if p.is_dir())
    first = next(p for p in sorted((inbox / shops[0]).rglob("*.csv")))
    shutil.copy(first, inbox / shops[-1] / f"copy-of-{first.name}")  # same bytes, another shop
    (inbox / "README.txt").write_text("exports of the day\n", encoding="utf-8")
    (inbox / "ZZUNLISTED1").mkdir()
    shutil.copy(first, inbox / "ZZUNLISTED1" / "orders.csv")
    return inbox


def run_batch(env: dict, inbox: Path, db: Path, *args: str, extra_env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "aftersales.cli", "run", "--inbox", str(inbox), "--db", str(db),
         "--batch-date", DAY, "--report-dir", str(db.parent / "reports"), *args],
        capture_output=True, text=True, timeout=600, cwd=db.parent,
        env=env | {"AFTERSALES_PSEUDONYM_KEY": KEY} | (extra_env or {}),
    )  # fmt: skip


def runs_row(db: Path) -> dict:
    con = open_warehouse(str(db))
    try:
        cur = con.execute("SELECT * FROM runs WHERE batch_date = ? ORDER BY finished_at DESC LIMIT 1", [DAY])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))
    finally:
        con.close()


def refusal(stderr: str) -> str:
    """The one line a failed run prints on stderr (the test's own FAILPOINT notices aside)."""
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("FAILPOINT ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def registered_shops(inbox: Path) -> list[str]:
    lines = (inbox / "shops.csv").read_text(encoding="utf-8").splitlines()[1:]
    return sorted(line.split(",")[0] for line in lines if line.strip())


@pytest.mark.slow
def test_every_runner_and_shard_count_publishes_the_same_tables(prefect_env, shard_inbox, tmp_path):
    """Sequentially as one shard, then as 3 shards in threads and on a Dask LocalCluster: every
    published table identical (run ids aside), whatever the runner and the shard count."""
    compare = _compare_module()
    runs = {
        "sequential": ("--runner", "sequential", "--shards", "1"),
        "threads": ("--runner", "threads", "--shards", "3", "--workers", "2"),
        "dask": ("--runner", "dask", "--shards", "3", "--workers", "2"),
    }
    # On Dask, the worker running shard 2 is killed once, after its ingest: Dask re-runs the shard
    # on a fresh worker, which must rebuild the same tables (a shard's task is idempotent).
    killed_once = tmp_path / "killed-once"
    dask_kill = {"AFTERSALES_FAILPOINT": "after-ingest", "AFTERSALES_FAILPOINT_ACTION": "kill",
                 "AFTERSALES_FAILPOINT_UNIT": "shard-002-of-003", "AFTERSALES_FAILPOINT_ONCE": str(killed_once)}  # fmt: skip
    warehouses = {}
    for name, args in runs.items():
        folder = tmp_path / name
        folder.mkdir()
        warehouses[name] = folder / "aftersales.ducklake"
        done = run_batch(
            prefect_env, shard_inbox, warehouses[name], *args, extra_env=dask_kill if name == "dask" else None
        )
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    assert killed_once.exists()
    planned = plan_shards(registered_shops(shard_inbox), 3)  # 6 shops: 2 non-empty shards of 3
    for name in ("threads", "dask"):
        results = compare.compare_warehouses(warehouses["sequential"], warehouses[name])
        differing = [c.lines() for c in results if not c.equal and c.table != "runs"]
        assert not differing, f"{name}: {differing}"
        row = runs_row(warehouses[name])
        assert (row["task_runner"], row["shards"], json.loads(row["failed_shops"])) == (
            name,
            len(planned),
            [],
        )
    assert runs_row(warehouses["sequential"])["shards"] == 1
    # the data itself crossed shard lines: several shards held shops with cases
    con = open_warehouse(str(warehouses["threads"]))
    try:
        shops_with_cases = {r[0] for r in con.execute("SELECT DISTINCT shop_id FROM rulings").fetchall()}
        ledger = dict(con.execute("SELECT source_file, status FROM file_ledger").fetchall())
    finally:
        con.close()
    assert sum(bool(shops_with_cases & set(s.shop_ids)) for s in planned) >= 2
    assert ledger["README.txt"] == "skipped" and ledger["ZZUNLISTED1/orders.csv"] == "skipped"
    assert [status for f, status in ledger.items() if "copy-of-" in f] == ["duplicate"]


def _second_shard(inbox: Path):
    return plan_shards(registered_shops(inbox), 3)[1]


@pytest.mark.slow
def test_a_failed_shard_fails_the_batch_naming_its_shops(prefect_env, shard_inbox, tmp_path):
    shard = _second_shard(shard_inbox)
    db = tmp_path / "aftersales.ducklake"
    failing = {"AFTERSALES_FAILPOINT": "after-scoring", "AFTERSALES_FAILPOINT_ACTION": "raise",
               "AFTERSALES_FAILPOINT_UNIT": shard.name}  # fmt: skip
    done = run_batch(prefect_env, shard_inbox, db, "--shards", "3", extra_env=failing)
    assert done.returncode == 1
    line = refusal(done.stderr)
    assert line.startswith("error: ") and f"{shard.name} (shops {shard.shop_ids[0]}" in line, done.stderr[
        -2000:
    ]
    assert "FailpointHit" in line
    # nothing published: the lake was never created, and the attempt is journalled as failed
    assert not db.exists()
    from aftersales.publish import pending_attempts

    assert [r["status"] for r in pending_attempts(db)] == ["failed"]


@pytest.mark.slow
def test_publish_others_publishes_the_rest_and_records_the_failed_shops(prefect_env, shard_inbox, tmp_path):
    shard = _second_shard(shard_inbox)
    db = tmp_path / "aftersales.ducklake"
    failing = {"AFTERSALES_FAILPOINT": "after-ingest", "AFTERSALES_FAILPOINT_ACTION": "raise",
               "AFTERSALES_FAILPOINT_UNIT": shard.name, "AFTERSALES_ON_SHARD_FAILURE": "publish-others"}  # fmt: skip
    done = run_batch(prefect_env, shard_inbox, db, "--shards", "3", extra_env=failing)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning: published without 1 failed shard(s)" in done.stderr and shard.name in done.stderr
    row = runs_row(db)
    assert row["status"] == "success" and json.loads(row["failed_shops"]) == list(shard.shop_ids)
    assert shard.name in row["error"]
    con = open_warehouse(str(db))
    try:
        published = {r[0] for r in con.execute("SELECT DISTINCT shop_id FROM seller_health").fetchall()}
    finally:
        con.close()
    assert published == set(registered_shops(shard_inbox)) - set(shard.shop_ids)


@pytest.mark.slow
def test_a_killed_dask_worker_fails_the_batch_naming_the_shard(prefect_env, shard_inbox, tmp_path):
    """The worker running one shard dies (SIGKILL): Dask gives up on the task (no retry allowed
    here) and the batch fails with that shard named, instead of completing with a None result."""
    shard = _second_shard(shard_inbox)
    db = tmp_path / "aftersales.ducklake"
    failing = {"AFTERSALES_FAILPOINT": "after-ingest", "AFTERSALES_FAILPOINT_ACTION": "kill",
               "AFTERSALES_FAILPOINT_UNIT": shard.name,
               "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # fmt: skip
    done = run_batch(prefect_env, shard_inbox, db, "--shards", "3", "--runner", "dask", "--workers", "2",
                     extra_env=failing)  # fmt: skip
    assert done.returncode == 1
    line = refusal(done.stderr)
    assert f"{shard.name} (shops {shard.shop_ids[0]}" in line and "KilledWorker" in line, done.stderr[-3000:]


def test_dask_on_the_ephemeral_prefect_api_is_refused_before_anything_runs(shard_inbox, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    db = tmp_path / "aftersales.ducklake"
    done = run_batch(env, shard_inbox, db, "--runner", "dask")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a running Prefect server" in lines[0] and "PREFECT_API_URL" in lines[0]
    assert not db.exists()
