"""Calibration (issue #16): point-in-time cases without leakage, agreement statistics, the command.

The warehouse fixture is real: a generated inbox (platform verdicts from the generator's hidden
true policy, with its planted deviation and 5% noise) ingested once, scored by the policy engine
on several batch dates (a backfill from one cumulative export, so stored rows of early dates DO
carry later facts: exactly the leakage calibration must cut away), features and rulings stored.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from aftersales import database
from aftersales.calibration.agreement import build_summary, cohen_kappa, wilson_interval
from aftersales.calibration.outcomes import OUTCOME_COLUMNS, refuse_outcome_rules
from aftersales.calibration.point_in_time import (
    DERIVED_FROM,
    feature_classes,
    masked_select_sql,
    timestamp_features,
)
from aftersales.calibration.rejudge import CALIBRATION_DDL, calibrate
from aftersales.policy.features import EVIDENCE_DETAIL_COLUMN, FEATURE_NAMES, FEATURE_TYPES
from aftersales.publish.swap import insert_common_columns
from aftersales.rulepack import RulePackError
from aftersales.warehouse_schema import create_result_tables

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXPORT_DATE = date(2026, 11, 27)
BATCH_DATES = [EXPORT_DATE - timedelta(days=k) for k in range(0, 36, 4)]
NOISE = 0.05
FIRST, LAST = date(2026, 10, 1), EXPORT_DATE


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """Stored case features and rulings of ten batch dates, scored for real from one generated export."""
    from aftersales.generate.platform import PlatformPolicy
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec
    from aftersales.ingest import ingest_inbox
    from aftersales.policy import score_batch
    from aftersales.settings import load_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("AFTERSALES_PSEUDONYM_KEY", "5e" * 32)
    tmp = tmp_path_factory.mktemp("calibration")
    inbox = tmp / "inbox"
    spec = GeneratorSpec(
        shops=4, orders=2000, seed=11, batch_date=EXPORT_DATE, bad_row_rate=0.0, requests=700, appeals=250,
        platform=PlatformPolicy(noise=NOISE, upholds_late_appeals=True),
    )  # fmt: skip
    generate_inbox(inbox, spec, overwrite=True)
    work = tmp / "work.duckdb"
    ingest_inbox(inbox, work, EXPORT_DATE, "ingest", load_settings(), tmp / "report")
    for day in BATCH_DATES:
        score_batch(work, day, f"run-{day}", RULES)
    wh = tmp / "wh.duckdb"
    store_scored_batches(work, wh)
    mp.undo()
    return wh


def store_scored_batches(work: Path, warehouse: Path) -> None:
    """A warehouse holding the work database's stored case features and rulings (what calibrate reads)."""
    con = database.connect(warehouse)
    try:
        create_result_tables(con)
        con.execute(f"ATTACH '{work}' AS work (READ_ONLY)")
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        for table in ("case_features", "rulings"):
            insert_common_columns(con, f"{catalog}.{table}", f"work.{table}")
        con.execute("DETACH work")
    finally:
        con.close()


# --- leakage: every feature is cut at the as-of instant ---------------------------------------


def test_every_feature_has_exactly_one_point_in_time_class():
    classes = feature_classes()
    assert set(classes) == set(FEATURE_NAMES)
    assert set(timestamp_features()) == {n for n in FEATURE_NAMES if FEATURE_TYPES[n] == "TIMESTAMPTZ"}
    for name, deps in DERIVED_FROM.items():
        assert all(classes[d] == "timestamp" for d in deps), name
    for column in OUTCOME_COLUMNS:
        assert column in FEATURE_NAMES


def _stored_row_db(tmp_path: Path, case_kind: str, offset: str) -> duckdb.DuckDBPyConnection:
    """A case_features table with one row whose every timestamp lies `offset` from its cut-off."""
    con = duckdb.connect(str(tmp_path / f"{case_kind}.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    create_result_tables(con)
    values = {}
    for name in FEATURE_NAMES:
        typ = FEATURE_TYPES[name]
        if name == "batch_date":
            continue
        if typ == "TIMESTAMPTZ":
            values[name] = f"TIMESTAMPTZ '2026-11-20 17:00:00+00' + INTERVAL '{offset}'"
        elif typ == "BOOLEAN":
            values[name] = "TRUE"
        elif typ == "DATE":
            values[name] = "DATE '2026-11-20'"
        elif typ.startswith(("DOUBLE", "DECIMAL", "INTEGER")):
            values[name] = "7"
        else:
            values[name] = f"'{name}-value'"
    values.update(
        case_kind=f"'{case_kind}'",
        cutoff_time="TIMESTAMPTZ '2026-11-20 17:00:00+00'",
        request_time="TIMESTAMPTZ '2026-11-18 10:00:00+00'",
        arbitration_status="'Decided for buyer'",
        appeal_status="'Approved'",
        cancel_status="'Cancelled'",
    )
    evidence = (
        "[{'party': 'buyer', 'evidence_type': 'photo', 'uploaded_time': TIMESTAMPTZ '2026-11-19 10:00:00+00', "
        "'file_size_bytes': 10, 'sha256': 'a', 'is_valid': TRUE}, "
        "{'party': 'seller', 'evidence_type': 'video', 'uploaded_time': TIMESTAMPTZ '2026-11-21 10:00:00+00', "
        "'file_size_bytes': 10, 'sha256': 'b', 'is_valid': TRUE}]"
    )
    names = ", ".join(f'"{n}"' for n in values)
    con.execute(
        f"INSERT INTO case_features (batch_date, run_id, {names}, {EVIDENCE_DETAIL_COLUMN}) "
        f"VALUES (DATE '2026-11-20', 'r', {', '.join(values.values())}, {evidence})"
    )
    return con


def _cut(con) -> dict:
    rel = con.execute(f"SELECT {masked_select_sql()} FROM case_features s")
    return dict(zip([d[0] for d in rel.description], rel.fetchone(), strict=True))


@pytest.mark.parametrize("case_kind", ["return_refund", "appeal", "cancellation"])
def test_facts_after_the_cutoff_never_reach_a_judged_case(tmp_path, case_kind):
    con = _stored_row_db(tmp_path, case_kind, "1 DAY")
    row = _cut(con)
    classes = feature_classes()
    for name, cls in classes.items():
        if name in ("batch_date",):
            continue
        if name in ("cutoff_time", "request_time"):
            assert row[name] is not None
        elif cls in ("timestamp", "derived", "outcome", "undated"):
            assert row[name] is None, f"{name} ({cls}) leaked past the cut-off"
        else:
            assert row[name] is not None, f"{name} ({cls}) was lost"
    # the item uploaded after the cut-off is gone, the earlier one stays
    assert [i["evidence_type"] for i in row[EVIDENCE_DETAIL_COLUMN]] == ["photo"]


def test_earlier_facts_stay_but_the_cases_own_outcome_never_does(tmp_path):
    con = _stored_row_db(tmp_path, "appeal", "-1 DAY")
    row = _cut(con)
    assert row["appeal_status"] is None  # the appeal's own verdict
    # the arbitration an appeal contests happened before it: a fact, not this case's outcome
    assert row["platform_decision_time"] is not None
    assert row["seller_decision"] == "seller_decision-value"
    assert row["refund_time"] is not None and row["appeal_days_from_refund"] == 7
    assert row["return_status"] is None and row["order_status"] is None  # undated states
    con = _stored_row_db(tmp_path, "return_refund", "-1 DAY")
    row = _cut(con)
    assert row["arbitration_status"] is None and row["platform_decision_time"] is None


def test_a_rule_reading_an_outcome_column_is_refused():
    from aftersales.policy import validate_policy_packs

    policy = validate_policy_packs(RULES)
    refuse_outcome_rules(policy)  # the shipped packs read no outcome
    leaky = dataclasses.replace(policy.rules[0], when="arbitration_status = 'Decided for buyer'")
    tampered = dataclasses.replace(policy, rules=(leaky, *policy.rules[1:]))
    with pytest.raises(RulePackError, match="arbitration_status"):
        refuse_outcome_rules(tampered)


# --- statistics, hand-computed ----------------------------------------------------------------


def test_wilson_and_kappa_reference_values():
    lo, hi = wilson_interval(30, 40)
    assert lo == pytest.approx(0.59806, abs=1e-4) and hi == pytest.approx(0.85814, abs=1e-4)
    pairs = [("b", "b")] * 20 + [("s", "s")] * 10 + [("b", "s")] * 6 + [("n", "b")] * 4
    assert cohen_kappa(pairs) == pytest.approx((0.75 - 0.49) / 0.51)


def test_summary_figures_match_hand_computation(tmp_path):
    con = duckdb.connect(str(tmp_path / "stats.duckdb"))
    con.execute(CALIBRATION_DDL["calibration_cases"])
    rows = (
        [("buyer_favour", "buyer_favour", 0.9, "US")] * 20
        + [("seller_favour", "seller_favour", 0.9, "US")] * 10
        + [("buyer_favour", "seller_favour", 0.6, "US")] * 3
        + [("buyer_favour", "seller_favour", 0.6, "UK")] * 3
        + [("need_evidence", "buyer_favour", 0.6, "US")] * 4
    )
    for i, (rec, plat, conf, market) in enumerate(rows):
        con.execute(
            "INSERT INTO calibration_cases (calibration_id, case_id, case_kind, market, program, platform_decision, "
            "decision_local_date, cutoff_basis, calibratable, recommended_decision, confidence, decided_by, agree) "
            "VALUES ('c', ?, 'return_refund', ?, 'local', ?, DATE '2026-11-02', 'before_decision', TRUE, ?, ?, "
            "'r1', ?)",
            [f"case{i}", market, plat, rec, conf, rec == plat],
        )
    build_summary(con, "c", min_cases=5, bins=10)

    def fig(dimension, group, metric):
        return con.execute(
            "SELECT n, k, value, ci_low, ci_high, small_sample FROM calibration_summary "
            "WHERE dimension = ? AND group_value = ? AND metric = ?",
            [dimension, group, metric],
        ).fetchone()

    n, k, value, lo, hi, small = fig("overall", "all", "agreement")
    assert (n, k, small) == (40, 30, False)
    assert value == pytest.approx(0.75)
    assert lo == pytest.approx(0.59806, abs=1e-4) and hi == pytest.approx(0.85814, abs=1e-4)
    assert fig("overall", "all", "kappa")[2] == pytest.approx(0.26 / 0.51)
    assert fig("overall", "all", "brier")[2] == pytest.approx((30 * 0.01 + 10 * 0.36) / 40)
    assert fig("overall", "all", "ece")[2] == pytest.approx((30 * 0.1 + 10 * 0.6) / 40)
    assert fig("overall", "all", "coverage")[2] == pytest.approx(36 / 40)
    # three UK cases: counts, never a bare rate
    assert fig("market", "UK", "agreement") == (3, 0, None, None, None, True)
    confusion = dict(
        con.execute("SELECT group_value, n FROM calibration_summary WHERE dimension = 'confusion'").fetchall()
    )
    assert confusion == {
        "buyer_favour|buyer_favour": 20,
        "seller_favour|seller_favour": 10,
        "buyer_favour|seller_favour": 6,
        "need_evidence|buyer_favour": 4,
    }
    reliability = con.execute(
        "SELECT group_value, n, k, value FROM calibration_summary "
        "WHERE dimension = 'reliability' AND metric = 'agreement' ORDER BY 1"
    ).fetchall()
    assert reliability == [("0.60-0.70", 10, 0, 0.0), ("0.90-1.00", 30, 30, 1.0)]


# --- end to end on the stored warehouse -------------------------------------------------------


def test_calibrate_judges_each_case_as_it_stood_before_the_decision(warehouse):
    before = duckdb.connect(str(warehouse), read_only=True)
    nightly = before.execute("SELECT count(*), sum(hash(case_id, decision)) FROM rulings").fetchone()
    before.close()

    summary = calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10, keep_private_db=True)
    assert summary.calibrated_cases > 10
    private = warehouse.parent / ".work" / summary.calibration_id / "calibration.duckdb"
    con = duckdb.connect(str(private), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    # nothing a judged case carries is dated after its cut-off, and no case carries its own verdict
    for name in timestamp_features():
        late = con.execute(f'SELECT count(*) FROM case_features WHERE "{name}" > cutoff_time').fetchone()[0]
        assert late == 0, name
    assert con.execute(
        "SELECT count(*) FROM case_features WHERE (case_kind IN ('return_refund', 'replacement') "
        "AND (arbitration_status IS NOT NULL OR platform_decision_time IS NOT NULL)) "
        "OR (case_kind = 'appeal' AND appeal_status IS NOT NULL) "
        "OR (case_kind = 'cancellation' AND cancel_status IS NOT NULL)"
    ).fetchone() == (0,)
    con.close()

    wh = duckdb.connect(str(warehouse), read_only=True)
    wh.execute("SET TimeZone = 'UTC'")
    cases = wh.execute(
        "SELECT case_id, case_kind, asof_batch_date, cutoff_time, decision_time FROM calibration_cases "
        "WHERE calibration_id = ? AND calibratable",
        [summary.calibration_id],
    ).fetchall()
    assert len(cases) == summary.calibrated_cases
    for case_id, kind, asof, cutoff, decided in cases:
        if kind == "appeal":
            continue
        assert cutoff < decided
        # the LAST stored batch before the decision, not any earlier one
        latest = wh.execute(
            "SELECT max(batch_date) FROM case_features WHERE case_id = ? AND cutoff_time < ? "
            "AND request_time <= cutoff_time",
            [case_id, decided],
        ).fetchone()[0]
        assert asof == latest
    # the platform decision is the export's status mapped explicitly
    mapping = set(
        wh.execute(
            "SELECT DISTINCT case_kind, platform_outcome, platform_decision FROM calibration_cases "
            "WHERE calibration_id = ?",
            [summary.calibration_id],
        ).fetchall()
    )
    allowed = {
        ("return_refund", "Decided for buyer", "buyer_favour"),
        ("return_refund", "Decided for seller", "seller_favour"),
        ("replacement", "Decided for buyer", "buyer_favour"),
        ("replacement", "Decided for seller", "seller_favour"),
        ("appeal", "Approved", "seller_favour"),
        ("appeal", "Rejected", "buyer_favour"),
        ("cancellation", "Cancelled", "buyer_favour"),
        ("cancellation", "Rejected", "seller_favour"),
    }
    assert mapping <= allowed and mapping
    # agreement is recomputable from the cases, and the published nightly results are untouched
    n, k = wh.execute(
        "SELECT count(*), count(*) FILTER (agree) FROM calibration_cases WHERE calibration_id = ? AND calibratable",
        [summary.calibration_id],
    ).fetchone()
    overall = wh.execute(
        "SELECT n, k, value FROM calibration_summary WHERE calibration_id = ? AND dimension = 'overall' "
        "AND metric = 'agreement'",
        [summary.calibration_id],
    ).fetchone()
    assert overall == (n, k, pytest.approx(k / n))
    assert wh.execute("SELECT count(*), sum(hash(case_id, decision)) FROM rulings").fetchone() == nightly
    wh.close()


def test_calibrate_command_publishes_and_a_rerun_replaces(warehouse):
    from aftersales.commands.calibrate import register

    @click.group()
    def cli():
        pass

    register(cli)
    args = ["calibrate", "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--db", str(warehouse)]
    args += ["--rules", str(RULES), "--min-cases", "5"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "decided cases calibrated" in first.output and "overall=all agreement: n=" in first.output
    assert "most often against the platform:" in first.output
    second = CliRunner().invoke(cli, [*args, "--json"])
    assert second.exit_code == 0, second.output
    run = json.loads(second.output)
    con = duckdb.connect(str(warehouse), read_only=True)
    runs = con.execute(
        "SELECT calibration_id FROM calibration_runs WHERE date_from = ? AND date_to = ?", [FIRST, LAST]
    ).fetchall()
    assert runs == [(run["calibration_id"],)]
    ids = {r[0] for r in con.execute("SELECT DISTINCT calibration_id FROM calibration_cases").fetchall()}
    assert ids == {run["calibration_id"]}
    con.close()
    missing = CliRunner().invoke(
        cli,
        [
            "calibrate",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--db",
            str(warehouse.parent / "none.duckdb"),
        ],
    )
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_calibrate_on_a_lake_publishes_what_it_publishes_on_a_file(warehouse, tmp_path):
    """The same warehouse migrated into a DuckLake: the same calibration, committed as one tagged snapshot."""
    from aftersales.calibration.drilldown import disagreement_ranking
    from aftersales.lakehouse.connect import open_warehouse
    from aftersales.lakehouse.migration import migrate_warehouse

    lake = tmp_path / "wh.ducklake"
    migrate_warehouse(warehouse, lake)
    on_file = calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10)
    on_lake = calibrate(lake, FIRST, LAST, RULES, min_cases=5, bins=10)
    facts = ("decided_cases", "calibrated_cases", "agreeing_cases", "not_calibratable", "cases_per_asof_date")
    assert [getattr(on_lake, f) for f in facts] == [getattr(on_file, f) for f in facts]
    cases = (
        "SELECT case_id, case_kind, asof_batch_date, recommended_decision, platform_decision, agree "
        "FROM calibration_cases "
        "WHERE calibration_id = ? ORDER BY ALL"
    )
    file_con = duckdb.connect(str(warehouse), read_only=True)
    lake_con = open_warehouse(lake)
    try:
        assert (
            lake_con.execute(cases, [on_lake.calibration_id]).fetchall()
            == file_con.execute(cases, [on_file.calibration_id]).fetchall()
        )
        # one calibration per (dates, policy): the migrated earlier one was replaced, in one tagged commit
        assert lake_con.execute(
            "SELECT calibration_id FROM calibration_runs WHERE date_from = ? AND date_to = ?", [FIRST, LAST]
        ).fetchall() == [(on_lake.calibration_id,)]
        assert lake_con.execute(
            "SELECT count(*) FROM lake.snapshots() WHERE commit_extra_info LIKE ?",
            [f"%{on_lake.calibration_id}%"],
        ).fetchone() == (1,)
    finally:
        file_con.close()
        lake_con.close()
    assert disagreement_ranking(lake, on_lake.calibration_id, 5) == disagreement_ranking(
        warehouse, on_file.calibration_id, 5
    )


def test_calibration_finds_the_planted_deviation_within_the_noise(warehouse):
    """The generator's platform upholds late appeals; the packs' *.appeal_window rules reject them."""
    from aftersales.calibration.drilldown import disagreement_ranking

    summary = calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10)
    ranking = disagreement_ranking(warehouse, summary.calibration_id, min_cases=5)
    ranked = [r for r in ranking if not r["small_sample"]]
    assert ranked and ranked[0]["rule"].endswith(".appeal_window"), [r["rule"] for r in ranked[:5]]
    top = ranked[0]
    assert top["examples"] and all(e["trace"][0] == top["rule"] for e in top["examples"])
    assert all(
        e["recommended"] == "buyer_favour" and e["platform"] == "seller_favour" for e in top["examples"]
    )
    # the candidate change reads the platform's usual answer off the disagreements
    assert top["candidate_change"].startswith(
        f"the platform decided seller_favour in {top['disagreements']} of {top['disagreements']} disagreements"
    )
    assert f"where {top['rule']} gives decision=seller_favour" in top["candidate_change"]
    # on the planted rules the platform agrees only by noise: the interval of agreement holds NOISE
    con = duckdb.connect(str(warehouse), read_only=True)
    n, k = con.execute(
        "SELECT count(*), count(*) FILTER (agree) FROM calibration_cases WHERE calibration_id = ? "
        "AND calibratable AND decided_by LIKE '%.appeal_window'",
        [summary.calibration_id],
    ).fetchone()
    con.close()
    lo, hi = wilson_interval(k, n)
    assert n >= 10 and lo <= NOISE <= hi, (k, n)

    # drift: with an agreement line in the pack settings the planted rule is flagged, clearly
    from aftersales.calibration.drift import agreement_warnings
    from aftersales.policy import validate_policy_packs

    book = validate_policy_packs(RULES).book
    unlined = dataclasses.replace(
        book,
        packs=tuple(
            dataclasses.replace(p, settings={k: v for k, v in p.settings.items() if k != "calibration"})
            for p in book.packs
        ),
    )
    assert agreement_warnings(warehouse, summary.calibration_id, unlined, 5) == []  # no line set
    lined = dataclasses.replace(
        book,
        packs=tuple(
            dataclasses.replace(p, settings={**p.settings, "calibration": {"agreement_warn_below": 0.7}})
            for p in book.packs
        ),
    )
    warned = {w["rule"]: w for w in agreement_warnings(warehouse, summary.calibration_id, lined, 5)}
    assert top["rule"] in warned and warned[top["rule"]]["clearly_below"]
    assert all(w["agreement"] < 0.7 and w["n"] >= 5 for w in warned.values())
    assert (
        "sea.appeal_speedy_not_returned" not in warned or warned["sea.appeal_speedy_not_returned"]["n"] >= 5
    )


NOTEBOOK = ROOT / "notebooks" / "calibration.ipynb"


def test_calibration_notebook_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert any("AFTERSALES_DB" in c.source and "open_warehouse(DB)" in c.source for c in code)


def test_calibration_notebook_draws_the_confusion_matrix_and_reliability_diagram(warehouse, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    con = duckdb.connect(str(warehouse), read_only=True)
    runs = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'calibration_runs'"
    ).fetchone()[0]
    con.close()
    if not runs:
        calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10)
    monkeypatch.setenv("AFTERSALES_DB", str(warehouse))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend emits the PNGs
    before = warehouse.stat().st_mtime_ns
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    charts = sum(c.source.count("plt.show()") for c in nb.cells if c.cell_type == "code")
    assert charts == 2 and len(images) == charts
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert f"warehouse: {warehouse}" in printed and "decided cases calibrated" in printed
    assert warehouse.stat().st_mtime_ns == before  # read-only


def test_the_analyst_guide_calibration_queries_answer(warehouse):
    """The guide's calibration SQL runs on a calibrated warehouse and returns rows."""
    import re

    guide = (ROOT / "docs" / "ANALYST_GUIDE.md").read_text(encoding="utf-8")
    statements = [
        s.strip()
        for block in re.findall(r"```sql\n(.*?)```", guide, re.S)
        for s in block.split(";")
        if "calibration_" in s
    ]
    assert statements
    calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert all(con.execute(sql).fetchall() for sql in statements)
    finally:
        con.close()


def candidate_upholding_late_th_appeals(tmp_path: Path) -> Path:
    """A copy of the shipped packs whose th.appeal_window upholds late appeals (the planted truth)."""
    import shutil

    candidate = tmp_path / "rules"
    shutil.copytree(RULES, candidate)
    policy_file = candidate / "sea_local" / "policy.yaml"
    text = policy_file.read_text("utf-8")
    head, rule = text.split("  - id: th.appeal_window\n", 1)
    rule = rule.replace(
        "effect: {decision: buyer_favour, liable_party: seller}",
        "effect: {decision: seller_favour, liable_party: buyer}",
        1,
    )
    policy_file.write_text(head + "  - id: th.appeal_window\n" + rule, "utf-8")
    return candidate


def test_a_candidate_pack_fixing_the_planted_rule_agrees_more_on_the_same_cases(warehouse, tmp_path):
    """Drill-down's candidate change (TH upholds late appeals) measured before/after on the same cases."""
    from aftersales.calibration.drilldown import compare_calibrations

    shipped = calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10)
    candidate = candidate_upholding_late_th_appeals(tmp_path)
    tried = calibrate(warehouse, FIRST, LAST, candidate, min_cases=5, bins=10)
    assert tried.policy_version != shipped.policy_version
    result = compare_calibrations(warehouse, shipped.calibration_id, tried.calibration_id)
    assert result["cases"] == shipped.calibrated_cases == tried.calibrated_cases
    assert result["fixed"] >= 5 and result["broken"] <= 2
    assert result["agreement_after"] - result["agreement_before"] == pytest.approx(
        (result["fixed"] - result["broken"]) / result["cases"]
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    both = con.execute(
        "SELECT count(*) FROM calibration_runs WHERE date_from = ? AND date_to = ?", [FIRST, LAST]
    )
    assert both.fetchone()[0] == 2  # shipped and candidate side by side
    con.close()


def test_status_wording_maps_onto_the_decision_vocabulary():
    from aftersales.calibration.outcomes import platform_decision_sql

    con = duckdb.connect()
    rows = [
        ("return_refund", "Decided for buyer", None, None, "buyer_favour"),
        ("replacement", "Seller won", None, None, "seller_favour"),
        ("return_refund", "Under review", None, None, None),
        ("appeal", None, "Approved", None, "seller_favour"),
        ("appeal", None, "Appeal unsuccessful", None, "buyer_favour"),
        ("appeal", None, "Rejected", None, "buyer_favour"),
        ("appeal", None, "Expired", None, None),
        ("appeal", None, "Under review", None, None),
        ("cancellation", None, None, "Cancelled", "buyer_favour"),
        ("cancellation", None, None, "Cancellation rejected", "seller_favour"),
        ("cancellation", None, None, "Pending", None),
    ]
    con.execute(
        "CREATE TABLE o (case_kind VARCHAR, arbitration_status VARCHAR, appeal_status VARCHAR, "
        "cancel_status VARCHAR, expected VARCHAR)"
    )
    con.executemany("INSERT INTO o VALUES (?, ?, ?, ?, ?)", rows)
    got = con.execute(f"SELECT {platform_decision_sql('o')} IS NOT DISTINCT FROM expected FROM o").fetchall()
    assert all(ok for (ok,) in got), list(zip(rows, got, strict=True))


REPLAY_FROM, REPLAY_TO = date(2026, 11, 15), EXPORT_DATE


def test_replay_reports_agreement_before_and_after_on_the_same_decided_cases(
    warehouse, tmp_path, capsys, prefect_harness
):
    """`aftersales replay` (a real Prefect flow) of the fixing candidate prints both agreements."""
    import re

    from aftersales.cli import main
    from aftersales.orchestration.what_if_agreement import stored_rules_calibration

    shipped = calibrate(warehouse, FIRST, LAST, RULES, min_cases=5, bins=10)
    assert stored_rules_calibration(warehouse, date(2026, 9, 1), date(2026, 9, 30)) is None  # nothing stored
    candidate = candidate_upholding_late_th_appeals(tmp_path)
    args = ["replay", "--rules", str(candidate), "--db", str(warehouse)]
    code = main([*args, "--from", REPLAY_FROM.isoformat(), "--to", REPLAY_TO.isoformat()])
    out = capsys.readouterr().out
    assert code == 0, out
    head = re.search(r"agreement with the platform on (\d+) decided cases \(decisions (\S+) \.\. (\S+),", out)
    assert head, out
    n, lo, hi = int(head.group(1)), date.fromisoformat(head.group(2)), date.fromisoformat(head.group(3))
    assert (lo, hi) == (REPLAY_FROM, REPLAY_TO)
    before = re.search(r"stored rules \S+: (\d+) of (\d+) agree, ([\d.]+) \[([\d.]+), ([\d.]+)\]", out)
    after = re.search(r"candidate +\S+: (\d+) of (\d+) agree, ([\d.]+) \[([\d.]+), ([\d.]+)\]", out)
    ids = re.search(r"calibrations (\S+) -> (\S+)\)", out)
    assert before and after and ids, out
    assert ids.group(1) == shipped.calibration_id and ids.group(2) != shipped.calibration_id
    # recomputed from the stored cases: the same decided cases, point in time, both ways
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """
            SELECT count(*), count(*) FILTER (b.agree), count(*) FILTER (a.agree),
                   min(b.decision_local_date), max(b.decision_local_date)
            FROM calibration_cases b JOIN calibration_cases a USING (case_id, case_kind)
            WHERE b.calibration_id = ? AND a.calibration_id = ? AND b.calibratable AND a.calibratable
            """,
            [ids.group(1), ids.group(2)],
        ).fetchone()
        in_range = con.execute(
            "SELECT count(*) FROM calibration_cases WHERE calibration_id = ? AND calibratable "
            "AND decision_local_date BETWEEN ? AND ?",
            [shipped.calibration_id, REPLAY_FROM, REPLAY_TO],
        ).fetchone()[0]
    finally:
        con.close()
    cases, k_before, k_after, first_decided, last_decided = rows
    assert n == cases == in_range > 0
    assert REPLAY_FROM <= first_decided and last_decided <= REPLAY_TO
    assert (int(before.group(1)), int(before.group(2))) == (k_before, n)
    assert (int(after.group(1)), int(after.group(2))) == (k_after, n)
    assert k_after > k_before  # the candidate fixes the planted deviation in this range
    assert float(before.group(3)) == pytest.approx(k_before / n, abs=5e-4)
    lo_ci, hi_ci = wilson_interval(k_before, n)
    assert (float(before.group(4)), float(before.group(5))) == (
        pytest.approx(lo_ci, abs=5e-4),
        pytest.approx(hi_ci, abs=5e-4),
    )
