"""The scale benchmark's parts on a tiny inbox: cache, floor, memory sampler, harness, and the
faithfulness of the per-case baseline to the vectorised policy engine.

Timing targets are never asserted here (they are measured by `make bench`, not by unit tests).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from aftersales.bench.calibrate_run import STRIDE, build_calibration_warehouse
from aftersales.bench.floor import read_floor
from aftersales.bench.harness import CALIBRATE_DATES, run_scale, targets
from aftersales.bench.memory import TreeSampler
from aftersales.bench.reference import per_case_baseline
from aftersales.bench.results_files import scale_markdown, write_results
from aftersales.bench.scales import SCALES, ensure_inbox
from aftersales.generate import GeneratorSpec, generate_inbox
from aftersales.policy.features import FEATURE_TYPES, empty_case_table_sql
from aftersales.policy.score import validate_policy_packs

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
_baseline = per_case_baseline()  # the reference engine in bench/, outside the package
Interpreter, PerCaseEngine, UnsupportedExpression = (
    _baseline.Interpreter,
    _baseline.PerCaseEngine,
    _baseline.UnsupportedExpression,
)
judge_records, load_records = _baseline.judge_records, _baseline.load_records


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One plain-mode benchmark of the tiny scale (real ingest, scoring, SLA, publish)."""
    root = tmp_path_factory.mktemp("bench")
    figures = run_scale("tiny", root, mode="plain", baseline_sample=100, keep_work=True, log=lambda m: None)
    return root, figures


def test_inbox_cache_is_reused_only_for_the_same_spec(tmp_path):
    spec = GeneratorSpec(shops=2, orders=60, seed=3)
    first = ensure_inbox("t", tmp_path, spec)
    assert not first.reused and (first.inbox / "shops.csv").is_file()
    again = ensure_inbox("t", tmp_path, spec)
    assert again.reused and again.rows == first.rows and again.files == first.files
    other = ensure_inbox("t", tmp_path, replace(spec, seed=4))
    assert not other.reused  # a different spec regenerates in place
    assert json.loads((tmp_path / "inbox-t" / "generator.json").read_text())["key"]["spec"]["seed"] == 4


def test_floor_reads_every_file_once_and_transcodes_the_non_utf8_ones(tmp_path):
    inbox = tmp_path / "inbox"
    report = generate_inbox(inbox, GeneratorSpec(shops=6, orders=300, seed=5, bad_row_rate=0.0))
    floor = read_floor(inbox, scratch=tmp_path)
    files = sorted(p for p in inbox.rglob("*") if p.is_file())
    assert floor.files == len(files) and floor.bytes == sum(p.stat().st_size for p in files)
    assert floor.transcoded == {"gb18030": 1, "utf-16": 1, "xlsx": 1}
    counted = {path: rows for path, _, rows, _ in floor.per_file}
    for f in report.files:
        if f.kind is None:
            continue
        expected = f.rows + (1 if "description_row" in f.quirks else 0)
        assert counted[f.path] == expected, f.path
    assert not list(tmp_path.glob("floor-*"))  # transcoded copies are removed


def test_tree_sampler_sees_a_child_process_memory():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
         "time.sleep(1.5)"]
    )  # fmt: skip
    try:
        with TreeSampler(interval_s=0.05) as sampler:
            time.sleep(1.0)
    finally:
        child.wait()
    peak = sampler.peak()
    assert peak.samples >= 5
    assert peak.tree_peak_mib >= peak.self_peak_mib + 140
    assert peak.self_maxrss_mib >= peak.self_peak_mib * 0.9


# -- the per-case interpreter against DuckDB, expression by expression --------------------------

ROWS = [
    {"item_price": "12.50", "refund_amount": "5.00", "review_bd": 2.5, "days_from_delivered": 31,
     "return_status": "Withdrawn by buyer", "reason_code": "not_received", "is_mall": True,
     "seller_decision": None, "request_time": "2026-11-20 10:00:00+00", "refund_time": "2026-11-22 10:00:00+00",
     "return_delivered_time": "2026-11-24 09:59:59+00", "price_band": None},
    {"item_price": None, "refund_amount": "0.00", "review_bd": None, "days_from_delivered": None,
     "return_status": None, "reason_code": "wrong_size", "is_mall": False, "seller_decision": "rejected",
     "request_time": "2026-11-26 23:30:00+00", "refund_time": None, "return_delivered_time": None,
     "price_band": "low"},
    {"item_price": "100.00", "refund_amount": "60.00", "review_bd": 0.0, "days_from_delivered": 0,
     "return_status": "CANCELLED", "reason_code": None, "is_mall": None, "seller_decision": "approved",
     "request_time": "2026-11-01 00:00:00+00", "refund_time": "2026-11-01 00:00:00+00",
     "return_delivered_time": "2026-11-04 00:00:00+00", "price_band": "high"},
]  # fmt: skip
CONDITIONS = [
    "item_price > 10 AND review_bd > 2",
    "NOT (days_from_delivered > 30) OR seller_decision IS NULL",
    "reason_code IN ('not_received', 'late_delivery')",
    "NOT reason_code IN ('not_received', NULL)",
    "regexp_matches(lower(coalesce(return_status, '')), 'withdr|cancel')",
    "days_from_delivered > CASE WHEN is_mall THEN 15 ELSE 30 END",
    "refund_amount >= GREATEST(5, 0.10 * item_price) AND refund_amount <= LEAST(50, 0.50 * item_price)",
    "return_delivered_time <= refund_time + INTERVAL '2' DAY",
    "coalesce(price_band, 'high') = 'high' AND review_bd BETWEEN 0 AND 2",
    "IF(is_mall, item_price, refund_amount) > 6",
    "seller_decision LIKE 'rej%' OR return_status ILIKE 'cancel%'",
    "round(review_bd, 0) = 3 OR abs(days_from_delivered - 31) < 1",
    "date_diff('day', request_time, refund_time) >= 2",
    "EXTRACT(hour FROM request_time) = 23 OR isodow(request_time) = 5",
    "nullif(reason_code, 'wrong_size') IS NOT NULL AND length(reason_code) > 3",
    "review_bd / 0 > 1",
    "days_from_delivered % 0 = 1",
    "starts_with(reason_code, 'not') OR contains(coalesce(return_status, ''), 'by')",
    "CASE reason_code WHEN 'wrong_size' THEN is_mall WHEN 'not_received' THEN TRUE ELSE FALSE END",
    "days_from_delivered IS NOT DISTINCT FROM 31 OR seller_decision IS DISTINCT FROM 'approved'",
    "nullif(review_bd, 2.5) IS NULL AND item_price BETWEEN 12.5 AND 100",
]


@pytest.fixture(scope="module")
def case_table():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(empty_case_table_sql("policy_case"))
    for i, row in enumerate(ROWS):
        cols = ["case_id", *row]
        con.execute(
            f"INSERT INTO policy_case ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [str(i), *row.values()],
        )
    names = [d[0] for d in con.execute("SELECT * FROM policy_case ORDER BY case_id").description]
    typed = [
        dict(zip(names, r, strict=True))
        for r in con.execute("SELECT * FROM policy_case ORDER BY case_id").fetchall()
    ]
    yield con, typed
    con.close()


@pytest.mark.parametrize("condition", CONDITIONS)
def test_interpreter_agrees_with_duckdb(case_table, condition):
    import sqlglot

    con, typed = case_table
    sql = sqlglot.parse_one(condition, dialect="duckdb").sql(dialect="duckdb")
    expected = [
        r[0]
        for r in con.execute(f"SELECT TRY(({sql})::BOOLEAN) FROM policy_case ORDER BY case_id").fetchall()
    ]
    interpreter = Interpreter(sqlglot.parse_one(sql, dialect="duckdb"))
    got = []
    for row in typed:
        try:
            got.append(interpreter(row))
        except Exception:  # noqa: BLE001 - a raising condition is what TRY() turns into NULL
            got.append(None)
    assert got == expected


def test_every_shipped_rule_compiles_for_the_per_case_engine():
    policy = validate_policy_packs(RULES)
    engine = PerCaseEngine(policy)
    assert sum(len(v) for v in engine.by_pack.values()) == len(policy.rules) > 100
    assert set(FEATURE_TYPES) >= {"item_price", "review_bd"}
    import sqlglot

    with pytest.raises(UnsupportedExpression):
        Interpreter(sqlglot.parse_one("item_price > (SELECT 1)", dialect="duckdb"))


# -- the benchmark harness on the tiny scale, and the baseline's faithfulness ------------------


def test_harness_measures_a_tiny_batch(tiny_run, tmp_path):
    root, figures = tiny_run
    b = figures["batch"]
    assert figures["scale"] == "tiny" and figures["mode"] == "plain"
    assert [s["stage"] for s in b["stages"]] == [
        "preflight",
        "ingest",
        "score",
        "sla",
        "health",
        "action_queue",
        "shards",  # the wall time of all shards; each per-shard stage is its slowest shard's
        "publish",
        "report",
    ]
    assert [s["shard"] for s in b["shards"]] == [f"shard-{n:03d}-of-{len(b['shards']):03d}" for n in (1,)]
    assert b["shards"][0]["seconds"] >= b["stages"][1]["seconds"] and b["task_runner"] == "plain"
    assert b["rows_read"] > SCALES["tiny"].orders
    assert figures["memory"]["tree_peak_mib"] >= figures["memory"]["self_peak_mib"] > 50
    assert figures["warehouse"]["rows"]["rulings"] == b["summaries"]["scoring"]["cases"] > 0
    assert figures["floor"]["files"] == figures["inbox"]["files"] and figures["floor_ratio"] > 1
    bl = figures["baseline"]
    assert (
        bl["cases_total"] == b["summaries"]["scoring"]["cases"] and bl["sampled"] and bl["cases_timed"] == 100
    )
    assert bl["extrapolated_seconds"] > 0 and figures["engine_judge"]["cases"] == bl["cases_total"]
    assert {t["target"] for t in targets(figures)} == {
        "pipeline / floor",
        "per-case baseline / scoring stage",
    }
    json_path, md_path = write_results(tmp_path, "tiny", figures, scale_markdown(figures))
    assert json.loads(json_path.read_text())["batch"]["seconds"] == b["seconds"]
    text = md_path.read_text()
    assert "| stage | seconds |" in text and "pipeline / floor" in text and "per-case baseline" in text


def test_harness_measures_calibrate_over_copied_batch_dates(tiny_run):
    """The `calibrate` figure: N stored batch dates copied from the batch, calibrated in a child process."""
    root, figures = tiny_run
    c = figures["calibrate"]
    stored = figures["warehouse"]["rows"]["case_features"]
    w = c["warehouse"]
    assert w["dates"] == CALIBRATE_DATES and w["stride"] == STRIDE
    day = date.fromisoformat(figures["inbox"]["spec"]["batch_date"])
    assert (w["first_batch_date"], w["last_batch_date"]) == (
        (day - timedelta(days=CALIBRATE_DATES - 1)).isoformat(),
        day.isoformat(),
    )
    assert (c["date_from"], c["date_to"]) == (w["first_batch_date"], w["last_batch_date"])
    assert stored < w["rows"]["case_features"] == w["rows"]["rulings"] <= stored * CALIBRATE_DATES
    assert c["decided_cases"] >= c["calibrated_cases"] > 0
    assert c["asof_dates"] > STRIDE  # decisions judged from stored rows of more than one copied week
    assert c["seconds"] > 0 and c["memory"]["self_maxrss_mib"] > 50
    assert not list(root.glob("work/tiny/calibrate/calibrate_warehouse.duckdb*"))  # N copies removed
    text = scale_markdown(figures)
    assert (
        f"calibrate: {CALIBRATE_DATES} stored batch dates, {w['rows']['case_features']:,} stored case rows"
        in text
    )


def test_copied_batch_dates_shift_cutoffs_per_date_and_times_per_week(tiny_run, tmp_path):
    root, figures = tiny_run
    source = root / "work" / "tiny" / "warehouse.duckdb"
    day = date.fromisoformat(figures["inbox"]["spec"]["batch_date"])
    target = tmp_path / "copied.duckdb"
    built = build_calibration_warehouse(source, target, day, dates=6, stride=3)
    con = duckdb.connect(str(target), read_only=True)
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    try:
        dates = [
            r[0] for r in con.execute("SELECT DISTINCT batch_date FROM case_features ORDER BY 1").fetchall()
        ]
        assert dates == [day - timedelta(days=k) for k in range(5, -1, -1)]
        # copy k: cut-off k days back; week w = k // 3: ids suffixed, every other time w * 3 days back
        shifts = con.execute(
            """
            SELECT c.batch_date, c.case_id, epoch(s.cutoff_time - c.cutoff_time) / 86400,
                   epoch(s.request_time - c.request_time) / 86400,
                   epoch(s.paid_time - c.paid_time) / 86400, s.request_local_date - c.request_local_date,
                   list_transform(s.evidence_detail, lambda x: x.uploaded_time)
                       = list_transform(c.evidence_detail, lambda x: x.uploaded_time + to_days(((? - c.batch_date) // 3) * 3)),
                   c.request_time <= c.cutoff_time
            FROM case_features c JOIN src.case_features s
              ON s.case_id = regexp_replace(c.case_id, '~w[0-9]+$', '') AND s.case_kind = c.case_kind
            """,
            [day],
        ).fetchall()
        assert len(shifts) == built["rows"]["case_features"]
        for batch_date, case_id, cut, request, paid, local, evidence, opened in shifts:
            k = (day - batch_date).days
            week = k // 3
            assert case_id.endswith(f"~w{week}") == (week > 0)
            assert cut == k and request == 3 * week and local == 3 * week and opened
            assert paid is None or paid == 3 * week
            assert evidence is not False
        assert con.execute(
            "SELECT count(*) FROM case_features f ANTI JOIN rulings r USING (batch_date, case_id, case_kind)"
        ).fetchone() == (0,)
    finally:
        con.close()


def test_per_case_baseline_fires_exactly_the_rules_of_the_vectorised_engine(tiny_run):
    root, figures = tiny_run
    warehouse = root / "work" / "tiny" / "warehouse.duckdb"
    day = date.fromisoformat(figures["inbox"]["spec"]["batch_date"])
    policy = validate_policy_packs(RULES)
    by_key = {(r.meta.pack, r.meta.id, r.meta.version): r.index for r in policy.rules}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        hits: dict[str, set[tuple[int, bool]]] = {}
        for case_id, pack, rule_id, version, effect in con.execute(
            "SELECT case_id, pack_id, rule_id, rule_version, effect FROM rule_hits WHERE batch_date = ?",
            [day],
        ).fetchall():
            hits.setdefault(case_id, set()).add((by_key[(pack, rule_id, version)], effect == "error"))
        rulings = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT case_id, decision, liable_party, remedy, score, confidence, decided_by FROM rulings "
                "WHERE batch_date = ?",
                [day],
            ).fetchall()
        }
    finally:
        con.close()
    records, total = load_records(warehouse, day)
    assert total == len(records) == len(rulings) > 200
    verdicts = judge_records(PerCaseEngine(policy), records)
    fired_any = 0
    for v in verdicts:
        expected = hits.get(v.case_id, set())
        assert set(v.fired) == {i for i, err in expected if not err}, v.case_id
        assert set(v.errors) == {i for i, err in expected if err}, v.case_id
        decision, liable, remedy, score, confidence, decided_by = rulings[v.case_id]
        assert (v.decision, v.liable_party, v.remedy, v.decided_by) == (decision, liable, remedy, decided_by)
        assert math.isclose(v.score, score, abs_tol=1e-9) and math.isclose(
            v.confidence, confidence, abs_tol=1e-9
        )
        fired_any += bool(v.fired)
    decisions = {v.decision for v in verdicts}
    assert fired_any > len(verdicts) // 2 and {"buyer_favour", "seller_favour", "need_evidence"} <= decisions
