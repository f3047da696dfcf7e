"""Orchestration building blocks: batch dates, inbox templates, schedule, backfill plan, settings file,
replay diff and its atomic publish. Real DuckDB files, no Prefect server (see test_serve/test_kill)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from aftersales.orchestration.backfill_plan import missing_inboxes, plan_backfill, published_runs
from aftersales.orchestration.dates import (
    InboxTemplateError,
    batch_date_for,
    dates_between,
    inbox_for,
)
from aftersales.orchestration.server import (
    PrefectServer,
    ServerUnavailable,
    api_url,
    ensure_server,
    is_healthy,
    start_server,
)
from aftersales.orchestration.what_if import (
    build_diff,
    changed_cases,
    format_matrix,
    publish_replay,
    replay_facts,
    shift_matrix,
    snapshot_cases,
)
from aftersales.publish import publish_batch
from aftersales.settings import Settings, load_settings
from aftersales.warehouse_schema import create_result_tables

ROOT = Path(__file__).resolve().parent.parent
D1, D2, D3 = date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)


# ------------------------------------------------------------------------------ batch dates


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # 02:00 Singapore on 28 Nov is 18:00 UTC on 27 Nov: closes 27 Nov.
        ("2026-11-27T18:00:00+00:00", "Asia/Singapore", date(2026, 11, 27)),
        # The same instant is still 27 Nov in London: closes 26 Nov.
        ("2026-11-27T18:00:00+00:00", "Europe/London", date(2026, 11, 26)),
        # A run scheduled for 02:00 but considered at 23:59 local still closes the day before.
        ("2026-11-28T23:59:00+08:00", "Asia/Singapore", date(2026, 11, 27)),
        # New York spring-forward day: the 02:00 run happens at 03:00 EDT, still closes 13 Mar.
        ("2027-03-14T03:00:00-04:00", "America/New_York", date(2027, 3, 13)),
    ],
)
def test_batch_date_is_the_day_before_the_scheduled_time_in_the_zone(moment, zone, expected):
    assert batch_date_for(datetime.fromisoformat(moment), zone) == expected


def test_batch_date_refuses_naive_times_and_unknown_zones():
    with pytest.raises(ValueError, match="timezone-aware"):
        batch_date_for(datetime(2026, 11, 28, 2), "Asia/Singapore")
    with pytest.raises(ValueError, match="unknown time zone"):
        batch_date_for(datetime(2026, 11, 28, 2, tzinfo=UTC), "Asia/Singapur")


def test_dates_between_is_inclusive_and_ordered():
    assert dates_between(D1, D3) == [D1, D2, D3]
    assert dates_between(D3, D3) == [D3]
    with pytest.raises(ValueError, match="before"):
        dates_between(D3, D1)


def test_inbox_template_names_one_folder_per_date(tmp_path):
    assert inbox_for(tmp_path / "inbox", D3) == tmp_path / "inbox"  # one inbox for every date
    assert inbox_for(f"{tmp_path}/exports/{{date}}", D3) == tmp_path / "exports" / "2026-11-27"
    assert inbox_for("exports/{date:%Y%m%d}/tts", D3) == Path("exports/20261127/tts")
    with pytest.raises(InboxTemplateError, match="only use the {date} placeholder"):
        inbox_for("exports/{day}", D3)


# ---------------------------------------------------------------------------------- schedule


def test_nightly_deployment_carries_cron_zone_and_absolute_settings(tmp_path):
    from flows.deployment import DEPLOYMENT_NAME, next_runs, nightly_deployment

    settings = Settings(
        inbox="data/sample/inbox",
        warehouse=str(tmp_path / "wh.duckdb"),
        timezone="Europe/London",
        schedule_cron="30 3 * * 1-5",
    )
    dep = nightly_deployment(settings)
    assert dep.name == DEPLOYMENT_NAME
    assert dep.entrypoint == "flows.deployment.scheduled_nightly"  # importable whatever the cwd
    (schedule,) = dep.schedules
    assert schedule.schedule.cron == "30 3 * * 1-5"
    assert schedule.schedule.timezone == "Europe/London"
    assert "batch_date" not in dep.parameters  # computed when the run starts
    assert dep.parameters["timezone"] == "Europe/London"
    assert Path(dep.parameters["inbox"]).is_absolute()
    assert dep.parameters["warehouse"] == str(tmp_path / "wh.duckdb")

    # Friday 27 Nov 2026 18:00 UTC -> next weekday 03:30 London runs: Mon 30 Nov, Tue 1 Dec.
    runs = next_runs(settings, 2, datetime(2026, 11, 27, 18, tzinfo=UTC))
    assert [(t.isoformat(), d) for t, d in runs] == [
        ("2026-11-30T03:30:00+00:00", date(2026, 11, 29)),
        ("2026-12-01T03:30:00+00:00", date(2026, 11, 30)),
    ]


def test_a_misspelt_zone_or_cron_fails_before_serving():
    from flows.deployment import nightly_schedule

    with pytest.raises(ValueError, match="unknown time zone"):
        nightly_schedule(Settings(timezone="Europe/Lodnon"))
    with pytest.raises(ValueError, match="cron"):
        nightly_schedule(Settings(schedule_cron="0 2 * *"))


# ------------------------------------------------------------------------------- prefect API


def test_api_url_prefers_prefect_api_url_then_settings():
    settings = Settings(prefect_api_host="127.0.0.1", prefect_api_port=4321)
    assert api_url(settings, env={}) == "http://127.0.0.1:4321/api"
    assert (
        api_url(settings, env={"PREFECT_API_URL": "http://10.0.0.5:4200/api/"}) == "http://10.0.0.5:4200/api"
    )


def test_no_server_is_started_for_a_remote_address(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://192.0.2.1:4200/api")  # TEST-NET: never answers
    with pytest.raises(ServerUnavailable, match="no Prefect API answers"):
        ensure_server(Settings(), tmp_path / "server.log")
    with pytest.raises(ServerUnavailable, match="only on loopback"):
        start_server("0.0.0.0", 4200, tmp_path / "server.log")
    assert not (tmp_path / "server.log").exists()
    assert not is_healthy("http://127.0.0.1:9/api", timeout_s=0.5)
    PrefectServer("http://127.0.0.1:9/api").stop()  # not started here: stop is a no-op


# --------------------------------------------------------------------------- settings example


def test_example_settings_file_documents_and_sets_every_key():
    text = (ROOT / "aftersales.example.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    keys = [f.name for f in fields(Settings)]
    assert sorted(doc) == sorted(keys)
    for key in keys:
        # each key is preceded by its env override, in a comment block right above it
        block = re.search(rf"((?:^#.*\n)+)^{key} = ", text, flags=re.M)
        assert block, f"{key} has no comment block"
        assert f"env: AFTERSALES_{key.upper()}" in block.group(1)
    assert load_settings(ROOT / "aftersales.example.toml", env={}) == Settings(**doc)


def test_env_override_beats_the_settings_file(tmp_path):
    cfg = tmp_path / "aftersales.toml"
    cfg.write_text('timezone = "Europe/London"\nprefect_api_port = 4300\n')
    s = load_settings(
        cfg, env={"AFTERSALES_PREFECT_API_PORT": "4400", "AFTERSALES_SCHEDULE_CRON": "15 1 * * *"}
    )
    assert (s.timezone, s.prefect_api_port, s.schedule_cron) == ("Europe/London", 4400, "15 1 * * *")


# ------------------------------------------------------------------------------ backfill plan


def make_work_db(path: Path, day: date, run_id: str, decisions: dict[str, str]) -> Path:
    """A work database as the nightly stages leave it: case features plus rulings for one date."""
    con = duckdb.connect(str(path))
    create_result_tables(con)
    for case_id, decision in decisions.items():
        con.execute(
            "INSERT INTO case_features (batch_date, run_id, case_id, case_kind, shop_id, market, program, "
            "item_price) VALUES (?, ?, ?, 'return_refund', 'S1', 'US', 'local', ?)",
            [day, run_id, case_id, len(case_id)],
        )
        con.execute(
            "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, "
            "liable_party, remedy, policy_version, rule_ids) VALUES (?, ?, ?, 'return_refund', 'S1', 'US', ?, "
            "'seller', ?, 'published', ['R1'])",
            [day, run_id, case_id, decision, "none" if decision == "seller_favour" else "refund_only"],
        )
    con.close()
    return path


def run_row(
    run_id: str, day: date, status: str = "success", finished: str = "2026-11-28T02:01:00+00:00"
) -> dict:
    return {
        "run_id": run_id,
        "batch_date": day.isoformat(),
        "started_at": "2026-11-28T02:00:00+00:00",
        "finished_at": finished,
        "status": status,
        "policy_version": "published",
    }


def test_backfill_plan_skips_published_dates_unless_forced(tmp_path):
    wh = tmp_path / "wh.duckdb"
    assert published_runs(wh) == {}
    publish_batch(
        make_work_db(tmp_path / "w1.duckdb", D1, "r1", {"C1": "buyer_favour"}), wh, D1, [run_row("r1", D1)]
    )
    # D2 only ever failed (journalled failures reach `runs` with status failed): not published.
    publish_batch(
        make_work_db(tmp_path / "w3.duckdb", D3, "r3", {"C3": "seller_favour"}),
        wh,
        D3,
        [
            run_row("r2", D2, "failed"),
            run_row("r3-old", D3, finished="2026-11-28T01:00:00+00:00"),
            run_row("r3", D3),
        ],
    )
    assert published_runs(wh) == {D1: "r1", D3: "r3"}  # latest successful run per date

    (tmp_path / "in" / "2026-11-26").mkdir(parents=True)
    steps = plan_backfill(D1, D3, f"{tmp_path}/in/{{date}}", wh)
    assert [(s.batch_date, s.action) for s in steps] == [(D1, "skip"), (D2, "run"), (D3, "skip")]
    assert steps[0].reason == "already published by run r1"
    assert steps[1].inbox == tmp_path / "in" / "2026-11-26"
    assert missing_inboxes(steps) == []  # skipped dates need no inbox

    forced = plan_backfill(D1, D3, f"{tmp_path}/in/{{date}}", wh, force=True)
    assert [s.action for s in forced] == ["run", "run", "run"]
    assert [s.batch_date for s in missing_inboxes(forced)] == [D1, D3]


# ------------------------------------------------------------------------------------ replay


def table_digest(db: Path, tables: list[str]) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        h = hashlib.sha256()
        for t in tables:
            h.update(repr(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()).encode())
        return h.hexdigest()
    finally:
        con.close()


def write_candidate_rulings(replay_db: Path, replay_id: str, day: date, decisions: dict[str, str]) -> None:
    """Stand-in for the policy engine's output in the replay database (the engine is tested elsewhere)."""
    con = duckdb.connect(str(replay_db))
    con.execute("DELETE FROM rulings WHERE batch_date = ?", [day])
    for case_id, decision in decisions.items():
        con.execute(
            "INSERT INTO rulings (batch_date, run_id, case_id, case_kind, shop_id, market, decision, "
            "liable_party, remedy, policy_version, rule_ids) VALUES (?, ?, ?, 'return_refund', 'S1', 'US', ?, "
            "'seller', ?, 'candidate', ['R2'])",
            [day, replay_id, case_id, decision, "none" if decision == "seller_favour" else "refund_only"],
        )
    con.close()


def test_replay_diff_is_published_beside_the_nightly_tables_atomically(tmp_path):
    wh = tmp_path / "wh.duckdb"
    publish_batch(
        make_work_db(tmp_path / "w1.duckdb", D1, "r1", {"A": "buyer_favour", "B": "buyer_favour"}),
        wh,
        D1,
        [run_row("r1", D1)],
    )
    publish_batch(
        make_work_db(tmp_path / "w2.duckdb", D2, "r2", {"C": "need_evidence", "D": "seller_favour"}),
        wh,
        D2,
        [run_row("r2", D2)],
    )
    nightly_tables = ["runs", "rulings", "case_features", "rule_hits", "sla_breaches", "seller_health"]
    before = table_digest(wh, nightly_tables)

    replay_db = tmp_path / "replay" / "replay.duckdb"
    assert snapshot_cases(wh, replay_db, D1, D2) == {D1: 2, D2: 2}
    write_candidate_rulings(replay_db, "rp1", D1, {"A": "buyer_favour", "B": "seller_favour"})
    write_candidate_rulings(replay_db, "rp1", D2, {"C": "need_evidence", "D": "seller_favour"})
    build_diff(replay_db, "rp1")
    facts = replay_facts(replay_db, "rp1")
    assert facts == {"cases": 4, "decisions_changed": 1, "rulings_changed": 1}
    row = {
        "replay_id": "rp1",
        "candidate_rules": "/tmp/candidate",
        "policy_version": "candidate",
        "rule_pack_versions": "{}",
        "date_from": D1.isoformat(),
        "date_to": D2.isoformat(),
        "started_at": "2026-11-28T09:00:00+00:00",
        "finished_at": "2026-11-28T09:01:00+00:00",
        "flow_run_id": None,
        **facts,
    }
    publish_replay(replay_db, wh, row)

    assert table_digest(wh, nightly_tables) == before  # published results untouched
    assert shift_matrix(wh, "rp1") == [
        ("buyer_favour", "buyer_favour", 1),
        ("buyer_favour", "seller_favour", 1),
        ("need_evidence", "need_evidence", 1),
        ("seller_favour", "seller_favour", 1),
    ]
    (changed,) = changed_cases(wh, "rp1")
    assert (changed["case_id"], changed["old_decision"], changed["new_decision"]) == (
        "B",
        "buyer_favour",
        "seller_favour",
    )
    assert (changed["old_remedy"], changed["new_remedy"]) == ("refund_only", "none")
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT DISTINCT source_run_id FROM replay_rulings ORDER BY 1").fetchall() == [
        ("r1",),
        ("r2",),
    ]
    con.close()

    # The same candidate over the same dates again replaces the earlier replay: no duplicates.
    replay_db2 = tmp_path / "replay2" / "replay.duckdb"
    snapshot_cases(wh, replay_db2, D1, D2)
    write_candidate_rulings(replay_db2, "rp2", D1, {"A": "buyer_favour", "B": "seller_favour"})
    write_candidate_rulings(replay_db2, "rp2", D2, {"C": "need_evidence", "D": "seller_favour"})
    build_diff(replay_db2, "rp2")
    publish_replay(replay_db2, wh, {**row, "replay_id": "rp2"})
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT replay_id, count(*) FROM replay_diff GROUP BY 1").fetchall() == [("rp2", 4)]
    assert con.execute("SELECT replay_id FROM replay_runs").fetchall() == [("rp2",)]
    assert con.execute("SELECT count(*) FROM replay_rulings").fetchone()[0] == 4
    con.close()
    assert table_digest(wh, nightly_tables) == before


def test_shift_matrix_is_a_cross_tab_with_totals():
    text = format_matrix(
        [
            ("buyer_favour", "buyer_favour", 5),
            ("buyer_favour", "seller_favour", 2),
            ("(none)", "manual_review", 1),
        ],
        ("buyer_favour", "seller_favour", "manual_review", "(none)"),
    )
    lines = text.splitlines()
    assert lines[0].split() == [
        "old",
        "\\",
        "new",
        "buyer_favour",
        "seller_favour",
        "manual_review",
        "(none)",
        "total",
    ]
    assert lines[1].split() == ["buyer_favour", "5", "2", "0", "0", "7"]
    assert lines[2].split() == ["(none)", "0", "0", "1", "0", "1"]
    assert lines[-1].split() == ["total", "5", "2", "1", "0", "8"]
