"""`aftersales explain`, `rules lint` and `rules test` through the real command line."""

from __future__ import annotations

import datetime as dt

import pytest
from test_policy_support import BATCH, RULES_DIR, StagingDb, copy_rules

from aftersales.cli import main
from aftersales.policy import score_batch
from aftersales.policy.explain import ExplainError, explain_case


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """A work database judged twice: batch 2026-11-26 and batch 2026-11-27."""
    db = StagingDb(tmp_path_factory.mktemp("explain") / "work.duckdb")
    s = db.shop("US1", "US")
    db.order(s, "O1")
    db.request(
        s,
        "R1",
        "O1",
        return_type="Refund only",
        return_reason="Package not received",
        request_time="2026-11-20 09:00",
        seller_decision="Rejected",
        seller_response_time="2026-11-20 12:00",
    )
    db.order(s, "O2")
    db.request(s, "R2", "O2", return_reason="Item defective or doesn't work", request_time="2026-11-10 09:00")
    score_batch(db.path, dt.date(2026, 11, 26), "run-26", RULES_DIR)
    score_batch(db.path, BATCH, "run-27", RULES_DIR)
    return db


def test_explain_prints_the_ruling_trace_and_gaps(judged):
    text = explain_case(judged.path, "R1")
    assert "Case R1  kind: return_refund" in text and "batch: 2026-11-27  run: run-27" in text
    assert "Decision: need_evidence  liable party: none  remedy: none" in text
    assert "Decided by: us.reject_not_received_delivered" in text
    assert (
        "us.reject_not_received_delivered v1  decided  [decision=seller_favour; liable_party=none; " in text
    )
    assert (
        "seller tracking: missing, due " in text and ", decisive  <- us.reject_not_received_delivered" in text
    )


def test_explain_in_chinese(judged):
    text = explain_case(judged.path, "R2", lang="zh")
    assert "裁定: 支持买家" in text and "责任方: 卖家" in text
    assert (
        "说明:\n  裁定：支持买家。责任方：卖家。处理方式：退货退款。依据规则 us.auto_approve_review 裁定。"
        in text
    )
    assert "证据缺口:\n  （无）" in text


def test_explain_picks_the_requested_batch(judged):
    assert "batch: 2026-11-26  run: run-26" in explain_case(
        judged.path, "R2", batch_date=dt.date(2026, 11, 26)
    )
    with pytest.raises(ExplainError, match="case R2 has no ruling .* for batch 2026-11-01"):
        explain_case(judged.path, "R2", batch_date=dt.date(2026, 11, 1))


def test_explain_command(judged, capsys):
    assert (
        main(["explain", "R2", "--db", str(judged.path), "--lang", "zh", "--batch-date", "2026-11-27"]) == 0
    )
    assert "规则轨迹:" in capsys.readouterr().out
    assert main(["explain", "NOPE", "--db", str(judged.path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: case NOPE has no ruling") and "\n" not in err


def test_rules_lint_command_refuses_a_bad_pack_with_one_line_per_problem(tmp_path, capsys):
    rules = copy_rules(tmp_path)
    policy = rules / "uk_local" / "policy.yaml"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace(
            'when: "appeal_days_from_available > 7"', "when: \"read_text('/etc/passwd') <> ''\""
        ),
        encoding="utf-8",
    )
    assert main(["rules", "lint", "--rules", str(rules)]) == 1
    captured = capsys.readouterr()
    problem = (
        "pack uk_local, policy.yaml, rule uk.appeal_window v1: function read_text() is not allowed in "
        "a condition"
    )
    assert captured.out.strip().splitlines()[0] == problem  # the list on stdout
    assert captured.err.strip() == f"error: 1 problem(s) in {rules}; first: {problem}"  # one line on stderr


def test_rules_test_command_reports_failures_and_coverage(tmp_path, capsys):
    rules = copy_rules(tmp_path)  # packs without their scenario files
    scenarios = rules / "uk_local" / "scenarios"
    scenarios.mkdir(exist_ok=True)
    (scenarios / "one.yaml").write_text(
        """
defaults:
  batch_date: 2026-11-27
  shop: {market: UK, program: local, timezone: Europe/London}
  order: {paid_time: "2026-11-02 10:00", shipped_time: "2026-11-03 09:00", delivered_time: "2026-11-06 15:00",
          order_amount: 45.00, tracking_id: TRK1, sku_unit_original_price: 40.00}
scenarios:
  - name: change of mind 35 days after receipt is too late
    order: {delivered_time: "2026-10-15 15:00"}
    request: {return_type: Return and refund, return_reason: No longer needed, request_time: "2026-11-19 09:00"}
    expect: {decision: seller_favour, liable_party: buyer, decided_by: uk.com_window}
  - name: a deliberately wrong expectation
    request: {return_type: Return and refund, return_reason: No longer needed, request_time: "2026-11-16 09:00"}
    expect: {decision: seller_favour}
""",
        encoding="utf-8",
    )
    assert main(["rules", "test", "--rules", str(rules), "--pack", "uk_local"]) == 1
    captured = capsys.readouterr()
    assert (
        "FAIL uk_local/one.yaml: a deliberately wrong expectation: decision: expected seller_favour, got "
        "buyer_favour" in captured.out
    )
    assert "not exercised: uk_local uk.cancel_seller_fault v1" in captured.out
    assert "1/2 scenarios passed" in captured.out and "uk_local: " in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 1 scenario(s) failed, ")
    assert "FAIL uk_local/one.yaml: a deliberately wrong expectation" in err[0]
