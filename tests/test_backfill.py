"""`aftersales backfill` end to end: dates in order as subflows of one parent flow, resumable.

Runs in this process against the session's temporary real Prefect server (conftest
`prefect_harness`), on
per-date copies of the committed sample inbox, with a frozen copy of the rule packs. Two full
nightly runs plus one refused date; the plan logic (skip / force / missing inbox) is covered
without Prefect in test_orchestration.py.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales.cli import main
from aftersales.publish.journal import pending_attempts

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
D1, D2 = date(2026, 11, 26), date(2026, 11, 27)


@pytest.fixture(autouse=True)
def quiet_env(monkeypatch):
    for name in ("AFTERSALES_INBOX", "AFTERSALES_WAREHOUSE", "AFTERSALES_CONFIG", "AFTERSALES_FAILPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFTERSALES_PSEUDONYM_KEY", "5e" * 32)


def runs(wh: Path) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute("SELECT batch_date, status, flow_run_id FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()


async def parent_flow_names(flow_run_ids: list[str]) -> list[tuple[str, str]]:
    """(flow name, parent flow name) of each nightly flow run: the backfill must be the parent."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        out = []
        for fid in flow_run_ids:
            fr = await client.read_flow_run(fid)
            parent_task = await client.read_task_run(fr.parent_task_run_id)
            parent = await client.read_flow_run(parent_task.flow_run_id)
            out.append(
                ((await client.read_flow(fr.flow_id)).name, (await client.read_flow(parent.flow_id)).name)
            )
        return out


def result_lines(out: str) -> dict[str, str]:
    """batch date -> ran / skipped / failed, from the summary table the command prints."""
    return {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line[:4] == "2026" and line.split()[1] in ("ran", "skipped", "failed")
    }


def test_backfill_runs_dates_in_order_stops_at_a_failure_and_resumes(
    prefect_harness, inbox, tmp_path, capsys
):
    wh = tmp_path / "wh.duckdb"
    exports = tmp_path / "exports"
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)  # frozen: the shared tree's rules/ may change meanwhile
    cmd = [
        "backfill",
        "--from",
        D1.isoformat(),
        "--to",
        D2.isoformat(),
        "--inbox-template",
        f"{exports}/{{date}}",
    ]
    cmd += ["--db", str(wh), "--rules", str(rules), "--report-dir", str(tmp_path / "reports")]
    shutil.copytree(inbox, exports / D1.isoformat())

    # A date without an inbox folder: refused before anything runs.
    assert main(cmd) == 1
    assert f"no inbox for {D2} ({exports / D2.isoformat()}); nothing was run" in capsys.readouterr().err
    assert not wh.exists()

    # D2's inbox lacks the shop registry: D1 is published, the backfill stops at D2 (journalled).
    (exports / D2.isoformat()).mkdir()
    assert main(cmd) == 1
    out, err = capsys.readouterr()
    assert (
        f"batch {D2} failed: inbox" in err
        and "has no shops.csv" in err
        and "re-run the same command to resume" in err
    )
    assert result_lines(out) == {D1.isoformat(): "ran", D2.isoformat(): "failed"}
    assert [(d, s) for d, s, _ in runs(wh)] == [(D1, "success")]
    assert [r["batch_date"] for r in pending_attempts(wh)] == [D2.isoformat()]
    nightly_ids = [f for _, _, f in runs(wh)] + [pending_attempts(wh)[0]["flow_run_id"]]
    assert asyncio.run(parent_flow_names(nightly_ids)) == [("aftersales-nightly", "aftersales-backfill")] * 2

    # Fixed inbox, same command: D1 is skipped, D2 runs; the failed attempt reaches `runs`.
    shutil.rmtree(exports / D2.isoformat())
    shutil.copytree(inbox, exports / D2.isoformat())
    assert main(cmd) == 0
    out = capsys.readouterr().out
    assert "1 to run, 1 already published" in out
    assert result_lines(out) == {D1.isoformat(): "skipped", D2.isoformat(): "ran"}
    assert sorted((d, s) for d, s, _ in runs(wh)) == [(D1, "success"), (D2, "failed"), (D2, "success")]
    assert pending_attempts(wh) == []
    con = duckdb.connect(str(wh), read_only=True)
    per_date = con.execute("SELECT batch_date, count(*) FROM rulings GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    assert [d for d, _ in per_date] == [D1, D2] and all(n > 0 for _, n in per_date)

    # Nothing left to do: a dry run plans only skips and runs nothing.
    assert main([*cmd, "--dry-run"]) == 0
    assert "0 to run, 2 already published" in capsys.readouterr().out
    assert len(runs(wh)) == 3
