"""`explain --lang zh` on every case of the sample batch: Chinese words only, times with zones, no `?`.

The sample inbox is ingested and scored once (real ingestion, real rule packs) into a work
database, which holds the same result tables as the warehouse. Identifiers are allowed in the
Chinese text: case, order, shop, rule and run ids, source keys, the policy version label, IANA
zone names and "UTC", plus the platform names TikTok and Shopee that rule clauses cite.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from aftersales.cli import main
from aftersales.ingest import ingest_inbox
from aftersales.policy import score_batch
from aftersales.policy.explain import explain_case, render_reason
from aftersales.rulepack import DEFAULT_RULES_DIR
from aftersales.settings import Settings

BATCH = dt.date(2026, 11, 27)
PROPER_NAMES = {"TikTok", "Shopee"}
TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?")
ZONE_AFTER_TIME = re.compile(r" (UTC|[A-Z][A-Za-z_]+/[A-Za-z_/+\-]+)")


@pytest.fixture(scope="module")
def judged(tmp_path_factory, inbox) -> Path:
    tmp = tmp_path_factory.mktemp("explain_zh")
    db = tmp / "work.duckdb"
    ingest_inbox(inbox, db, BATCH, "run-zh", Settings(pseudonym_key="5f" * 32), tmp / "reports")
    score_batch(db, BATCH, "run-zh", DEFAULT_RULES_DIR)
    return db


def _cases(db: Path) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(
            "SELECT r.case_id, r.order_id, r.shop_id, r.run_id, r.policy_version, r.decided_by, "
            "list(DISTINCT h.rule_id) FILTER (WHERE h.rule_id IS NOT NULL) AS rule_ids, "
            "list(DISTINCT h.source) FILTER (WHERE h.source IS NOT NULL) AS sources, "
            "(SELECT list(DISTINCT g.rule_id) FROM evidence_gaps g WHERE g.case_id = r.case_id) AS gap_rules, "
            "any_value(f.shop_timezone) AS zone "
            "FROM rulings r LEFT JOIN rule_hits h USING (case_id) LEFT JOIN case_features f USING (case_id) "
            "GROUP BY ALL ORDER BY r.case_id"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _identifiers(case: dict) -> list[str]:
    ids = {case["case_id"], case["order_id"], case["shop_id"], case["run_id"], case["policy_version"], "UTC"}
    ids |= {case["decided_by"], case["zone"], *PROPER_NAMES}
    ids |= set(case["rule_ids"] or []) | set(case["sources"] or []) | set(case["gap_rules"] or [])
    return sorted((i for i in ids if i), key=len, reverse=True)


def _untranslated(text: str, identifiers: list[str]) -> list[str]:
    for ident in identifiers:
        text = text.replace(ident, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def _times_without_zone(text: str) -> list[str]:
    return [m.group(0) for m in TIME.finditer(text) if not ZONE_AFTER_TIME.match(text, m.end())]


@pytest.mark.slow  # `judged`: the whole sample inbox ingested and scored
def test_every_sample_case_reads_in_chinese(judged):
    cases = _cases(judged)
    assert len(cases) >= 50  # the sample batch judges every market's cases
    problems = {}
    for case in cases:
        text = explain_case(judged, case["case_id"], "zh")
        found = {
            "english": _untranslated(text, _identifiers(case)),
            "placeholder": ["?"] if "?" in text else [],
            "no zone": _times_without_zone(text),
        }
        if any(found.values()):
            problems[case["case_id"]] = {k: v for k, v in found.items() if v}
    assert not problems, problems


@pytest.mark.slow
def test_english_output_says_missing_facts_in_words_and_zones_every_time(judged):
    con = duckdb.connect(str(judged), read_only=True)
    try:  # the cases whose stored reasons hold a missing fact ('?') or a time, plus those with gaps
        targets = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT case_id FROM rule_hits WHERE reason LIKE '%?%' "
                "OR regexp_matches(reason, '\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}') "
                "UNION SELECT case_id FROM evidence_gaps ORDER BY 1"
            ).fetchall()
        ]
    finally:
        con.close()
    assert len(targets) >= 10
    problems = {}
    for case in [c for c in _cases(judged) if c["case_id"] in targets]:
        text = explain_case(judged, case["case_id"], "en")
        found = {"placeholder": "'?'" in text or " ? " in text, "no zone": _times_without_zone(text)}
        if any(found.values()):
            problems[case["case_id"]] = found
    assert not problems, problems


def test_a_missing_fact_is_said_in_words():
    facts = {"reason_code": None, "seller_response_time": dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)}
    assert (
        render_reason("seller appeals a lost '{reason_code}' arbitration", facts, "Asia/Bangkok")
        == "seller appeals a lost '(reason code not in the exports)' arbitration"
    )
    assert (
        render_reason("approved {seller_response_time}", facts, "Asia/Bangkok")
        == "approved 2026-11-20 09:00 Asia/Bangkok"
    )


@pytest.mark.slow
def test_deciding_rule_overruled_by_missing_evidence_says_why(judged):
    con = duckdb.connect(str(judged), read_only=True)
    try:
        case_id, rule_id = con.execute(
            "SELECT r.case_id, r.decided_by FROM rulings r JOIN rule_hits h ON h.case_id = r.case_id "
            "AND h.rule_id = r.decided_by WHERE r.decision = 'need_evidence' AND h.effect LIKE 'decision=%' "
            "AND h.effect NOT LIKE 'decision=need_evidence%' ORDER BY r.case_id LIMIT 1"
        ).fetchone()
        explanation_zh = con.execute(
            "SELECT explanation_zh FROM rulings WHERE case_id = ?", [case_id]
        ).fetchone()[0]
    finally:
        con.close()
    zh = explain_case(judged, case_id, "zh")
    en = explain_case(judged, case_id, "en")
    decided_zh = next(
        line for line in zh.splitlines() if line.startswith(f"  {rule_id} ") and "裁定依据" in line
    )
    assert "但其要求的证据" in decided_zh and "故裁定为需补充证据" in decided_zh
    decided_en = next(line for line in en.splitlines() if line.startswith(f"  {rule_id} v"))
    assert "is missing, so the ruling is need_evidence" in decided_en
    assert "该规则要求的证据尚未提供" in explanation_zh


@pytest.mark.slow
def test_explain_command_in_chinese(judged, capsys):
    case_id = _cases(judged)[0]["case_id"]
    assert main(["explain", case_id, "--db", str(judged), "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"案件 {case_id}") and "规则轨迹:" in out
