"""`rules lint` and `rules test`: shipped packs are clean and fully exercised; bad packs are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_policy_support import RULES_DIR

from aftersales.cli import main
from aftersales.policy.expressions import PolicyPackError, validate_condition
from aftersales.policy.lint import lint_rules
from aftersales.policy.scenarios import run_scenarios
from aftersales.rulepack import RulePackError


def test_shipped_packs_pass_lint(capsys):
    assert main(["rules", "lint", "--rules", str(RULES_DIR)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    packs, rules, policy_rules = map(
        int, re.fullmatch(r"ok: (\d+) packs, (\d+) rules \((\d+) policy rules\)\n", out.out).groups()
    )
    assert packs == 5 and policy_rules > 250 and rules > policy_rules


def test_every_rule_of_every_pack_is_exercised_by_a_passing_scenario():
    report = run_scenarios(RULES_DIR)
    failures = [f"{r.scenario.pack}/{r.scenario.name}: {r.problems}" for r in report.failed]
    assert failures == []
    assert report.uncovered == [] and report.coverage == 1.0
    assert len(report.results) > 300
    assert all(covered == total for covered, total in report.coverage_by_pack().values())


SOURCES = """
sources:
  US-RRR: {citation: "seller-us returns page", firmness: S}
  US-REPL-1BD: {citation: "third-party changelog", firmness: 3P}
  DESIGN: {citation: "design", firmness: I}
"""
PACK = """
id: mini
version: 1
markets: [US]
programs: [local]
decision_thresholds: {buyer_favour: 40, partial_refund: 20, seller_favour: -20}
"""
GOOD_RULE = """
  - id: mini.window
    version: 1
    effective_from: 2023-01-01
    effective_to: null
    when: "delivered_at_request AND days_from_delivered > 30"
    priority: 20
    effect: {decision: seller_favour, liable_party: buyer, remedy: none}
    clause_en: "Request within 30 days of delivery."
    clause_zh: "须在签收后 30 天内申请。"
    source: US-RRR
    firmness: S
"""


def mini_rules(tmp_path: Path, rules_yaml: str, sla_yaml: str | None = None) -> Path:
    root = tmp_path / "rules"
    (root / "mini").mkdir(parents=True)
    (root / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    (root / "mini" / "pack.yaml").write_text(PACK, encoding="utf-8")
    (root / "mini" / "policy.yaml").write_text("rules:\n" + rules_yaml, encoding="utf-8")
    if sla_yaml is not None:
        (root / "mini" / "sla.yaml").write_text(sla_yaml, encoding="utf-8")
    return root


def rule(**changes) -> str:
    """GOOD_RULE with some fields replaced (values are YAML text)."""
    lines = GOOD_RULE.strip("\n").splitlines()
    out = []
    for line in lines:
        key = line.strip().removeprefix("- ").split(":", 1)[0]
        if key in changes:
            value = changes.pop(key)
            if value is None:
                continue
            indent = line[: len(line) - len(line.lstrip())]
            prefix = "- " if line.strip().startswith("- ") else ""
            out.append(f"{indent}{prefix}{key}: {value}")
        else:
            out.append(line)
    out += [f"    {k}: {v}" for k, v in changes.items()]
    return "\n".join(out) + "\n"


def lint_of(tmp_path, rules_yaml: str, sla_yaml: str | None = None) -> list[str]:
    return lint_rules(mini_rules(tmp_path, rules_yaml, sla_yaml)).problems


def test_the_mini_pack_itself_is_clean(tmp_path):
    assert lint_of(tmp_path, GOOD_RULE) == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"when": "\"read_csv('/etc/passwd') IS NOT NULL\""}, "function read_csv() is not allowed"),
        ({"when": '"TRUE; DROP TABLE rulings"'}, "exactly one expression, found 2 statements"),
        ({"when": '"DROP TABLE rulings"'}, "drop statement or operator is not allowed"),
        ({"when": '"days_from_delivered > (SELECT 30)"'}, "subquery is not allowed"),
        ({"when": "\"glob('/tmp/*') IS NOT NULL\""}, "function glob() is not allowed"),
        ({"when": "\"buyer_name = 'x'\""}, "unknown column 'buyer_name'"),
        ({"when": '"days_from_delivered + 1"'}, "condition is INTEGER, not BOOLEAN"),
        ({"when": '"delivered_time > 5"'}, "does not type-check"),
        ({"effect": "{decision: refund_everything}"}, "decision 'refund_everything' is not one of"),
        ({"effect": "{decision: seller_favour}"}, "seller_favour decision must name liable_party"),
        ({"priority": None}, "integer priority is required"),
        ({"colour": "blue"}, "unknown keys ['colour']"),
        ({"clause_zh": '"Request within 30 days."'}, "clause_zh has no Chinese text"),
        ({"clause_zh": None}, "missing clause_zh"),
        ({"source": "NOWHERE"}, "unknown source key 'NOWHERE'"),
        ({"firmness": "S", "source": "US-REPL-1BD"}, "firmness S is firmer than its source US-REPL-1BD (3P)"),
        ({"markets": "[UK]"}, "markets ['UK'] are outside the pack's scope"),
    ],
)
def test_lint_rejects_a_bad_rule_with_a_message_naming_pack_and_rule(tmp_path, changes, expected):
    problems = lint_of(tmp_path, rule(**changes))
    assert any(expected in p for p in problems), problems
    assert all("mini" in p for p in problems)


def test_lint_reports_a_gap_between_versions(tmp_path):
    v1 = rule(effective_to="2025-01-01")
    v2 = rule(version="2", effective_from="2025-03-01")
    problems = lint_of(tmp_path, v1 + v2)
    assert any(
        "gap between version 1 (ends 2025-01-01) and version 2 (starts 2025-03-01)" in p for p in problems
    )


def test_lint_reports_overlapping_versions(tmp_path):
    problems = lint_of(
        tmp_path, rule(effective_to="2025-06-01") + rule(version="2", effective_from="2025-03-01")
    )
    assert any("versions 1 and 2 overlap" in p for p in problems), problems


def test_lint_reports_rules_that_decide_differently_at_the_same_priority(tmp_path):
    other = rule(
        id="mini.goodwill",
        when='"delivered_at_request AND item_price < 5"',
        effect="{decision: buyer_favour}",
    )
    problems = lint_of(tmp_path, GOOD_RULE + other)
    assert any("mini.window and mini.goodwill may both decide a case at priority 20" in p for p in problems)


def test_lint_accepts_same_priority_rules_with_provably_disjoint_conditions(tmp_path):
    a = rule(id="mini.a", when="\"market = 'US' AND item_price < 5\"", effect="{decision: buyer_favour}")
    b = rule(id="mini.b", when="\"market = 'UK' AND item_price < 5\"", effect="{decision: manual_review}")
    assert lint_of(tmp_path, a + b) == []


def test_lint_reports_a_rule_shadowed_by_a_broader_one(tmp_path):
    narrow = rule(
        id="mini.window_cheap",
        priority="30",
        when='"delivered_at_request AND days_from_delivered > 30 AND item_price < 10"',
        effect="{decision: manual_review}",
    )
    problems = lint_of(tmp_path, GOOD_RULE + narrow)
    assert any("rule mini.window_cheap is shadowed by mini.window" in p for p in problems), problems


def test_lint_and_scenarios_report_an_unreadable_yaml_file_by_name(tmp_path):
    root = mini_rules(tmp_path, GOOD_RULE)
    (root / "mini" / "sla.yaml").write_text("rules: [unclosed\n", encoding="utf-8")
    problems = lint_rules(root).problems
    assert any(p.startswith(f"{root / 'mini' / 'sla.yaml'}: cannot be read as YAML: ") for p in problems)
    assert all("\n" not in p for p in problems)
    (root / "mini" / "sla.yaml").unlink()
    (root / "mini" / "scenarios").mkdir()
    (root / "mini" / "scenarios" / "broken.yaml").write_text("scenarios: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulePackError, match="broken.yaml: cannot be read as YAML"):
        run_scenarios(root)


def test_lint_checks_common_metadata_of_sla_files_too(tmp_path):
    sla = """
rules:
  - id: mini.sla.chat_reply
    version: 1
    effective_from: 2023-01-01
    clause_en: "Reply within 24 hours."
    clause_zh: "Reply within 24 hours."
    source: US-RRR
    firmness: S
"""
    problems = lint_of(tmp_path, GOOD_RULE, sla)
    assert problems == [
        "pack mini, sla.yaml, rule mini.sla.chat_reply v1: clause_zh has no Chinese text "
        "(missing Chinese clause)"
    ]


def test_lint_reports_unusable_pack_settings(tmp_path):
    root = mini_rules(tmp_path, GOOD_RULE)
    pack = root / "mini" / "pack.yaml"
    pack.write_text(PACK.replace("seller_favour: -20", "seller_favour: 30"), encoding="utf-8")
    assert any("thresholds must satisfy" in p for p in lint_rules(root).problems)


@pytest.mark.parametrize(
    "text",
    [
        "days_from_delivered > 30 AND reason_code NOT IN ('defective', 'counterfeit')",
        "coalesce(price_band, 'high') = 'high' AND review_bd > 4",
        "regexp_matches(lower(coalesce(product_category, '')), 'pre-owned|collectible')",
        "cutoff_time > seller_response_time + INTERVAL 14 DAY",
        "days_from_delivered > CASE WHEN is_mall THEN 15 ELSE 7 END",
        "NOT coalesce(has_tracking AND dispatch_bd <= 2, FALSE)",
    ],
)
def test_expression_validator_accepts_plain_conditions_over_features(text):
    assert validate_condition(text, "pack p, rule r")


@pytest.mark.parametrize(
    "text",
    [
        "read_parquet('s3://bucket/x') IS NULL",
        "getenv('HOME') = 'x'",
        "EXISTS (SELECT 1)",
        "c.days_from_delivered > 1",
        "count(*) OVER () > 1",
        "ATTACH 'other.db'",
        "COPY rulings TO '/tmp/x.csv'",
        "days_from_delivered::BLOB IS NULL",
    ],
)
def test_expression_validator_refuses_anything_else(text):
    with pytest.raises(PolicyPackError, match="pack p, rule r"):
        validate_condition(text, "pack p, rule r")
