"""Calibration's fallback: decided cases without stored features rebuilt from the exports (`--inbox`).

Real components throughout: a generated inbox (cumulative exports, so they DO carry facts dated
after any earlier cut-off), a warehouse holding only what two real batches stored, and
`calibrate` running the pipeline's own ingest + score into private work databases.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from click.testing import CliRunner
from test_calibration import store_scored_batches

from aftersales.calibration.outcomes import OUTCOME_COLUMNS
from aftersales.calibration.rebuild import rebuild_batch_date
from aftersales.calibration.rejudge import calibrate
from aftersales.policy.features import EVIDENCE_DETAIL_COLUMN, FEATURE_NAMES, FEATURE_TYPES

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXPORT_DATE = date(2026, 11, 27)
STORED_DATE = date(2026, 11, 20)  # the one early batch the warehouse stored
FIRST, LAST = date(2026, 11, 17), date(2026, 11, 21)
KEY = "5e" * 32
GB_SHOP, GB_TZ = "GBLCR49QCG", ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """A generated inbox and a warehouse storing the features and rulings of 2026-11-20 and 11-27 only."""
    from aftersales.generate.platform import PlatformPolicy
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec
    from aftersales.ingest import ingest_inbox
    from aftersales.policy import score_batch
    from aftersales.settings import load_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("AFTERSALES_PSEUDONYM_KEY", KEY)
    tmp = tmp_path_factory.mktemp("calibration_rebuild")
    inbox = tmp / "inbox"
    spec = GeneratorSpec(
        shops=2, orders=600, seed=11, batch_date=EXPORT_DATE, bad_row_rate=0.0, requests=200, appeals=60,
        platform=PlatformPolicy(noise=0.05),
    )  # fmt: skip
    generate_inbox(inbox, spec, overwrite=True)
    _plant_cancellations(inbox)
    work = tmp / "work.duckdb"
    ingest_inbox(inbox, work, EXPORT_DATE, "ingest", load_settings(), tmp / "report")
    for day in (STORED_DATE, EXPORT_DATE):
        score_batch(work, day, f"run-{day}", RULES)
    wh = tmp / "wh.duckdb"
    store_scored_batches(work, wh)
    yield {"inbox": inbox, "warehouse": wh, "settings": load_settings(), "tmp": tmp}
    mp.undo()


# Planted cancellations (London time): their exports carry the decision, dated after the cut-off
# of the batch before it (2026-11-18, cut at 11-19 00:00), or the same day as the request.
NEXT_DAY = "409000000000000001"  # requested 11-18, seller approved and cancelled 11-19
SAME_DAY = "409000000000000002"  # requested and cancelled 11-19


def _plant_cancellations(inbox: Path) -> None:
    """Append the two planted cancellations, on GB orders created before them that have no other request."""
    shop = inbox / GB_SHOP
    busy = set()
    for export in (shop / "after-sales").glob("*.csv"):
        with export.open(encoding="utf-8-sig", newline="") as f:
            busy |= {
                (row.get("Order ID") or row.get(" Order ID ") or "").strip() for row in csv.DictReader(f)
            }
    orders = []
    for export in (shop / "orders").glob("*.csv"):
        with export.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                order_id = row["Order ID"].lstrip("'")
                if not order_id.isdigit() or order_id in busy or order_id in orders:
                    continue
                created = datetime.strptime(row["Created Time"], "%d/%m/%Y %H:%M:%S")
                if created < datetime(2026, 11, 15):
                    orders.append(order_id)
    assert len(orders) >= 2, "the seeded GB orders export has quiet orders to cancel"
    path = next((shop / "after-sales").glob("Cancellation_Requests_*.csv"))
    with path.open("a", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([
            NEXT_DAY, orders[0], "Buyer", "No longer needed", "18/11/2026 10:00:00",
            "19/11/2026 09:00:00", "Approved", "Cancelled", "19/11/2026 09:00:05",
        ])  # fmt: skip
        writer.writerow([
            SAME_DAY, orders[1], "Buyer", "Ordered by mistake", "19/11/2026 08:00:00",
            "19/11/2026 09:00:00", "Approved", "Cancelled", "19/11/2026 09:00:05",
        ])  # fmt: skip


def _gb_cancellations(inbox: Path) -> list[dict]:
    """The GB shop's cancellation export rows, with request and cancellation instants parsed (London time)."""
    path = next((inbox / GB_SHOP / "after-sales").glob("Cancellation_Requests_*.csv"))
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):

            def at(text: str) -> datetime | None:
                return datetime.strptime(text, "%d/%m/%Y %H:%M:%S").replace(tzinfo=GB_TZ) if text else None

            rows.append({**row, "requested": at(row["Request Time"]), "cancelled": at(row["Cancelled Time"])})
    return rows


@pytest.fixture(scope="module")
def rebuilt_run(setup) -> dict:
    summary = calibrate(
        setup["warehouse"], FIRST, LAST, RULES, min_cases=1, bins=5, keep_private_db=True,
        inbox=setup["inbox"], settings=setup["settings"], calibration_id="calibration-rebuild-test",
    )  # fmt: skip
    con = duckdb.connect(str(setup["warehouse"]), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        cases = con.execute(
            "SELECT * FROM calibration_cases WHERE calibration_id = ?", [summary.calibration_id]
        ).fetchdf()
    finally:
        con.close()
    private = setup["warehouse"].parent / ".work" / summary.calibration_id / "calibration.duckdb"
    return {"summary": summary, "cases": cases, "private": private}


def test_without_inbox_the_cases_stay_not_calibratable(setup):
    summary = calibrate(setup["warehouse"], FIRST, LAST, RULES, min_cases=1, bins=5)
    assert summary.rebuilt_per_batch_date == {}
    assert summary.not_calibratable.get("no_features_before_decision", 0) > 0
    con = duckdb.connect(str(setup["warehouse"]), read_only=True)
    try:
        sources = dict(
            con.execute(
                "SELECT coalesce(features_from, '-'), count(*) FROM calibration_cases WHERE calibration_id = ? "
                "GROUP BY 1",
                [summary.calibration_id],
            ).fetchall()
        )
    finally:
        con.close()
    assert "rebuilt_from_exports" not in sources
    assert sources.get("stored", 0) > 0


def test_cases_without_stored_features_are_rebuilt_as_of_the_batch_before_the_decision(rebuilt_run):
    cases, summary = rebuilt_run["cases"], rebuilt_run["summary"]
    rebuilt = cases[cases["features_from"] == "rebuilt_from_exports"]
    stored = cases[cases["features_from"] == "stored"]
    assert len(rebuilt) > 0 and len(stored) > 0
    assert "no_features_before_decision" not in summary.not_calibratable
    assert sum(summary.rebuilt_per_batch_date.values()) == len(rebuilt)
    # Rebuilt cases are judged like the stored ones, each from the batch just before its decision.
    assert rebuilt["calibratable"].all() and rebuilt["recommended_decision"].notna().all()
    for row in rebuilt.itertuples():
        assert row.asof_batch_date.date() == rebuild_batch_date(row.case_kind, row.decision_local_date.date())
        if row.case_kind != "appeal":
            assert row.cutoff_time < row.decision_time
    assert (stored.query("case_kind != 'appeal'")["asof_batch_date"].dt.date == STORED_DATE).all()
    assert len(summary.rebuilt_per_batch_date) > 1  # one ingest + score per distinct batch date
    # Nothing rebuilt or not is silently dropped: every non-calibratable case names a reason.
    assert cases.loc[~cases["calibratable"], "not_calibratable"].notna().all()
    assert set(summary.not_calibratable) <= {
        "not_in_exports_before_decision", "rebuild_cutoff_not_before_decision", "no_decision_time",
        "not_submitted", "not_judged",
    }  # fmt: skip


def test_rebuilt_features_carry_no_fact_after_the_cutoff_nor_the_outcome(rebuilt_run):
    """Every rebuilt row in the private database, exactly as the rules read it."""
    ids = rebuilt_run["cases"].query("features_from == 'rebuilt_from_exports'")["case_id"].tolist()
    con = duckdb.connect(str(rebuilt_run["private"]), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE TEMP TABLE ids AS SELECT unnest(?::VARCHAR[]) AS case_id", [ids])
        n = con.execute("SELECT count(*) FROM case_features JOIN ids USING (case_id)").fetchone()[0]
        assert n == len(ids)
        for name in FEATURE_NAMES:
            if FEATURE_TYPES[name] == "TIMESTAMPTZ" and name != "cutoff_time":
                late = con.execute(
                    f'SELECT count(*) FROM case_features JOIN ids USING (case_id) WHERE "{name}" > cutoff_time'
                ).fetchone()[0]
                assert late == 0, name
        for name in (*OUTCOME_COLUMNS, "return_status", "order_status"):
            assert (
                con.execute(
                    f'SELECT count(*) FROM case_features JOIN ids USING (case_id) WHERE "{name}" IS NOT NULL'
                ).fetchone()[0]
                == 0
            ), name
        late_evidence = con.execute(
            f"SELECT count(*) FROM case_features JOIN ids USING (case_id), unnest({EVIDENCE_DETAIL_COLUMN}) e(x) "
            "WHERE x.uploaded_time IS NULL OR x.uploaded_time > cutoff_time"
        ).fetchone()[0]
        assert late_evidence == 0
    finally:
        con.close()


def test_a_cancellation_approved_after_the_cutoff_is_judged_without_its_approval(setup, rebuilt_run):
    """The export says requested 11-18, approved and cancelled 11-19: the rebuilt case sees none of it."""
    planted = next(r for r in _gb_cancellations(setup["inbox"]) if r["Cancellation ID"] == NEXT_DAY)
    case = rebuilt_run["cases"].set_index("case_id").loc[NEXT_DAY]
    assert case["features_from"] == "rebuilt_from_exports"
    assert case["asof_batch_date"].date() == date(2026, 11, 18)
    assert case["platform_decision"] == "buyer_favour"  # the outcome is known to calibration ...
    assert case["cutoff_time"] == datetime(2026, 11, 19, tzinfo=GB_TZ)
    assert case["calibratable"] and case["recommended_decision"] is not None
    con = duckdb.connect(str(rebuilt_run["private"]), read_only=True)
    try:
        features = con.execute(
            "SELECT cancel_status, cancelled_time, seller_response_time, seller_decision, seller_responded, "
            "order_status, request_time FROM case_features WHERE case_id = ?",
            [NEXT_DAY],
        ).fetchone()
        judged = con.execute("SELECT decision FROM rulings WHERE case_id = ?", [NEXT_DAY]).fetchone()
    finally:
        con.close()
    # ... but never reaches the rules: no status, no approval, no cancellation instant; the request is kept.
    assert features[:4] == (None, None, None, None)
    assert features[4] is not True
    assert features[5] is None
    assert features[6] == planted["requested"]
    assert (
        planted["cancelled"] > case["cutoff_time"] and planted["Cancel Status"] == "Cancelled"
    )  # in the export
    assert judged == (case["recommended_decision"],)


def test_a_cancellation_requested_and_approved_the_same_day_stays_listed_with_a_reason(rebuilt_run):
    """Nothing existed at the cut-off before the decision: the case is never built from its later facts."""
    case = rebuilt_run["cases"].set_index("case_id").loc[SAME_DAY]
    assert case["platform_decision"] == "buyer_favour"
    assert not case["calibratable"]
    assert case["not_calibratable"] == "not_in_exports_before_decision"
    assert case[["features_from", "recommended_decision", "asof_batch_date"]].isna().all()
    con = duckdb.connect(str(rebuilt_run["private"]), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM case_features WHERE case_id = ?", [SAME_DAY]).fetchone() == (
            0,
        )
    finally:
        con.close()


def test_the_rebuild_publishes_nothing_but_calibration(setup, rebuilt_run):
    """The warehouse's nightly tables are exactly as the two batches left them; the work databases are gone."""
    con = duckdb.connect(str(setup["warehouse"]), read_only=True)
    try:
        dates = [
            r[0] for r in con.execute("SELECT DISTINCT batch_date FROM case_features ORDER BY 1").fetchall()
        ]
        ruling_dates = [
            r[0] for r in con.execute("SELECT DISTINCT batch_date FROM rulings ORDER BY 1").fetchall()
        ]
    finally:
        con.close()
    assert dates == ruling_dates == [STORED_DATE, EXPORT_DATE]
    assert not (rebuilt_run["private"].parent / "rebuild").exists()


def test_cli_inbox_option(setup, monkeypatch):
    """`calibrate --inbox` rebuilds and says so; a missing inbox is refused by click, before any work."""
    from aftersales.cli import cli

    monkeypatch.setenv("AFTERSALES_PSEUDONYM_KEY", KEY)
    day = FIRST
    args = ["calibrate", "--from", day.isoformat(), "--to", day.isoformat(), "--db", str(setup["warehouse"]),
            "--rules", str(RULES), "--min-cases", "1"]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--inbox", str(setup["inbox"]), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    rebuilt = {k: n for k, n in summary["rebuilt_per_batch_date"].items() if n}
    assert rebuilt and set(rebuilt) <= {(day - timedelta(days=1)).isoformat(), day.isoformat()}
    text = CliRunner().invoke(cli, [*args, "--inbox", str(setup["inbox"])])
    assert text.exit_code == 0, text.output
    assert f"rebuilt from the exports: {sum(rebuilt.values())} cases" in text.output
    missing = CliRunner().invoke(cli, [*args, "--inbox", str(setup["tmp"] / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
