"""Build `action_queue` in the run's work database: everything a seller can still act on.

As of the batch end (24:00 of the batch date in each shop's own zone, contract §1), ordered by
deadline, one row per thing to do:

- open SLA clocks (`sla_open_clocks`) of the seller's obligations due within the horizon of
  `rules/action_queue.yaml` (chat replies, after-sales and cancellation responses, dispatch,
  return inspections, auto-cancel);
- appeal windows still open (the seller may appeal), with the evidence the case's rules still
  ask the seller for (from `evidence_gaps`, i.e. the rules' `evidence` requirements);
- dispute windows still open (the buyer may still escalate a rejected request);
- evidence a party must still upload, due after the batch end (`evidence_gaps.due_at`, computed
  by the scoring stage from the rule's `due` window).

Every deadline was already computed from rules/ YAML by the SLA and scoring stages; the stage's
SQL model (`models/action_queue.sql`) only selects, words and orders them, and adds the rule's
source and citation. This module loads what the model reads besides earlier stages' tables (the
wording below, the rules' sources and the packs' coverage, as `aq_*` TEMP tables) and the horizon
from rules/. Runs after the SLA stage on the work database; publish copies the table like every
other batch table.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftersales import database
from aftersales.policy.decide import EVIDENCE_LABELS, PARTY_LABELS
from aftersales.rulepack import RuleBook, load_rulebook, read_yaml
from aftersales.sla.work_tables import missing_inputs, replace_batch_tables
from aftersales.sql_models import run_models
from aftersales.warehouse_schema import RESULT_DDL

QUEUE_TABLE = "action_queue"
SETTINGS_FILE = "action_queue.yaml"
# Tables this module loads before the model runs (TEMP: wording, rule sources, pack coverage).
LOADED_TABLES = ("aq_window_kind", "aq_text", "aq_stage", "aq_label", "aq_rule", "aq_pack")

# Open clocks of these sla_ids become actions of their own kind; window clocks get a kind of their own.
WINDOW_KINDS = {"appeal_window": "appeal", "dispute_window": "dispute_window"}

# What to do, per action kind (wording only: every deadline comes from the clocks and gaps).
# Placeholders: {entity}, {evidence}, {party}, {stage}.
ACTION_TEXT: dict[str, tuple[str, str]] = {
    "chat_reply": (
        "Reply to the buyer: the conversation of message {entity} is waiting for the seller.",
        "回复买家：消息 {entity} 所在的会话正在等待卖家回复。",
    ),
    "aftersales_response": (
        "Approve or reject after-sales request {entity}; unanswered, the platform approves it.",
        "处理售后申请 {entity}（同意或拒绝）；逾期未处理，平台将自动同意。",
    ),
    "cancellation_response": (
        "Approve or reject cancellation request {entity} (or upload tracking if the order has shipped).",
        "处理取消申请 {entity}（同意或拒绝；如已发货，请上传物流单号）。",
    ),
    "return_inspection": (
        "Inspect the returned item of {entity}: refund, or report a problem with evidence.",
        "验收退货 {entity}：确认无误后退款，或附证据提交问题。",
    ),
    "dispatch": (
        "Ship order {entity}{stage}.",
        "订单 {entity} 发货{stage}。",
    ),
    "auto_cancel": (
        "Ship order {entity} before the platform cancels it automatically.",
        "订单 {entity} 须在平台自动取消前发货。",
    ),
    "appeal": (
        "Appeal {entity} while the window is open, with: {evidence}.",
        "在申诉窗口关闭前就 {entity} 提交申诉，附：{evidence}。",
    ),
    "dispute_window": (
        "The buyer may still escalate {entity} to a platform dispute: settle with the buyer or keep "
        "the evidence for the rejection ready.",
        "买家仍可就 {entity} 向平台发起争议：请与买家协商解决，或备好拒绝理由的证据。",
    ),
    "evidence_seller": (
        "Upload {evidence} for case {entity}.",
        "为案件 {entity} 上传{evidence}。",
    ),
    "evidence_other": (
        "Waiting for the {party} to upload {evidence} for case {entity}.",
        "等待{party}为案件 {entity} 上传{evidence}。",
    ),
}
STAGE_TEXT = {
    "ready_to_ship": (": pack it and set it ready to ship", "：完成打包并设为待揽收"),
    "handover": (": hand it over to the carrier", "：交付承运商揽收"),
    None: (": hand it over to the carrier with tracking", "：交付承运商并上传物流单号"),
}
NO_EVIDENCE_TEXT = ("the evidence the appeal asks for (none missing on file)", "申诉所需证据（目前无缺失）")


class ActionQueueError(ValueError):
    """The queue cannot be built (missing settings or input tables); the message is one line."""


@dataclass(frozen=True)
class ActionQueueSummary:
    batch_date: str
    run_id: str
    actions: int
    by_kind: dict[str, int] = field(default_factory=dict)
    due_within_24h: int = 0
    seconds: float = 0.0


def queue_settings(rules_dir: Path) -> dict:
    """The queue's horizon from rules/action_queue.yaml (policy values never live in Python)."""
    path = Path(rules_dir) / SETTINGS_FILE
    if not path.is_file():
        raise ActionQueueError(f"{path} is missing: it sets the action queue's sla_horizon_hours")
    doc = read_yaml(path)
    hours = doc.get("sla_horizon_hours") if isinstance(doc, dict) else None
    if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
        raise ActionQueueError(f"{path}: sla_horizon_hours must be a positive number of hours")
    return {"sla_horizon_hours": float(hours), "source": doc.get("source")}


def _rule_sources(book: RuleBook, batch_date: dt.date) -> list[tuple]:
    """(pack, rule_id, version, in force on the batch date, source key, citation) of every rule."""
    return [
        (
            r.pack,
            r.id,
            r.version,
            r.in_force(batch_date),
            r.source,
            str((book.sources.get(r.source) or {}).get("citation") or ""),
        )
        for r in book.all_rules()
    ]


def _load_lookup_tables(con, rules_dir: Path, batch_date: dt.date) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE aq_window_kind (sla_id VARCHAR, kind VARCHAR)")
    con.executemany("INSERT INTO aq_window_kind VALUES (?, ?)", list(WINDOW_KINDS.items()))
    con.execute("CREATE OR REPLACE TEMP TABLE aq_text (kind VARCHAR, en VARCHAR, zh VARCHAR)")
    con.executemany(
        "INSERT INTO aq_text VALUES (?, ?, ?)", [(k, en, zh) for k, (en, zh) in ACTION_TEXT.items()]
    )
    con.execute("CREATE OR REPLACE TEMP TABLE aq_stage (stage VARCHAR, en VARCHAR, zh VARCHAR)")
    con.executemany(
        "INSERT INTO aq_stage VALUES (?, ?, ?)", [(k, en, zh) for k, (en, zh) in STAGE_TEXT.items()]
    )
    con.execute("CREATE OR REPLACE TEMP TABLE aq_label (kind VARCHAR, code VARCHAR, en VARCHAR, zh VARCHAR)")
    labels = [("evidence", c, en, zh) for c, (en, zh) in EVIDENCE_LABELS.items()]
    labels += [("party", c, en, zh) for c, (en, zh) in PARTY_LABELS.items()]
    con.executemany("INSERT INTO aq_label VALUES (?, ?, ?, ?)", labels)
    book = load_rulebook(rules_dir)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE aq_rule (pack_id VARCHAR, rule_id VARCHAR, version INTEGER, "
        "in_force BOOLEAN, source VARCHAR, citation VARCHAR)"
    )
    con.executemany("INSERT INTO aq_rule VALUES (?, ?, ?, ?, ?, ?)", _rule_sources(book, batch_date))
    con.execute("CREATE OR REPLACE TEMP TABLE aq_pack (market VARCHAR, program VARCHAR, pack_id VARCHAR)")
    coverage = [(m, prog, p.id) for p in book.packs for m in p.markets for prog in p.programs]
    con.executemany("INSERT INTO aq_pack VALUES (?, ?, ?)", coverage)


def build_action_queue(
    work_db: Path, batch_date: dt.date, run_id: str, rules_dir: Path
) -> ActionQueueSummary:
    """Replace this batch's rows of `action_queue` in the work database (after the SLA stage)."""
    started = time.monotonic()
    settings = queue_settings(rules_dir)
    con = database.connect(work_db)
    try:
        missing = missing_inputs(con, QUEUE_TABLE, LOADED_TABLES)
        if missing:
            raise ActionQueueError(
                f"{work_db} has no {', '.join(missing)}: the action queue runs after scoring and SLA"
            )
        con.execute(RESULT_DDL[QUEUE_TABLE])  # before the model: the TEMP model shadows it
        _load_lookup_tables(con, rules_dir, batch_date)
        params = {
            "batch_date": batch_date,
            "run_id": run_id,
            "horizon_us": int(settings["sla_horizon_hours"] * 3_600_000_000),
            "no_ev_en": NO_EVIDENCE_TEXT[0],
            "no_ev_zh": NO_EVIDENCE_TEXT[1],
        }
        run_models(con, "action_queue", params)
        replace_batch_tables(con, [QUEUE_TABLE], batch_date)
        by_kind = dict(
            con.execute(
                f"SELECT action_kind, count(*) FROM {QUEUE_TABLE} WHERE batch_date = ? GROUP BY ALL ORDER BY 1",
                [batch_date],
            ).fetchall()
        )
        within = con.execute(
            f"SELECT count(*) FROM {QUEUE_TABLE} WHERE batch_date = ? AND hours_left <= 24", [batch_date]
        ).fetchone()[0]
    finally:
        con.close()
    return ActionQueueSummary(
        batch_date=str(batch_date),
        run_id=run_id,
        actions=sum(by_kind.values()),
        by_kind=by_kind,
        due_within_24h=within,
        seconds=round(time.monotonic() - started, 3),
    )
