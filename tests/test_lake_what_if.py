"""The what-if replay on a DuckLake warehouse: read through the lake, published back in one tagged commit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from aftersales.lakehouse.connect import open_warehouse
from aftersales.orchestration import what_if as rp
from aftersales.publish import publish_batch
from aftersales.rulepack import load_rulebook

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
DAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A small generated inbox, ingested and scored for real, published into a lake by the real publish."""
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec
    from aftersales.ingest import ingest_inbox
    from aftersales.policy import score_batch
    from aftersales.settings import load_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("AFTERSALES_PSEUDONYM_KEY", "5e" * 32)
    tmp = tmp_path_factory.mktemp("lake-what-if")
    inbox, work = tmp / "inbox", tmp / "work.duckdb"
    generate_inbox(inbox, GeneratorSpec(shops=2, orders=120, seed=5, batch_date=DAY), overwrite=True)
    ingest_inbox(inbox, work, DAY, "night-1", load_settings(), tmp / "report")
    score_batch(work, DAY, "night-1", RULES)
    run = {"run_id": "night-1", "batch_date": DAY.isoformat(), "started_at": "2026-11-28T02:00:00+00:00",
           "status": "success", "policy_version": "shipped"}  # fmt: skip
    publish_batch(work, tmp / "wh.ducklake", DAY, [run])
    mp.undo()
    return tmp / "wh.ducklake"


def _published(lake: Path) -> list[tuple]:
    con = open_warehouse(lake)
    try:
        return con.execute(
            "SELECT case_id, decision, remedy, liable_party FROM rulings ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def test_replaying_the_shipped_rules_on_a_lake_reproduces_every_ruling(lake):
    before = _published(lake)
    assert before
    counts = rp.stored_case_counts(lake, DAY, DAY)
    replay_id = rp.new_replay_id()
    replay_db = rp.replay_db_path(lake, replay_id)
    assert replay_db.parent.parent == lake.parent / ".work"
    try:
        per_date = rp.snapshot_cases(lake, replay_db, DAY, DAY)
        assert per_date == counts and per_date[DAY] > 0
        rp.rescore_cases(replay_db, DAY, replay_id, RULES)
        rp.build_diff(replay_db, replay_id)
        facts = rp.replay_facts(replay_db, replay_id)
        row = rp.replay_run_row(
            replay_id, RULES, load_rulebook(RULES), DAY, DAY, datetime.now(UTC), facts, None
        )
        rp.publish_replay(replay_db, lake, row)
    finally:
        rp.discard_replay_db(replay_db)

    assert _published(lake) == before  # the nightly's results are untouched
    cells = rp.shift_matrix(lake, replay_id)
    assert cells and all(old == new for old, new, _ in cells)
    assert sum(n for *_, n in cells) == len(before)
    assert rp.changed_cases(lake, replay_id) == []
    con = open_warehouse(lake)
    try:
        assert con.execute("SELECT replay_id FROM replay_runs").fetchall() == [(replay_id,)]
        tagged = con.execute(
            "SELECT count(*) FROM lake.snapshots() WHERE commit_extra_info LIKE ?", [f"%{replay_id}%"]
        ).fetchone()[0]
    finally:
        con.close()
    assert tagged == 1  # the replay's tables arrived in one lake commit
