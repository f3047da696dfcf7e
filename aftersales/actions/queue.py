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

Every deadline was already computed from rules/ YAML by the SLA and scoring stages; this stage
only selects, words and orders them, and adds the rule's source and citation. Runs after the SLA
stage on the work database; publish copies the table like every other batch table.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from aftersales import database
from aftersales.policy.decide import EVIDENCE_LABELS, PARTY_LABELS
from aftersales.rulepack import RuleBook, load_rulebook, read_yaml
from aftersales.warehouse_schema import RESULT_DDL

QUEUE_TABLE = "action_queue"
SETTINGS_FILE = "action_queue.yaml"

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


ACTIONS_SQL = """
WITH shop AS (
    SELECT s.shop_id, s.market, s.timezone, p.pack_id,
           timezone(s.timezone, (CAST($batch_date AS DATE) + 1)::TIMESTAMP) AS batch_end
    FROM stg_shops s LEFT JOIN aq_pack p ON p.market = s.market AND p.program = s.program
), clock AS (
    SELECT c.shop_id, c.entity_id, coalesce(w.kind, c.sla_id) AS action_kind, 'seller' AS party,
           c.sla_id, c.stage, c.due_at, c.rule_id, c.rule_version, c.entity_id AS case_id
    FROM sla_open_clocks c
    JOIN shop s USING (shop_id)
    LEFT JOIN aq_window_kind w ON w.sla_id = c.sla_id
    WHERE c.batch_date = $batch_date AND c.due_at >= s.batch_end
      AND (w.kind IS NOT NULL OR c.due_at <= s.batch_end + to_microseconds(CAST($horizon_us AS BIGINT)))
), gap AS (
    SELECT r.shop_id, g.case_id, g.party, g.evidence_type, g.due_at, g.rule_id,
           el.en || coalesce(' (or: ' || (SELECT string_agg(a.en, ', ' ORDER BY a.code)
                                           FROM aq_label a
                                           WHERE a.kind = 'evidence' AND a.code <> g.evidence_type
                                             AND list_contains(g.accepted_types, a.code)) || ')', '') AS what_en,
           el.zh || coalesce('（或：' || (SELECT string_agg(a.zh, '、' ORDER BY a.code)
                                          FROM aq_label a
                                          WHERE a.kind = 'evidence' AND a.code <> g.evidence_type
                                            AND list_contains(g.accepted_types, a.code)) || '）', '') AS what_zh
    FROM evidence_gaps g
    JOIN rulings r ON r.case_id = g.case_id AND r.batch_date = g.batch_date AND r.run_id = g.run_id
    JOIN aq_label el ON el.kind = 'evidence' AND el.code = g.evidence_type
    WHERE g.batch_date = $batch_date AND g.run_id = $run_id AND g.gap_kind IN ('missing', 'invalid')
      AND g.due_at IS NOT NULL
), open_gap AS (
    SELECT g.* FROM gap g JOIN shop s USING (shop_id) WHERE g.due_at > s.batch_end
), appeal_evidence AS (
    SELECT case_id, string_agg(what_en, '; ' ORDER BY evidence_type) AS ev_en,
           string_agg(what_zh, '；' ORDER BY evidence_type) AS ev_zh
    FROM gap WHERE party = 'seller' GROUP BY case_id
), action AS (
    SELECT c.shop_id, c.entity_id, c.action_kind, c.party, c.sla_id, c.stage, NULL::VARCHAR AS evidence_type,
           c.due_at, c.rule_id, c.rule_version,
           replace(replace(replace(t.en, '{entity}', c.entity_id), '{stage}', st.en),
                   '{evidence}', coalesce(ae.ev_en, $no_ev_en)) AS action_en,
           replace(replace(replace(t.zh, '{entity}', c.entity_id), '{stage}', st.zh),
                   '{evidence}', coalesce(ae.ev_zh, $no_ev_zh)) AS action_zh
    FROM clock c
    JOIN aq_text t ON t.kind = c.action_kind
    LEFT JOIN aq_stage st ON st.stage IS NOT DISTINCT FROM c.stage
    LEFT JOIN appeal_evidence ae ON ae.case_id = c.case_id
    UNION ALL
    SELECT g.shop_id, g.case_id, 'evidence', g.party, NULL, NULL, g.evidence_type, g.due_at, g.rule_id, NULL,
           replace(replace(replace(t.en, '{entity}', g.case_id), '{evidence}', g.what_en), '{party}', pl.en),
           replace(replace(replace(t.zh, '{entity}', g.case_id), '{evidence}', g.what_zh), '{party}', pl.zh)
    FROM open_gap g
    JOIN aq_label pl ON pl.kind = 'party' AND pl.code = g.party
    JOIN aq_text t ON t.kind = CASE WHEN g.party = 'seller' THEN 'evidence_seller' ELSE 'evidence_other' END
)
SELECT CAST($batch_date AS DATE) AS batch_date, CAST($run_id AS VARCHAR) AS run_id,
       a.shop_id, a.entity_id, a.action_kind, a.action_en, a.action_zh,
       strftime(timezone(s.timezone, a.due_at), '%Y-%m-%d %H:%M') || ' ' || s.timezone AS due_at_local,
       a.due_at AS due_at_utc,
       (epoch_us(a.due_at) - epoch_us(s.batch_end)) / 3600000000.0 AS hours_left,
       a.rule_id,
       coalesce(a.rule_version, rs.version) AS rule_version,
       rs.source || coalesce(': ' || nullif(rs.citation, ''), '') AS source, rs.source AS source_key,
       rs.citation AS source_citation,
       a.party, a.sla_id, a.stage, a.evidence_type, s.market, s.timezone AS shop_timezone,
       CAST(timezone(s.timezone, a.due_at) AS DATE) AS due_local_date
FROM action a
JOIN shop s USING (shop_id)
LEFT JOIN (
    SELECT * FROM aq_rule
    QUALIFY row_number() OVER (PARTITION BY pack_id, rule_id ORDER BY in_force DESC, version DESC) = 1
) rs_any ON rs_any.pack_id = s.pack_id AND rs_any.rule_id = a.rule_id AND a.rule_version IS NULL
LEFT JOIN aq_rule rs ON rs.pack_id = s.pack_id AND rs.rule_id = a.rule_id
                    AND rs.version = coalesce(a.rule_version, rs_any.version)
ORDER BY due_at_utc, a.shop_id, a.action_kind, a.entity_id, a.evidence_type
"""


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
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = {"stg_shops", "sla_open_clocks", "evidence_gaps", "rulings"} - tables
        if missing:
            raise ActionQueueError(
                f"{work_db} has no {', '.join(sorted(missing))}: the action queue runs after scoring and SLA"
            )
        _load_lookup_tables(con, rules_dir, batch_date)
        con.execute(RESULT_DDL[QUEUE_TABLE])
        params = {
            "batch_date": batch_date,
            "run_id": run_id,
            "horizon_us": int(settings["sla_horizon_hours"] * 3_600_000_000),
            "no_ev_en": NO_EVIDENCE_TEXT[0],
            "no_ev_zh": NO_EVIDENCE_TEXT[1],
        }
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {QUEUE_TABLE} WHERE batch_date = ?", [batch_date])
        con.execute(f"INSERT INTO {QUEUE_TABLE} BY NAME {ACTIONS_SQL}", params)
        con.execute("COMMIT")
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
