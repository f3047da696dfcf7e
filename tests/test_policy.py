"""score_batch on real DuckDB work databases filled by hand: outputs, features, versions, isolation."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest
from test_policy_support import BATCH, RULES_DIR, StagingDb, add_policy_rule, copy_rules, sha

from aftersales.policy import rescore_case_features, score_batch, validate_policy_packs
from aftersales.policy.evidence import validate_requirements
from aftersales.policy.features import DECISIONS, FEATURE_NAMES, LIABLE_PARTIES, REMEDIES
from aftersales.policy.packs import DEFAULT_FIRMNESS_WEIGHT
from aftersales.rulepack import RulePackError

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def us_batch(tmp_path):
    """One US shop with a silent return, an unproven rejection, a seller cancellation and an appeal."""
    db = StagingDb(tmp_path / "work.duckdb")
    s = db.shop("US1", "US")
    db.order(s, "O1")
    db.request(
        s,
        "R1",
        "O1",
        return_reason="Item defective or doesn't work",
        request_time="2026-11-10 09:00",
        refund_amount=40.0,
    )
    db.order(s, "O2")
    db.request(
        s,
        "R2",
        "O2",
        return_type="Refund only",
        return_reason="Package not received",
        request_time="2026-11-20 09:00",
        seller_decision="Rejected",
        seller_response_time="2026-11-20 12:00",
        seller_reject_reason="Package delivered",
    )
    # Two SKU lines: "Order Amount" repeats on both and must be taken once.
    db.order(
        s,
        "O3",
        sku_id="SKU1",
        price=30.0,
        amount=100.0,
        shipped_time=None,
        delivered_time=None,
        paid_time="2026-11-24 09:00",
    )
    db.order(
        s,
        "O3",
        sku_id="SKU2",
        price=70.0,
        amount=100.0,
        shipped_time=None,
        delivered_time=None,
        paid_time="2026-11-24 09:00",
    )
    db.cancellation(
        s, "C1", "O3", requested_by="Seller", cancel_reason="Out of stock", request_time="2026-11-24 12:00"
    )
    db.order(s, "O4")
    db.request(
        s,
        "R4",
        "O4",
        return_reason="Poor quality",
        request_time="2026-11-09 09:00",
        return_shipped_time="2026-11-10 10:00",
        return_delivered_time="2026-11-14 10:00",
        refund_time="2026-11-12 10:00",
    )
    db.appeal(
        s,
        "A1",
        "R4",
        appeal_type="item_damaged_or_used",
        appeal_available_time="2026-11-20 10:00",
        submitted_time="2026-11-21 10:00",
    )
    db.evidence(s, "A1", "Seller", "photo", "2026-11-21 10:00")
    return db


def test_score_batch_writes_one_ruling_per_case_with_hits_gaps_and_features(us_batch):
    summary = score_batch(us_batch.path, BATCH, "run-1", RULES_DIR)
    assert (summary.cases, summary.rulings, summary.rule_errors) == (5, 5, 0)
    assert us_batch.query("SELECT count(*), count(DISTINCT case_id) FROM rulings") == [(5, 5)]

    r1 = us_batch.ruling("R1")
    assert (r1["decision"], r1["liable_party"], r1["remedy"], r1["decided_by"]) == (
        "buyer_favour",
        "seller",
        "return_and_refund",
        "us.auto_approve_review",
    )
    assert (
        r1["case_kind"] == "return_refund"
        and r1["market"] == "US"
        and r1["rule_ids"][0] == "us.auto_approve_review"
    )
    assert float(r1["refund_amount_recommended"]) == 40.0
    version, effect, points, reason, role = us_batch.hits("R1")["us.auto_approve_review"]
    assert (
        (version, role) == (1, "decided") and "decision=buyer_favour" in effect and "business days" in reason
    )
    assert us_batch.hits("R1")["us.seller_fault_reason"][2] == 40.0

    r2 = us_batch.ruling("R2")
    assert (r2["decision"], r2["liable_party"], r2["remedy"]) == ("need_evidence", "none", "none")
    assert us_batch.gaps("R2") == [("seller", "tracking", "missing", True)]
    assert "Evidence gaps: seller tracking record (missing" in r2["explanation_en"]

    c1 = us_batch.ruling("C1")
    assert (c1["case_kind"], c1["decision"], c1["liable_party"], c1["remedy"]) == (
        "cancellation",
        "buyer_favour",
        "seller",
        "cancel_order",
    )
    assert float(c1["refund_amount_recommended"]) == 100.0  # order amount taken once, not 200

    a1 = us_batch.ruling("A1")
    assert (a1["case_kind"], a1["decision"], a1["liable_party"]) == ("appeal", "seller_favour", "buyer")
    assert a1["explanation_en"].startswith("Decision: appeal upheld.")
    assert a1["explanation_zh"].startswith("裁定：申诉成立。")

    stored = us_batch.query("SELECT * FROM case_features")
    columns = [r[0] for r in us_batch.query("DESCRIBE case_features")]
    features = {row[columns.index("case_id")]: dict(zip(columns, row, strict=True)) for row in stored}
    assert set(features) == {"R1", "R2", "C1", "R4", "A1"}
    assert set(FEATURE_NAMES) <= set(columns)  # every feature in its own typed column
    assert (
        features["C1"]["order_amount"] == Decimal("100.00") and features["R2"]["reason_class"] == "logistics"
    )
    assert features["A1"]["evidence_detail"][0]["evidence_type"] == "photo"
    assert not any("file_name" in item for f in features.values() for item in f["evidence_detail"])


def test_rulings_use_the_contract_vocabulary_and_bilingual_explanations(us_batch):
    score_batch(us_batch.path, BATCH, "run-1", RULES_DIR)
    for decision, liable, remedy, confidence, en, zh in us_batch.query(
        "SELECT decision, liable_party, remedy, confidence, explanation_en, explanation_zh FROM rulings"
    ):
        assert decision in DECISIONS and liable in LIABLE_PARTIES and remedy in REMEDIES
        assert 0.0 <= confidence <= 1.0
        assert en.startswith("Decision: ") and CJK.search(zh) and not CJK.search(en)
    r1 = us_batch.ruling("R1")
    assert "卖家须在 2 个工作日内" in r1["explanation_zh"]  # the deciding rule's Chinese clause


def test_rerunning_a_batch_replaces_its_rows(us_batch):
    score_batch(us_batch.path, BATCH, "run-1", RULES_DIR)
    counts = us_batch.query(
        "SELECT (SELECT count(*) FROM rulings), (SELECT count(*) FROM rule_hits), "
        "(SELECT count(*) FROM evidence_gaps), (SELECT count(*) FROM case_features)"
    )
    score_batch(us_batch.path, BATCH, "run-2", RULES_DIR)
    assert (
        us_batch.query(
            "SELECT (SELECT count(*) FROM rulings), (SELECT count(*) FROM rule_hits), "
            "(SELECT count(*) FROM evidence_gaps), (SELECT count(*) FROM case_features)"
        )
        == counts
    )
    assert us_batch.query("SELECT DISTINCT run_id FROM rulings") == [("run-2",)]


def test_business_days_skip_the_markets_public_holidays(tmp_path):
    """Same silent request on Wednesday 2026-11-25: Thanksgiving stops the US clock, not the UK one."""
    db = StagingDb(tmp_path / "work.duckdb")
    for shop, market in (("US1", "US"), ("UK1", "UK")):
        db.shop(shop, market)
        db.order(shop, f"O-{shop}")
        db.request(
            shop,
            f"R-{shop}",
            f"O-{shop}",
            return_reason="Item defective or doesn't work",
            request_time="2026-11-25 10:00",
        )
    score_batch(db.path, BATCH, "run-1", RULES_DIR)
    review = dict(db.query("SELECT case_id, review_bd FROM case_features"))
    assert review == {"R-US1": 1.5, "R-UK1": 2.5}
    assert db.ruling("R-US1")["decided_by"] == "score"
    assert db.ruling("R-UK1")["decided_by"] == "uk.auto_approve_review"


@pytest.mark.parametrize(
    "condition, words",
    [
        ("read_csv('/etc/passwd') IS NOT NULL", "read_csv"),
        ("TRUE; DROP TABLE stg_shops", "2 statements"),
        ("(SELECT count(*) FROM stg_shops) > 0", "subquery"),
    ],
)
def test_a_pack_that_reads_a_file_or_drops_a_table_is_refused_before_any_case_is_scored(
    tmp_path, us_batch, condition, words
):
    rules = copy_rules(tmp_path)
    add_policy_rule(
        rules,
        "us_local",
        f"""
  - id: us.sneaky
    version: 1
    effective_from: 2023-01-01
    effective_to: null
    when: "{condition}"
    priority: 1
    effect: {{decision: manual_review}}
    clause_en: "Sneaky."
    clause_zh: "测试规则。"
    source: DESIGN
    firmness: I
""",
    )
    with pytest.raises(RulePackError) as err:
        score_batch(us_batch.path, BATCH, "run-1", rules)
    assert "pack us_local" in str(err.value) and "us.sneaky" in str(err.value) and words in str(err.value)
    tables = {r[0] for r in us_batch.query("SELECT table_name FROM information_schema.tables")}
    assert "rulings" not in tables and "case_features" not in tables
    assert us_batch.query("SELECT count(*) FROM stg_shops") == [(1,)]


def test_rule_versions_follow_the_request_date_not_the_batch_date(tmp_path):
    db = StagingDb(tmp_path / "work.duckdb")
    vn = db.shop("VN1", "VN")
    # Same offsets twice: refund, appeal available 3 days later, submitted 12 days after the refund.
    for case, (paid, delivered, req, refund, avail, sent, ev) in {
        "2025": (
            "2025-11-20",
            "2025-11-25",
            "2025-11-27",
            "2025-12-05",
            "2025-12-08",
            "2025-12-17",
            "2025-12-09",
        ),
        "2026": (
            "2026-01-10",
            "2026-01-15",
            "2026-01-17",
            "2026-01-25",
            "2026-01-28",
            "2026-02-06",
            "2026-01-29",
        ),
    }.items():
        db.order(
            vn,
            f"O{case}",
            paid_time=f"{paid} 10:00",
            shipped_time=f"{paid} 18:00",
            delivered_time=f"{delivered} 15:00",
        )
        db.request(
            vn,
            f"R{case}",
            f"O{case}",
            return_reason="Poor quality",
            request_time=f"{req} 09:00",
            return_shipped_time=f"{req} 12:00",
            refund_time=f"{refund} 10:00",
        )
        db.appeal(
            vn,
            f"A{case}",
            f"R{case}",
            appeal_type="arbitration_lost",
            appeal_available_time=f"{avail} 10:00",
            submitted_time=f"{sent} 10:00",
        )
        db.evidence(vn, f"A{case}", "Seller", "awb_photo", f"{ev} 10:00")
        db.evidence(vn, f"A{case}", "Seller", "comparison_photo", f"{ev} 10:05")
    # SEA cross-border: buyer cancels a shipped, undelivered order 13 days after payment.
    cb = db.shop("THCB", "TH", "cross_border")
    for case, day in {"Jan": "2026-01-02", "Feb": "2026-02-02"}.items():
        d = pd.Timestamp(day)
        db.order(
            cb,
            f"O{case}",
            paid_time=f"{day} 10:00",
            shipped_time=f"{(d + pd.Timedelta(days=1)).date()} 09:00",
            delivered_time=None,
        )
        db.cancellation(
            cb,
            f"C{case}",
            f"O{case}",
            requested_by="Buyer",
            cancel_reason="Not delivered by estimated delivery date",
            request_time=f"{(d + pd.Timedelta(days=13)).date()} 09:00",
            seller_decision="Rejected",
            seller_response_time=f"{(d + pd.Timedelta(days=13)).date()} 10:00",
        )
    score_batch(db.path, BATCH, "run-1", RULES_DIR)

    # VN appeal window: 15 days from the refund until 2026-01-01, then 7 days from availability.
    assert "vn.appeal_window" not in db.hits("A2025")
    assert db.ruling("A2025")["decision"] == "manual_review"
    assert db.hits("A2026")["vn.appeal_window"][0] == 2
    assert (db.ruling("A2026")["decision"], db.ruling("A2026")["decided_by"]) == (
        "buyer_favour",
        "vn.appeal_window",
    )
    # SEA cross-border EDD cancellation exists only from 2026-01-27.
    assert (db.ruling("CJan")["decision"], db.ruling("CJan")["decided_by"]) == (
        "seller_favour",
        "sea.cancel_after_shipment",
    )
    assert (
        db.ruling("CFeb")["decision"],
        db.ruling("CFeb")["liable_party"],
        db.ruling("CFeb")["decided_by"],
    ) == ("buyer_favour", "carrier", "seacb.cancel_past_edd")


def test_a_rule_failing_at_run_time_sends_only_its_cases_to_manual_review(tmp_path):
    rules = copy_rules(tmp_path)
    add_policy_rule(
        rules,
        "us_local",
        """
  - id: us.category_code_bonus
    version: 1
    effective_from: 2023-01-01
    effective_to: null
    when: "CAST(product_category AS INTEGER) > 0"
    effect: {points: 5}
    clause_en: "Numeric category codes earn a bonus (test rule)."
    clause_zh: "数字类目代码加分（测试规则）。"
    source: DESIGN
    firmness: I
""",
    )
    db = StagingDb(tmp_path / "work.duckdb")
    s = db.shop("US1", "US")
    for case, category in (("RA", "Toys"), ("RB", "12")):
        db.order(s, f"O{case}", product_category=category)
        db.request(
            s,
            case,
            f"O{case}",
            return_reason="Item defective or doesn't work",
            request_time="2026-11-10 09:00",
        )
    summary = score_batch(db.path, BATCH, "run-1", rules)
    assert (summary.rulings, summary.rule_errors, summary.cases_in_error) == (2, 1, 1)
    assert "us.category_code_bonus" in summary.errors[0]

    broken = db.ruling("RA")
    assert (broken["decision"], broken["liable_party"], broken["remedy"], broken["confidence"]) == (
        "manual_review",
        "none",
        "none",
        0.0,
    )
    effect, points, reason, role = db.hits("RA")["us.category_code_bonus"][1:]
    assert (effect, points, role) == ("error", 0.0, "error") and "Toys" in reason
    assert "us.auto_approve_review" in db.hits("RA")  # the other rules still ran on the broken case
    assert "could not be evaluated" in broken["explanation_en"]

    fine = db.ruling("RB")
    assert (fine["decision"], fine["decided_by"]) == ("buyer_favour", "us.auto_approve_review")
    assert db.hits("RB")["us.category_code_bonus"][1:3] == ("points=+5", 5.0)


def test_evidence_suite_reports_missing_invalid_and_late_items(tmp_path):
    db = StagingDb(tmp_path / "work.duckdb")
    s = db.shop("US1", "US")
    for case in ("E-ok", "E-hash", "E-empty", "E-none"):
        db.order(s, f"O{case}")
        db.request(
            s,
            case,
            f"O{case}",
            return_type="Refund only",
            return_reason="Package not received",
            request_time="2026-11-20 09:00",
            seller_decision="Rejected",
            seller_response_time="2026-11-20 12:00",
        )
    db.evidence(s, "E-ok", "Seller", "proof_of_delivery", "2026-11-20 12:00")
    db.evidence(s, "E-hash", "Seller", "tracking", "2026-11-20 12:00", digest="not-a-sha256")
    db.evidence(s, "E-empty", "Seller", "tracking", "2026-11-20 12:00", size=0)
    # VN: extra information on a return-not-received appeal is due within 24 h of the appeal.
    vn = db.shop("VN1", "VN")
    db.order(
        vn,
        "OV",
        paid_time="2026-10-29 10:00",
        shipped_time="2026-10-30 09:00",
        delivered_time="2026-11-03 15:00",
    )
    db.request(
        vn,
        "RV",
        "OV",
        return_reason="Poor quality",
        request_time="2026-11-05 09:00",
        return_shipped_time="2026-11-05 12:00",
        return_tracking_id="RT1",
        refund_time="2026-11-07 10:00",
    )
    db.appeal(
        vn,
        "AV",
        "RV",
        appeal_type="return_not_received",
        appeal_available_time="2026-11-20 10:00",
        submitted_time="2026-11-21 10:00",
    )
    db.evidence(vn, "AV", "Seller", "awb_photo", "2026-11-23 10:00")
    score_batch(db.path, BATCH, "run-1", RULES_DIR)

    assert db.gaps("E-ok") == [] and db.ruling("E-ok")["decision"] == "seller_favour"
    assert db.gaps("E-hash") == [("seller", "tracking", "invalid", True)]
    assert db.gaps("E-empty") == [("seller", "tracking", "invalid", True)]
    assert db.gaps("E-none") == [("seller", "tracking", "missing", True)]
    for case in ("E-hash", "E-empty", "E-none"):
        assert db.ruling(case)["decision"] == "need_evidence"
    assert db.gaps("AV") == [("seller", "awb_photo", "late", True)]
    assert (db.ruling("AV")["decision"], db.ruling("AV")["liable_party"]) == ("buyer_favour", "seller")
    assert db.query("SELECT accepted_types FROM evidence_gaps WHERE case_id = 'E-none'") == [
        (["tracking", "proof_of_delivery"],)
    ]


def test_evidence_suite_flags_each_failing_requirement_row():
    frame = pd.DataFrame(
        {
            "req_id": [1, 2, 3, 4, 5],
            "found": [True, False, True, True, True],
            "is_valid": [True, None, True, False, True],
            "file_size_bytes": [10, None, 0, 10, 10],
            "sha256": [sha("a"), None, sha("b"), sha("c"), "zz"],
            "hours_before_due": [2.0, None, 1.0, 1.0, -5.0],
        }
    )
    assert validate_requirements(frame) == {2: "missing", 3: "invalid", 4: "invalid", 5: "invalid"}
    late = frame.assign(
        sha256=[sha(x) for x in "abcde"],
        is_valid=[True, None, True, True, True],
        file_size_bytes=[10, None, 10, 10, 10],
    )
    assert validate_requirements(late) == {2: "missing", 5: "late"}


def test_mall_status_comes_from_the_pack_setting(tmp_path):
    rules = copy_rules(tmp_path)
    pack = rules / "sea_local" / "pack.yaml"
    pack.write_text(
        pack.read_text(encoding="utf-8").replace("mall_shops: []", "mall_shops: [TH-MALL]"), encoding="utf-8"
    )
    db = StagingDb(tmp_path / "work.duckdb")
    for shop in ("TH-MALL", "TH-PLAIN"):
        db.shop(shop, "TH")
        db.order(shop, f"O-{shop}", delivered_time="2026-11-10 15:00")
        db.request(
            shop,
            f"R-{shop}",
            f"O-{shop}",
            return_reason="Poor quality",
            request_time="2026-11-20 09:00",
            seller_decision="Rejected",
            seller_response_time="2026-11-20 12:00",
        )
        db.evidence(shop, f"R-{shop}", "Buyer", "photo", "2026-11-20 09:05")
    score_batch(db.path, BATCH, "run-1", rules)
    assert (db.ruling("R-TH-PLAIN")["decision"], db.ruling("R-TH-PLAIN")["decided_by"]) == (
        "seller_favour",
        "th.return_window",
    )
    assert (db.ruling("R-TH-MALL")["decision"], db.ruling("R-TH-MALL")["decided_by"]) == (
        "buyer_favour",
        "score",
    )


def test_stored_case_features_replay_to_the_same_rulings_and_follow_candidate_settings(tmp_path, us_batch):
    s = "US1"
    us_batch.order(s, "O5")
    us_batch.request(
        s,
        "R5",
        "O5",
        return_reason="Wrong size",
        request_time="2026-11-20 09:00",
        seller_decision="Approved",
        seller_response_time="2026-11-20 10:00",
        return_shipped_time="2026-11-21 10:00",
    )
    score_batch(us_batch.path, BATCH, "run-1", RULES_DIR)
    replay_db = tmp_path / "replay.duckdb"
    shutil.copy(us_batch.path, replay_db)
    con = duckdb.connect(str(replay_db))
    con.execute("CREATE TABLE published AS SELECT * FROM rulings")
    con.execute("DROP TABLE stg_evidence")  # a replay sees stored features only
    con.close()

    rescore_case_features(replay_db, BATCH, "replay-1", RULES_DIR)
    compare = """SELECT count(*) FILTER (WHERE (o.decision, o.liable_party, o.remedy, o.refund_amount_recommended,
                        o.rule_ids, o.explanation_en, o.confidence) IS DISTINCT FROM
                        (n.decision, n.liable_party, n.remedy, n.refund_amount_recommended, n.rule_ids,
                         n.explanation_en, n.confidence)), count(*)
                 FROM published o FULL JOIN rulings n USING (case_id)"""
    con = duckdb.connect(str(replay_db))
    assert con.execute(compare).fetchall() == [(0, 6)]
    assert con.execute("SELECT DISTINCT run_id FROM rulings").fetchall() == [("replay-1",)]
    con.close()

    candidate = copy_rules(tmp_path)
    pack = candidate / "us_local" / "pack.yaml"
    text = pack.read_text(encoding="utf-8")
    text = text.replace("buyer_fault: [no_longer_needed, wrong_size]", "buyer_fault: [no_longer_needed]")
    text = text.replace("seller_fault: [not_as_described,", "seller_fault: [wrong_size, not_as_described,")
    pack.write_text(text, encoding="utf-8")
    rescore_case_features(replay_db, BATCH, "replay-2", candidate)
    con = duckdb.connect(str(replay_db))
    assert con.execute("SELECT liable_party FROM published WHERE case_id = 'R5'").fetchall() == [("buyer",)]
    assert con.execute("SELECT liable_party FROM rulings WHERE case_id = 'R5'").fetchall() == [("seller",)]
    con.close()


def test_cases_of_unknown_shops_are_counted_not_judged(tmp_path):
    db = StagingDb(tmp_path / "work.duckdb")
    s = db.shop("US1", "US")
    db.order(s, "O1")
    db.request(s, "R1", "O1", return_reason="Poor quality", request_time="2026-11-20 09:00")
    db.zone["GHOST"] = db.zone["US1"]
    db.request("GHOST", "RG", "OG", return_reason="Poor quality", request_time="2026-11-20 09:00")
    summary = score_batch(db.path, BATCH, "run-1", RULES_DIR)
    assert (summary.cases, summary.cases_without_shop) == (1, 1)
    assert db.query("SELECT case_id FROM rulings") == [("R1",)]


def test_shipped_packs_validate():
    policy = validate_policy_packs(RULES_DIR)
    assert {r.meta.pack for r in policy.rules} == {
        "us_local",
        "uk_local",
        "sea_local",
        "sea_cross_border",
        "us_cross_border",
    }
    assert all(r.meta.clause_zh and CJK.search(r.meta.clause_zh) for r in policy.rules)


def test_a_case_no_pack_covers_goes_to_manual_review_with_a_reason(tmp_path):
    db = StagingDb(tmp_path / "work.duckdb")
    con = duckdb.connect(str(db.path))
    con.execute("INSERT INTO stg_shops VALUES ('CN1', 'x', 'CN', 'local', 'CN', 'Asia/Shanghai', false)")
    con.close()
    db.zone["CN1"] = ZoneInfo("Asia/Shanghai")
    db.order("CN1", "O1")
    db.request("CN1", "R1", "O1", return_reason="Poor quality", request_time="2026-11-20 09:00")
    summary = score_batch(db.path, BATCH, "run-1", RULES_DIR)
    assert summary.decisions == {"manual_review": 1}
    ruling = db.ruling("R1")
    assert (ruling["decided_by"], ruling["confidence"], ruling["pack_id"]) == ("no_pack", 0.0, None)
    assert "No rule pack covers CN/local." in ruling["explanation_en"]
    assert "没有规则包覆盖CN的本土店铺。" in ruling["explanation_zh"]


def test_replay_refuses_cases_stored_before_features_had_typed_columns(tmp_path, us_batch):
    us_batch.order("US1", "O6")
    us_batch.request("US1", "R6", "O6", return_reason="Wrong size", request_time="2026-11-20 09:00")
    score_batch(us_batch.path, BATCH, "run-1", RULES_DIR)
    con = duckdb.connect(str(us_batch.path))
    # what an older warehouse holds: the key columns, the rest NULL (its features were JSON)
    con.execute("UPDATE case_features SET evidence_detail = NULL, item_price = NULL WHERE case_id = 'R6'")
    con.close()
    with pytest.raises(RuntimeError, match="predate typed case features"):
        rescore_case_features(us_batch.path, BATCH, "replay-1", RULES_DIR)


def test_firmness_weights_a_pack_omits_take_their_defaults_and_judge_alike(tmp_path, us_batch):
    score_batch(us_batch.path, BATCH, "run-1", RULES_DIR)
    shipped = us_batch.query("SELECT case_id, decision, confidence FROM rulings ORDER BY case_id")
    deciding = us_batch.query("SELECT DISTINCT firmness FROM rule_hits WHERE role = 'decided'")
    assert ("S",) in deciding  # an S rule decides a case: the omitted S weight is used
    rules = copy_rules(tmp_path)
    pack = rules / "us_local" / "pack.yaml"
    text = pack.read_text(encoding="utf-8")
    assert "firmness: {S: 0.95, 3P: 0.85, I: 0.75}" in text
    pack.write_text(text.replace("firmness: {S: 0.95, 3P: 0.85, I: 0.75}", "firmness: {3P: 0.85}"), "utf-8")
    policy = validate_policy_packs(rules)
    assert policy.settings["us_local"].firmness_weight == DEFAULT_FIRMNESS_WEIGHT
    score_batch(us_batch.path, BATCH, "run-2", rules)
    assert us_batch.query("SELECT case_id, decision, confidence FROM rulings ORDER BY case_id") == shipped
