"""The morning action queue on a tiny hand-made inbox whose deadlines are computed by hand.

Batch date 2026-11-27 (a Friday; Thursday 2026-11-26 is Thanksgiving, a US federal holiday).
The batch ends at 24:00 of that date in each shop's own zone:

- US1 (America/Los_Angeles, UTC-8): 2026-11-28 00:00 PST = 2026-11-28 08:00 UTC.
- TH1 (Asia/Bangkok, UTC+7):        2026-11-28 00:00 ICT = 2026-11-27 17:00 UTC.

Hand-computed deadlines:

- R-US-1, refund request of a $50 item made Wed 2026-11-25 10:00 PST, unanswered: the seller has
  2 business days (item <= $100). Thu 26 is Thanksgiving, Fri 27 is day 1, Sat/Sun are skipped,
  Mon 30 is day 2: due 2026-11-30 10:00 PST = 18:00 UTC, 58 h after the US batch end. Outside the
  48 h horizon of rules/action_queue.yaml; inside a 72 h horizon.
- M-TH-1, a buyer's chat message at 2026-11-27 20:00 ICT, unanswered: 12 hours (SEA), due
  2026-11-28 08:00 ICT = 01:00 UTC, 8 h after the TH batch end.
- AP-TH-1, an appeal available since 2026-11-24 10:30 ICT and not submitted: 7 calendar days,
  window closes 2026-12-01 10:30 ICT = 03:30 UTC, 82.5 h after the TH batch end.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from aftersales.actions import build_action_queue
from aftersales.actions.queue import ActionQueueError
from aftersales.commands import todo
from aftersales.ingest import ingest_inbox
from aftersales.policy import score_batch
from aftersales.rulepack import DEFAULT_RULES_DIR, load_rulebook
from aftersales.settings import Settings
from aftersales.sla import compute_sla

BATCH = dt.date(2026, 11, 27)
RUN = "run-aq"
UTC = dt.UTC

SHOPS = [
    ["Shop ID", "Shop Name", "Market", "Program", "Ship From", "Timezone", "Chatbots Enabled"],
    ["US1", "Sunny US", "US", "local", "US", "America/Los_Angeles", "false"],
    ["TH1", "Siam TH", "TH", "local", "TH", "Asia/Bangkok", "false"],
]
REQUEST_HEADER = ["Return Order ID", "Order ID", "SKU ID", "Return Type", "Return Reason", "Return Status",
                  "Arbitration Status", "Request Time", "Item Price", "Refund Amount", "Currency",
                  "Seller Response Time", "Seller Decision"]  # fmt: skip
US_REQUESTS = [["R-US-1", "576000000000000001", "1001", "Refund only", "Item defective or doesn't work",
                "Awaiting seller response", "", "11/25/2026 10:00:00 AM", "$50.00", "$50.00", "USD", "", ""]]  # fmt: skip
TH_REQUESTS = [["R-TH-1", "579000000000000001", "2001", "Return and refund", "Item doesn't match description",
                "Closed", "Buyer won", "15/11/2026 09:00:00", "฿500.00", "฿500.00", "THB",
                "16/11/2026 09:00:00", "Rejected"]]  # fmt: skip
MESSAGES = [
    ["Conversation ID", "Message ID", "Order ID", "Sender Role", "Message Type", "Sent Time", "Content"],
    ["CV-TH-1", "M-TH-1", "", "Buyer", "text", "27/11/2026 20:00:00", "Where is my parcel? It is late"],
]
APPEALS = [
    [
        "Appeal ID",
        "Return Order ID",
        "Appeal Type",
        "Appeal Available Time",
        "Submitted Time",
        "Appeal Status",
    ],
    ["AP-TH-1", "R-TH-1", "arbitration_lost", "24/11/2026 10:30:00", "", "Pending"],
]


def _write(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(f'"{c}"' if "," in c else c for c in r) for r in rows) + "\n")


def _rules_with_horizon(folder: Path, hours: int) -> Path:
    """A copy of the default rules with another action-queue horizon (the only policy value changed)."""
    shutil.copytree(DEFAULT_RULES_DIR, folder)
    settings = folder / "action_queue.yaml"
    text = settings.read_text()
    settings.write_text(text.replace("sla_horizon_hours: 48", f"sla_horizon_hours: {hours}"))
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("action_queue")
    inbox = tmp / "inbox"
    _write(inbox / "shops.csv", SHOPS)
    _write(inbox / "US1" / "returns.csv", [REQUEST_HEADER, *US_REQUESTS])
    _write(inbox / "TH1" / "returns.csv", [REQUEST_HEADER, *TH_REQUESTS])
    _write(inbox / "TH1" / "chat.csv", MESSAGES)
    _write(inbox / "TH1" / "appeals.csv", APPEALS)
    db = tmp / "work.duckdb"
    ingest_inbox(inbox, db, BATCH, RUN, Settings(pseudonym_key="5f" * 32), tmp / "reports")
    score_batch(db, BATCH, RUN, DEFAULT_RULES_DIR)
    compute_sla(db, BATCH, RUN, DEFAULT_RULES_DIR)
    return db


def _queue(db: Path) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        cur = con.execute(
            "SELECT * FROM action_queue ORDER BY due_at_utc, action_kind, entity_id, evidence_type"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _one(rows: list[dict], **match) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def _source(rule_id: str, version: int) -> tuple[str, str]:
    book = load_rulebook(DEFAULT_RULES_DIR)
    rule = next(r for r in book.all_rules() if r.id == rule_id and r.version == version)
    return rule.source, book.sources[rule.source]["citation"]


def test_default_horizon_lists_the_chat_reply_and_the_open_appeal_not_the_monday_deadline(work):
    summary = build_action_queue(work, BATCH, RUN, DEFAULT_RULES_DIR)
    rows = _queue(work)
    assert summary.actions == len(rows)
    assert not [r for r in rows if r["entity_id"] == "R-US-1"]  # due 58 h after the batch end > 48 h

    chat = _one(rows, action_kind="chat_reply")
    assert chat["shop_id"] == "TH1" and chat["entity_id"] == "M-TH-1"
    assert chat["due_at_utc"] == dt.datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert chat["due_at_local"] == "2026-11-28 08:00 Asia/Bangkok"
    assert chat["hours_left"] == pytest.approx(8.0)
    assert chat["rule_id"] == "sea_local.sla.chat_reply" and chat["rule_version"] == 2
    assert (chat["source_key"], chat["source_citation"]) == _source("sea_local.sla.chat_reply", 2)
    assert chat["source"] == ": ".join(_source("sea_local.sla.chat_reply", 2))
    assert "M-TH-1" in chat["action_en"] and "回复买家" in chat["action_zh"]
    assert (chat["batch_date"], chat["run_id"]) == (BATCH, RUN)

    appeal = _one(rows, action_kind="appeal")
    assert appeal["entity_id"] == "AP-TH-1"  # a window: listed however far away it closes
    assert appeal["due_at_utc"] == dt.datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    assert appeal["due_at_local"] == "2026-12-01 10:30 Asia/Bangkok"
    assert appeal["hours_left"] == pytest.approx(82.5)
    assert appeal["rule_id"] == "sea_local.sla.appeal_window.th"
    assert appeal["source_key"] == _source("sea_local.sla.appeal_window.th", 1)[0]


def test_appeal_names_the_evidence_its_rules_still_ask_the_seller_for(work):
    build_action_queue(work, BATCH, RUN, DEFAULT_RULES_DIR)
    rows = _queue(work)
    con = duckdb.connect(str(work), read_only=True)
    try:
        gaps = con.execute(
            "SELECT evidence_type, due_at FROM evidence_gaps WHERE case_id = 'AP-TH-1' AND party = 'seller' "
            "AND gap_kind IN ('missing', 'invalid') ORDER BY evidence_type"
        ).fetchall()
    finally:
        con.close()
    from aftersales.policy.decide import EVIDENCE_LABELS

    appeal = _one(rows, action_kind="appeal")
    assert gaps, "an arbitration-lost appeal on a not-as-described return asks the seller for evidence"
    for etype, due in gaps:
        assert EVIDENCE_LABELS[etype][0] in appeal["action_en"]
        assert EVIDENCE_LABELS[etype][1] in appeal["action_zh"]
        upload = [r for r in rows if r["action_kind"] == "evidence" and r["evidence_type"] == etype]
        assert len(upload) == 1 and upload[0]["due_at_utc"] == due and upload[0]["party"] == "seller"
        # the evidence window (7 days from appeal availability, rule `due`) closes with the appeal window
        assert due == dt.datetime(2026, 12, 1, 3, 30, tzinfo=UTC)


def test_business_day_deadline_across_thanksgiving_and_the_weekend_enters_a_72h_horizon(work, tmp_path):
    rules = _rules_with_horizon(tmp_path / "rules", 72)
    build_action_queue(work, BATCH, RUN, rules)
    rows = _queue(work)
    req = _one(rows, entity_id="R-US-1")
    assert req["action_kind"] == "aftersales_response" and req["shop_id"] == "US1"
    assert req["due_at_utc"] == dt.datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    assert req["due_at_local"] == "2026-11-30 10:00 America/Los_Angeles"
    assert req["hours_left"] == pytest.approx(58.0)
    assert req["due_local_date"] == dt.date(2026, 11, 30)
    assert req["rule_id"] == "us_local.sla.aftersales_response"
    assert (req["source_key"], req["source_citation"]) == _source("us_local.sla.aftersales_response", 1)
    # ordered by deadline
    assert [r["due_at_utc"] for r in rows] == sorted(r["due_at_utc"] for r in rows)
    assert [r["entity_id"] for r in rows if r["action_kind"] != "evidence"] == ["M-TH-1", "R-US-1", "AP-TH-1"]


def test_rebuilding_replaces_the_batch_rows(work):
    first = build_action_queue(work, BATCH, RUN, DEFAULT_RULES_DIR)
    second = build_action_queue(work, BATCH, RUN, DEFAULT_RULES_DIR)
    assert first.actions == second.actions == len(_queue(work))


def test_missing_horizon_setting_is_refused(work, tmp_path):
    rules = _rules_with_horizon(tmp_path / "rules", 48)
    (rules / "action_queue.yaml").unlink()
    with pytest.raises(ActionQueueError, match="sla_horizon_hours"):
        build_action_queue(work, BATCH, RUN, rules)


def test_todo_prints_one_shop_within_the_horizon(work):
    build_action_queue(work, BATCH, RUN, DEFAULT_RULES_DIR)
    group = click.Group()
    todo.register(group)
    runner = CliRunner()
    day = runner.invoke(group, ["todo", "--shop", "TH1", "--within", "24h", "--db", str(work)])
    assert day.exit_code == 0, day.output
    assert "M-TH-1" in day.output and "AP-TH-1" not in day.output and "R-US-1" not in day.output
    assert "2026-11-28 08:00 Asia/Bangkok (2026-11-28 01:00 UTC), 8.0 h left" in day.output
    week = runner.invoke(
        group, ["todo", "--shop", "TH1", "--within", "4d", "--db", str(work), "--lang", "zh"]
    )
    assert week.exit_code == 0, week.output
    assert week.output.index("M-TH-1") < week.output.index("AP-TH-1")
    assert "截止 2026-12-01 10:30 Asia/Bangkok（2026-12-01 03:30 UTC），剩余 82.5 小时" in week.output
    assert (
        runner.invoke(group, ["todo", "--shop", "TH1", "--within", "soon", "--db", str(work)]).exit_code == 2
    )
    assert "【申诉】  AP-TH-1" in week.output and "【回复聊天】  M-TH-1" in week.output
    nobody = runner.invoke(group, ["todo", "--shop", "XX9", "--within", "24h", "--db", str(work)])
    assert (
        nobody.exit_code == 0
        and "Shop XX9: 0 action(s)" in nobody.output
        and "(nothing due)" in nobody.output
    )
