"""Atomicity proofs on real `aftersales run` processes killed with SIGKILL at named failpoints.

Every test runs for both kinds of warehouse (`--db`): the single DuckDB file published by swap,
and the DuckLake (`.ducklake`) published by one catalog transaction, whose failpoints are
inside (between the table writes), just before and just after the commit.

Every run here is a real subprocess (`python -m aftersales.cli run`) on the committed sample
inbox, talking to one real Prefect server started for the module, so each run skips the ~8 s
temporary server a server-less Prefect process starts. Eight full runs in all. Also here, because they share the runs: the run-twice
idempotency check, the concurrent read-only reader, and the `runs` audit trail (stage timings,
rule-pack versions, counts, Prefect flow-run id, failed attempts arriving through the journal).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales.lakehouse.connect import open_warehouse
from aftersales.orchestration.server import start_server
from aftersales.publish.journal import KILLED, journal_path, pending_attempts
from aftersales.rulepack import load_rulebook
from aftersales.warehouse_schema import BATCH_TABLES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 27)  # the sample inbox's business date (Makefile DEMO_DATE)
NEW_DAY = date(2026, 11, 28)  # a second batch, published over DAY's warehouse
RUN_TIMEOUT_S = 240
KINDS = ("duckdb", "ducklake")
# Points where a kill must leave the warehouse exactly as it was, per kind; then the point just
# after the batch became visible (the journal not yet cleared).
# A kill before the publish stage (after-ingest, after-scoring) never reaches the warehouse,
# whatever its kind: it is proven once, on the default kind (the lake); the single DuckDB file is
# killed inside its own publish only.
PRE_SWAP_POINTS = {
    "duckdb": ("publish-before-commit", "publish-before-swap"),
    "ducklake": ("after-ingest", "after-scoring", "publish-between-tables", "publish-before-commit"),
}
AFTER_PUBLISH_POINT = {"duckdb": "publish-after-swap", "ducklake": "publish-after-commit"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    """A frozen copy of the rule packs: the shared tree's rules/ may change while the module runs."""
    folder = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


@pytest.fixture(scope="module")
def run_env(rules, tmp_path_factory):
    """Environment of every `aftersales run` here: private Prefect home and server, quiet, fixed key."""
    home = tmp_path_factory.mktemp("prefect-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_", "PREFECT_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        GX_ANALYTICS_ENABLED="False",
        DO_NOT_TRACK="1",
        AFTERSALES_PSEUDONYM_KEY="5e" * 32,
        AFTERSALES_RULES_DIR=str(rules),
    )
    server = start_server("127.0.0.1", free_port(), home / "server.log", ui=False, env=env)
    env["PREFECT_API_URL"] = server.url
    yield env
    server.stop()


def run_cmd(wh: Path, day: date, reports: Path, inbox: Path) -> list[str]:
    return [
        sys.executable, "-m", "aftersales.cli", "run",
        "--inbox", str(inbox), "--db", str(wh), "--batch-date", day.isoformat(), "--report-dir", str(reports),
    ]  # fmt: skip


def aftersales_run(env: dict, wh: Path, day: date, inbox: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        run_cmd(wh, day, wh.parent / "reports", inbox),
        env=env,
        cwd=wh.parent,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    return proc


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, (
        f"run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def run_killed_at(env: dict, wh: Path, day: date, inbox: Path, point: str) -> float:
    """Start a run frozen at `point`, SIGKILL its whole process group there; returns seconds to the point."""
    started = time.monotonic()
    proc = subprocess.Popen(
        run_cmd(wh, day, wh.parent / "reports", inbox),
        env={**env, "AFTERSALES_FAILPOINT": point, "AFTERSALES_FAILPOINT_SLEEP": "300"},
        cwd=wh.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=RUN_TIMEOUT_S)
            if line is None:
                pytest.fail(
                    f"run ended (status {proc.wait()}) before failpoint {point}:\n{''.join(seen[-40:])}"
                )
            seen.append(line)
            if line.split()[:2] == ["FAILPOINT", point]:  # (a shard's failpoint adds its name)
                break
        reached = time.monotonic() - started
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        return reached
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def connect_ro(wh: Path) -> duckdb.DuckDBPyConnection:
    """The documented entry point for both kinds (read-only, UTC, plain table names)."""
    return open_warehouse(wh)


def kind_of(wh: Path) -> str:
    return "ducklake" if wh.suffix == ".ducklake" else "duckdb"


def all_tables_digest(wh: Path) -> dict[str, str]:
    """table -> digest of its full sorted content (the 'table-identical' check)."""
    con = connect_ro(wh)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {
            t: hashlib.sha256(
                repr(con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()).encode()
            ).hexdigest()
            for t in names
        }
    finally:
        con.close()


def batch_content(wh: Path, table: str, day: date) -> list[tuple]:
    """A batch's rows of one table without run_id, sorted: what a rerun must reproduce exactly."""
    con = connect_ro(wh)
    try:
        return con.execute(
            f"SELECT * EXCLUDE (run_id) FROM {table} WHERE batch_date = ? ORDER BY ALL", [day]
        ).fetchall()
    finally:
        con.close()


def scalar(wh: Path, sql: str, params=()):
    con = connect_ro(wh)
    try:
        return con.execute(sql, list(params)).fetchone()[0]
    finally:
        con.close()


def leftovers(wh: Path) -> list[str]:
    """What killed publishes left beside the warehouse: swap temporaries, or lake files that no
    snapshot (current or past) of the catalog knows."""
    if kind_of(wh) == "duckdb":
        return sorted(p.name for p in wh.parent.glob(wh.name + ".publish.tmp*"))
    con = connect_ro(wh)
    try:
        known = {
            Path(f).name
            for (f,) in con.execute("SELECT path FROM __ducklake_metadata_lake.ducklake_data_file").fetchall()
        }
    finally:
        con.close()
    files = wh.with_name(wh.name + ".files")
    return sorted(str(p.relative_to(files)) for p in files.rglob("*.parquet") if p.name not in known)


@pytest.fixture(scope="module", params=KINDS)
def baseline(request, run_env, inbox, tmp_path_factory) -> Path:
    """A warehouse holding DAY, published by one successful run. Tests work on copies."""
    wh = tmp_path_factory.mktemp(f"baseline-{request.param}") / f"wh.{request.param}"
    assert_ok(aftersales_run(run_env, wh, DAY, inbox))
    return wh


def copy_warehouse(src: Path, dest_dir: Path) -> Path:
    """A copy of the warehouse (a lake: its catalog and its data folder)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    wh = dest_dir / src.name
    shutil.copyfile(src, wh)
    files = src.with_name(src.name + ".files")
    if files.is_dir():
        shutil.copytree(files, wh.with_name(wh.name + ".files"))
    return wh


READER = textwrap.dedent(
    """
    import json, sys, time, pathlib
    from aftersales.lakehouse.connect import open_warehouse
    wh, stop, day = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
    loops, errors, seen, slowest = 0, [], [], 0.0
    # A DuckDB file is swapped: reopen it for each query. A lake session sees the latest
    # snapshot in each query: keep it (opening one loads the extensions).
    lake = open_warehouse(wh) if wh.endswith(".ducklake") else None
    while not stop.exists():
        t0 = time.monotonic()
        try:
            con = lake or open_warehouse(wh)
            state = con.execute(
                "SELECT count(*), min(run_id), max(run_id) FROM rulings WHERE batch_date = ?::DATE", [day]
            ).fetchone()
            if lake is None:
                con.close()
            if not seen or seen[-1] != list(state):
                seen.append(list(state))
            loops += 1
            time.sleep(0.005)  # a busy reader, not a CPU hog on a shared machine
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.monotonic() - t0)
    print(json.dumps({"loops": loops, "errors": errors[:5], "error_count": len(errors),
                      "seen": seen, "slowest_s": round(slowest, 4)}))
    """
)


class Reader:
    """A separate process opening the warehouse read-only, querying and closing it, in a loop."""

    def __init__(self, wh: Path, env: dict):
        self.stop_file = wh.parent / "stop-reader"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(wh), str(self.stop_file), DAY.isoformat()],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def result(self) -> dict:
        self.stop_file.touch()
        try:
            out, _ = self.proc.communicate(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return json.loads(out)


def test_kills_before_the_swap_change_no_byte_and_a_rerun_is_idempotent_under_a_reader(
    run_env, inbox, baseline, tmp_path
):
    wh = copy_warehouse(baseline, tmp_path)
    points = PRE_SWAP_POINTS[kind_of(wh)]
    before_sha, before_tables = sha256(wh), all_tables_digest(wh)
    reached = {}
    for n, point in enumerate(points, start=1):
        reached[point] = round(run_killed_at(run_env, wh, DAY, inbox, point), 1)
        assert sha256(wh) == before_sha, f"warehouse bytes changed by a run killed at {point}"
        assert all_tables_digest(wh) == before_tables
        # the killed run's `running` line is all it left: the next publish reports it as failed
        killed = pending_attempts(wh)
        assert [(r["status"], r["error"], r["batch_date"]) for r in killed] == [
            ("failed", KILLED, DAY.isoformat())
        ] * n
    # The two publish failpoints leave the temporary copy (or unlisted Parquet files) behind; the
    # warehouse never saw them.
    assert leftovers(wh)
    stale_work = sorted(p.name for p in (wh.parent / ".work").iterdir())
    assert len(stale_work) == len(points)  # work databases of killed runs stay behind
    orphans = leftovers(wh)

    # The rerun of DAY, with a reader hammering the warehouse from another process meanwhile.
    reader = Reader(wh, run_env)
    time.sleep(0.5)
    started = time.monotonic()
    rerun = aftersales_run(run_env, wh, DAY, inbox)
    run_s = time.monotonic() - started
    time.sleep(0.3)
    seen = reader.result()
    assert_ok(rerun)
    print(f"seconds to failpoint: {reached}; rerun {run_s:.1f}s; reader: {seen}")
    # Stale swap temporaries are removed; a lake's orphan files wait for `aftersales maintain`
    # (readers never see them: no snapshot lists them).
    assert leftovers(wh) == ([] if kind_of(wh) == "duckdb" else orphans)

    # Reader: never a lock error, and only whole batches: the old run's rows, then the new run's.
    assert seen["error_count"] == 0, seen["errors"]
    assert seen["loops"] > 20
    old_run = scalar(baseline, "SELECT any_value(run_id) FROM rulings WHERE batch_date = ?", [DAY])
    new_run = scalar(wh, "SELECT any_value(run_id) FROM rulings WHERE batch_date = ?", [DAY])
    count = scalar(wh, "SELECT count(*) FROM rulings WHERE batch_date = ?", [DAY])
    assert old_run != new_run and count > 0
    assert seen["seen"] == [[count, old_run, old_run], [count, new_run, new_run]]

    # Idempotency: the rerun reproduces DAY exactly (bar run_id); nothing duplicated.
    for table in BATCH_TABLES:
        assert batch_content(wh, table, DAY) == batch_content(baseline, table, DAY), (
            f"{table} differs on rerun"
        )
    assert scalar(wh, "SELECT count(DISTINCT run_id) FROM rulings WHERE batch_date = ?", [DAY]) == 1
    assert scalar(wh, "SELECT count(*) - count(DISTINCT (case_kind, case_id)) FROM rulings") == 0
    assert scalar(wh, "SELECT count(*) - count(DISTINCT breach_id) FROM sla_breaches") == 0
    breach_ids = "SELECT list(breach_id ORDER BY breach_id) FROM sla_breaches WHERE batch_date = ?"
    assert scalar(wh, breach_ids, [DAY]) == scalar(baseline, breach_ids, [DAY])
    assert scalar(wh, "SELECT count(*) FROM sla_breaches WHERE batch_date = ?", [DAY]) > 0
    # runs: one row per attempt, the SIGKILLed ones included (settled from the journal).
    assert not journal_path(wh).exists()
    con = connect_ro(wh)
    assert con.execute(
        "SELECT batch_date, status, count(*) FROM runs GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        (DAY, "failed", len(points)),
        (DAY, "success", 2),
    ]
    assert con.execute("SELECT DISTINCT error FROM runs WHERE status = 'failed'").fetchall() == [(KILLED,)]
    con.close()


def test_a_kill_after_the_swap_leaves_the_new_batch_complete_and_the_journal_catches_up(
    run_env, inbox, baseline, tmp_path
):
    wh = copy_warehouse(baseline, tmp_path)
    # A refused attempt first: it is journalled beside the warehouse, which stays untouched.
    before_sha = sha256(wh)
    refused = aftersales_run(run_env, wh, NEW_DAY, tmp_path / "no-such-inbox")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("error: inbox")
    assert sha256(wh) == before_sha
    (failed,) = pending_attempts(wh)
    assert (failed["status"], failed["batch_date"]) == ("failed", NEW_DAY.isoformat())
    assert failed["error"].startswith("inbox ") and failed["error"].endswith("does not exist")

    run_killed_at(run_env, wh, NEW_DAY, inbox, AFTER_PUBLISH_POINT[kind_of(wh)])
    killed_state = {t: batch_content(wh, t, NEW_DAY) for t in BATCH_TABLES}
    killed_run = scalar(wh, "SELECT any_value(run_id) FROM rulings WHERE batch_date = ?", [NEW_DAY])
    assert killed_state["rulings"] and killed_state["case_features"]
    assert scalar(wh, "SELECT status FROM runs WHERE run_id = ?", [killed_run]) == "success"
    # The journalled failure went in with it; the kill left it in the journal too.
    assert scalar(wh, "SELECT count(*) FROM runs WHERE run_id = ?", [failed["run_id"]]) == 1
    # The kill after the swap left its own `running` line: it settles harmlessly (its success row
    # is already in `runs`; INSERT OR IGNORE keeps it).
    assert {r["run_id"] for r in pending_attempts(wh)} == {failed["run_id"], killed_run}

    assert_ok(aftersales_run(run_env, wh, NEW_DAY, inbox))
    # The killed run's batch was already complete: a full rerun reproduces it exactly (bar run_id).
    for table in BATCH_TABLES:
        assert batch_content(wh, table, NEW_DAY) == killed_state[table], table
        assert batch_content(wh, table, DAY) == batch_content(baseline, table, DAY), (
            f"{table}: other date moved"
        )
    assert not journal_path(wh).exists()
    assert scalar(wh, "SELECT status FROM runs WHERE run_id = ?", [killed_run]) == "success"
    con = connect_ro(wh)
    assert con.execute(
        "SELECT status, error, flow_run_id FROM runs WHERE run_id = ?", [failed["run_id"]]
    ).fetchall() == [
        ("failed", failed["error"], None)  # once; refused before Prefect started, so no flow run
    ]
    assert con.execute("SELECT count(*) - count(DISTINCT run_id) FROM runs").fetchone()[0] == 0
    assert con.execute(
        "SELECT batch_date, status, count(*) FROM runs GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        (DAY, "success", 1),
        (NEW_DAY, "failed", 1),
        (NEW_DAY, "success", 2),
    ]
    con.close()


def test_runs_records_timings_versions_counts_and_the_prefect_flow_run(run_env, rules, inbox, baseline):
    con = connect_ro(baseline)
    rel = con.execute("SELECT * FROM runs")
    names = [d[0] for d in rel.description]
    (run,) = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    # Every inbox file has a ledger line (ingested, skipped or duplicate); a row rejected for two
    # reasons has two quarantine lines but is one quarantined row.
    ledger_files, ledger_rows, ledger_quarantined = con.execute(
        "SELECT count(*), sum(rows_read), sum(rows_quarantined) FROM file_ledger"
    ).fetchone()
    quarantined = con.execute(
        "SELECT count(DISTINCT (source_file, line_number)) FROM quarantine WHERE line_number IS NOT NULL"
    ).fetchone()[0]
    con.close()
    book = load_rulebook(rules)
    assert (run["batch_date"], run["status"], run["error"]) == (DAY, "success", None)
    assert run["finished_at"] >= run["started_at"]
    timings = json.loads(run["stage_timings"])
    assert {"preflight", "ingest", "score", "sla", "health"} <= set(timings)
    assert all(isinstance(v, float | int) and v >= 0 for v in timings.values())
    assert json.loads(run["rule_pack_versions"]) == {p.id: p.version for p in book.packs}
    assert run["policy_version"] == book.policy_version
    assert run["files_read"] == ledger_files > 0
    assert run["rows_read"] == ledger_rows > 0
    assert run["rows_quarantined"] == ledger_quarantined == quarantined > 0
    assert run["inbox"] == str(inbox)
    # The flow-run id is a real, completed run of the nightly flow on the module's Prefect server.
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from prefect.client.orchestration import get_client
        async def main(flow_run_id):
            async with get_client() as client:
                fr = await client.read_flow_run(flow_run_id)
                flow = await client.read_flow(fr.flow_id)
                print(json.dumps([flow.name, fr.state.type.value, fr.parameters["batch_date"]]))
        asyncio.run(main(sys.argv[1]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, run["flow_run_id"]],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["aftersales-nightly", "COMPLETED", DAY.isoformat()]
