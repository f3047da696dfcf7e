"""`aftersales replay` end to end on a real nightly batch: stored cases re-scored by the policy engine.

The identity check is the strong one: the shipped rules replayed over their own stored case
features must reproduce every published ruling. A candidate that turns "seller approved" into
manual review must move exactly those cases, and nothing published may change.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_INBOX = ROOT / "data" / "sample" / "inbox"
DAY = date(2026, 11, 27)
PUBLISHED = (
    "runs",
    "rulings",
    "case_features",
    "rule_hits",
    "evidence_gaps",
    "sla_breaches",
    "seller_health",
)

if not (SAMPLE_INBOX / "shops.csv").is_file():
    pytest.skip("the committed sample inbox (data/sample/inbox) is not there yet", allow_module_level=True)


@pytest.fixture(scope="module")
def warehouse(prefect_harness, tmp_path_factory):
    """One real nightly batch, run in this process against the session's temporary Prefect server."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AFTERSALES_PSEUDONYM_KEY", "5e" * 32)
    for name in ("AFTERSALES_WAREHOUSE", "AFTERSALES_CONFIG", "AFTERSALES_FAILPOINT"):
        mp.delenv(name, raising=False)
    tmp = tmp_path_factory.mktemp("replay")
    wh = tmp / "wh.duckdb"
    shutil.copytree(ROOT / "rules", tmp / "rules")  # frozen: the shared tree's rules/ may change meanwhile
    from flows.nightly import nightly_batch

    nightly_batch(
        inbox=str(SAMPLE_INBOX),
        warehouse=str(wh),
        batch_date=DAY.isoformat(),
        rules_dir=str(tmp / "rules"),
        report_dir=str(tmp / "reports"),
    )
    yield wh
    mp.undo()


def digest(wh: Path) -> str:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        h = hashlib.sha256()
        for t in PUBLISHED:
            h.update(repr(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()).encode())
        return h.hexdigest()
    finally:
        con.close()


def query(wh: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def replay(wh: Path, rules: Path, capsys) -> tuple[str, str]:
    code = main(
        ["replay", "--rules", str(rules), "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--db", str(wh)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    replay_id = re.search(r"^replay (replay-\S+):", out, flags=re.M).group(1)
    return replay_id, out


def test_replaying_the_shipped_rules_reproduces_every_published_ruling(warehouse, tmp_path, capsys):
    before = digest(warehouse)
    candidate = tmp_path / "same-rules"
    shutil.copytree(warehouse.parent / "rules", candidate)
    replay_id, out = replay(warehouse, candidate, capsys)
    assert digest(warehouse) == before
    published = query(warehouse, "SELECT count(*) FROM rulings WHERE batch_date = ?", [DAY])[0][0]
    assert published > 0
    assert query(
        warehouse,
        "SELECT count(*), count(*) FILTER (changed) FROM replay_diff WHERE replay_id = ?",
        [replay_id],
    ) == [(published, 0)]
    assert "decisions changed: 0" in out
    # Every row of the matrix sits on the diagonal.
    cells = query(
        warehouse,
        "SELECT old_decision, new_decision, count(*) FROM replay_diff WHERE replay_id = ? GROUP BY ALL",
        [replay_id],
    )
    assert all(o == n for o, n, _ in cells) and sum(k for *_, k in cells) == published


def test_a_candidate_moves_exactly_the_cases_its_change_touches(warehouse, tmp_path, capsys):
    before = digest(warehouse)
    candidate = tmp_path / "candidate"
    shutil.copytree(warehouse.parent / "rules", candidate)
    changed_rules = []
    for policy_file in candidate.glob("*/policy.yaml"):
        text = policy_file.read_text(encoding="utf-8")
        new = re.sub(
            r"(- id: (\w+\.seller_approved)\n(?:    .*\n)*?    effect: )\{decision: buyer_favour\}",
            r"\1{decision: manual_review, liable_party: none, remedy: none}",
            text,
        )
        if new != text:
            changed_rules += re.findall(r"- id: (\w+\.seller_approved)", text)
            policy_file.write_text(new, encoding="utf-8")
    assert changed_rules, "no seller_approved rule found to change in the shipped packs"

    replay_id, out = replay(warehouse, candidate, capsys)
    assert digest(warehouse) == before
    shifts = query(
        warehouse,
        "SELECT old_decision, new_decision, count(*) FROM replay_diff WHERE replay_id = ? AND decision_changed "
        "GROUP BY ALL",
        [replay_id],
    )
    print(f"candidate shifts: {shifts}")
    assert shifts and all(n == "manual_review" for _, n, _ in shifts)
    # The moved cases are the ones one of the changed rules decided in the published batch.
    moved = {
        r[0]
        for r in query(
            warehouse, "SELECT case_id FROM replay_diff WHERE replay_id = ? AND changed", [replay_id]
        )
    }
    # The explanation names the rule that decided a case ("... Decided by rule us.seller_approved.").
    decided = {
        r[0]
        for r in query(
            warehouse,
            "SELECT case_id FROM rulings WHERE batch_date = ? AND regexp_matches(explanation_en, "
            "'Decided by rule (' || array_to_string(?::VARCHAR[], '|') || ')\\.')",
            [DAY, changed_rules],
        )
    }
    assert moved and moved == decided
    assert "decision shift matrix" in out and "cases that changed" in out
    # The replay is recorded; other candidates' replays sit beside it, one per policy version.
    assert query(
        warehouse, "SELECT cases, decisions_changed FROM replay_runs WHERE replay_id = ?", [replay_id]
    ) == [(len(query(warehouse, "SELECT 1 FROM rulings WHERE batch_date = ?", [DAY])), len(moved))]
    assert query(warehouse, "SELECT count(*) - count(DISTINCT policy_version) FROM replay_runs") == [(0,)]
