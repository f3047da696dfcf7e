"""Deciding: hard rules and decisive evidence gaps first (by priority), else points through thresholds.

All in SQL over the fired hits, the rule metadata and the evidence requirements:

1. candidates: fired rules with a hard decision; decisive evidence gaps (need_evidence, or the
   rule's `overdue` outcome once the item's deadline has passed); rules that errored on the case
   (manual_review, ahead of everything); cases no pack covers (manual_review);
2. the candidate with the lowest priority decides (on a tie: errors, then evidence, then rules);
3. with no candidate, the sum of points meets the pack's thresholds
   (buyer_favour >= a, partial_refund >= b, seller_favour <= c, else manual_review);
4. liability and remedy: the deciding rule's, else the highest-priority attribute rule whose
   `for_decisions` holds the decision, else the pack default; undecided cases are 'none';
5. confidence grows with the deciding rule's firmness (or the score's margin from the nearest
   threshold) and with the share of required evidence present.
"""

from __future__ import annotations

from aftersales.policy.cases import CASE_TABLE
from aftersales.policy.evaluate import HIT_TABLE, META_TABLE
from aftersales.policy.evidence import REQ_TABLE
from aftersales.policy.packs import PolicyBook

RULING_TABLE = "policy_ruling"
ROLE_TABLE = "policy_hit_role"
# Order in which fired rules explain a ruling; the rest are listed as also considered.
ROLE_ORDER = ("error", "decided", "liability", "remedy", "points", "evidence")

DECISION_LABELS = {
    "buyer_favour": ("buyer favour", "支持买家"),
    "partial_refund": ("partial refund", "部分退款"),
    "seller_favour": ("seller favour", "支持卖家"),
    "need_evidence": ("evidence needed", "需补充证据"),
    "manual_review": ("manual review", "转人工审核"),
}
APPEAL_LABELS = {
    "buyer_favour": ("appeal rejected, the buyer keeps the outcome", "申诉驳回，维持买家胜诉结果"),
    "seller_favour": ("appeal upheld", "申诉成立"),
}
PARTY_LABELS = {
    "seller": ("seller", "卖家"),
    "buyer": ("buyer", "买家"),
    "carrier": ("carrier", "承运商"),
    "platform": ("platform", "平台"),
    "none": ("none", "无"),
}
REMEDY_LABELS = {
    "refund_only": ("refund only", "仅退款"),
    "return_and_refund": ("return and refund", "退货退款"),
    "replacement": ("replacement", "换货"),
    "partial_refund": ("partial refund", "部分退款"),
    "cancel_order": ("cancel the order", "取消订单"),
    "none": ("none", "无"),
}
EVIDENCE_LABELS = {
    "photo": ("photo", "照片"),
    "video": ("video", "视频"),
    "unboxing_video": ("unboxing video", "开箱视频"),
    "tracking": ("tracking record", "物流追踪记录"),
    "proof_of_delivery": ("proof of delivery", "签收证明"),
    "chat_screenshot": ("chat screenshot", "聊天截图"),
    "listing_snapshot": ("listing snapshot", "商品详情页快照"),
    "invoice": ("invoice", "发票"),
    "lab_report": ("lab report", "检测报告"),
    "awb_photo": ("air-waybill photo", "运单照片"),
    "packing_photo": ("packing photo", "打包照片"),
    "comparison_photo": ("comparison photo", "对比照片"),
}
MARKET_LABELS = {
    "US": ("US", "美国"),
    "UK": ("UK", "英国"),
    "TH": ("TH", "泰国"),
    "VN": ("VN", "越南"),
    "ID": ("ID", "印度尼西亚"),
    "MY": ("MY", "马来西亚"),
    "PH": ("PH", "菲律宾"),
    "SG": ("SG", "新加坡"),
}
GAP_LABELS = {
    "missing": ("missing", "缺失"),
    "invalid": ("invalid", "无效"),
    "late": ("uploaded late", "逾期上传"),
}


def _labels(con) -> None:
    rows = []
    for kind, table in (
        ("decision", DECISION_LABELS),
        ("appeal", APPEAL_LABELS),
        ("party", PARTY_LABELS),
        ("remedy", REMEDY_LABELS),
        ("evidence", EVIDENCE_LABELS),
        ("gap", GAP_LABELS),
        ("market", MARKET_LABELS),
    ):
        rows += [(kind, code, en, zh) for code, (en, zh) in table.items()]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE policy_label (kind VARCHAR, code VARCHAR, en VARCHAR, zh VARCHAR)"
    )
    con.executemany("INSERT INTO policy_label VALUES (?, ?, ?, ?)", rows)


def _pack_settings(con, policy: PolicyBook) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP TABLE policy_pack_settings (
            pack_id VARCHAR, buyer_min DOUBLE, partial_min DOUBLE, seller_max DOUBLE, partial_pct DOUBLE,
            w_s DOUBLE, w_3p DOUBLE, w_i DOUBLE, margin_scale DOUBLE, manual_conf DOUBLE,
            seller_liable VARCHAR, buyer_liable VARCHAR)"""
    )
    rows = [
        (
            pid,
            s.buyer_favour_min,
            s.partial_refund_min,
            s.seller_favour_max,
            s.partial_refund_pct,
            s.firmness_weight["S"],
            s.firmness_weight["3P"],
            s.firmness_weight["I"],
            s.margin_scale,
            s.manual_review_confidence,
            s.seller_favour_liable,
            s.buyer_favour_liable,
        )
        for pid, s in policy.settings.items()
    ]
    if rows:
        con.executemany(f"INSERT INTO policy_pack_settings VALUES ({', '.join('?' * 12)})", rows)


def decide(con, policy: PolicyBook) -> int:
    """Create temp table `policy_ruling` (one row per case) from hits, requirements and settings."""
    _labels(con)
    _pack_settings(con, policy)
    min_int = -(2**31)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE policy_candidate AS
        SELECT h.case_id, m.priority, 1 AS kind_rank, m.rule_index, m.rule_id, m.decision, m.liable_party,
               m.remedy, m.refund_pct, m.firmness, 'rule' AS via
        FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index)
        WHERE h.status = 'fired' AND m.decision IS NOT NULL
        UNION ALL
        SELECT r.case_id, m.priority, 0, m.rule_index, m.rule_id,
               CASE WHEN r.overdue_decision IS NOT NULL AND r.due_at <= r.cutoff_time
                    THEN r.overdue_decision ELSE 'need_evidence' END,
               CASE WHEN r.overdue_decision IS NOT NULL AND r.due_at <= r.cutoff_time THEN r.overdue_liable END,
               CASE WHEN r.overdue_decision IS NOT NULL AND r.due_at <= r.cutoff_time THEN r.overdue_remedy END,
               NULL, m.firmness,
               CASE WHEN r.overdue_decision IS NOT NULL AND r.due_at <= r.cutoff_time THEN 'overdue'
                    ELSE 'evidence' END
        FROM {REQ_TABLE} r JOIN {META_TABLE} m USING (rule_index)
        WHERE r.gap_kind IS NOT NULL AND r.decisive_spec
        UNION ALL
        SELECT h.case_id, {min_int}, -1, m.rule_index, m.rule_id, 'manual_review', 'none', 'none', NULL,
               m.firmness, 'error'
        FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index) WHERE h.status = 'error'
        UNION ALL
        SELECT case_id, {min_int}, -2, NULL, NULL, 'manual_review', 'none', 'none', NULL, NULL, 'no_pack'
        FROM {CASE_TABLE} WHERE pack_id IS NULL;

        CREATE OR REPLACE TEMP TABLE policy_winner AS
        SELECT * FROM policy_candidate
        QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY priority, kind_rank, rule_id) = 1;
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {RULING_TABLE} AS
        WITH score AS (
            SELECT h.case_id, sum(m.points) AS score
            FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index)
            WHERE h.status = 'fired' GROUP BY h.case_id
        ), completeness AS (
            SELECT case_id, count(*) FILTER (WHERE gap_kind IS NULL) / count(*) AS share
            FROM {REQ_TABLE} GROUP BY case_id
        ), base AS (
            SELECT c.case_id, c.case_kind, c.shop_id, c.order_id, c.market, c.program, c.pack_id,
                   c.requested_remedy, c.item_price, c.refund_amount, c.order_amount,
                   coalesce(s.score, 0) AS score, coalesce(cp.share, 1.0) AS completeness,
                   w.rule_index AS win_index, w.rule_id AS win_rule, w.via, w.firmness AS win_firmness,
                   w.liable_party AS win_liable, w.remedy AS win_remedy, w.refund_pct AS win_pct,
                   ps.*,
                   coalesce(w.decision,
                            CASE WHEN coalesce(s.score, 0) >= ps.buyer_min THEN 'buyer_favour'
                                 WHEN coalesce(s.score, 0) >= ps.partial_min THEN 'partial_refund'
                                 WHEN coalesce(s.score, 0) <= ps.seller_max THEN 'seller_favour'
                                 ELSE 'manual_review' END) AS decision
            FROM {CASE_TABLE} c
            LEFT JOIN score s USING (case_id)
            LEFT JOIN completeness cp USING (case_id)
            LEFT JOIN policy_winner w USING (case_id)
            LEFT JOIN policy_pack_settings ps ON ps.pack_id = c.pack_id
        ), attr AS (
            SELECT b.case_id,
                   arg_min(m.liable_party, (m.priority, m.rule_id)) FILTER (WHERE m.liable_party IS NOT NULL) AS liable,
                   arg_min(m.rule_index, (m.priority, m.rule_id)) FILTER (WHERE m.liable_party IS NOT NULL) AS liable_index,
                   arg_min(m.remedy, (m.priority, m.rule_id)) FILTER (WHERE m.remedy IS NOT NULL) AS remedy,
                   arg_min(m.rule_index, (m.priority, m.rule_id)) FILTER (WHERE m.remedy IS NOT NULL) AS remedy_index,
                   arg_min(m.refund_pct, (m.priority, m.rule_id)) FILTER (WHERE m.refund_pct IS NOT NULL) AS pct,
                   arg_min(m.rule_index, (m.priority, m.rule_id)) FILTER (WHERE m.refund_pct IS NOT NULL) AS pct_index
            FROM base b
            JOIN {HIT_TABLE} h ON h.case_id = b.case_id AND h.status = 'fired'
            JOIN {META_TABLE} m ON m.rule_index = h.rule_index
            WHERE m.decision IS NULL AND list_contains(m.for_decisions, b.decision)
            GROUP BY b.case_id
        ), resolved AS (
            SELECT b.*,
                   CASE WHEN b.decision IN ('need_evidence', 'manual_review') THEN 'none'
                        WHEN b.win_liable IS NOT NULL THEN b.win_liable
                        WHEN a.liable IS NOT NULL THEN a.liable
                        WHEN b.decision = 'seller_favour' THEN coalesce(b.seller_liable, 'none')
                        ELSE coalesce(b.buyer_liable, 'seller') END AS liable_party,
                   CASE WHEN b.decision IN ('need_evidence', 'manual_review', 'seller_favour') THEN 'none'
                        WHEN b.decision = 'partial_refund' THEN 'partial_refund'
                        ELSE coalesce(b.win_remedy, a.remedy, b.requested_remedy, 'none') END AS remedy,
                   coalesce(b.win_pct, a.pct, b.partial_pct, 0.5) AS refund_pct,
                   CASE WHEN b.decision IN ('need_evidence', 'manual_review') OR b.win_liable IS NOT NULL THEN NULL
                        ELSE a.liable_index END AS liable_index,
                   CASE WHEN b.decision IN ('buyer_favour') AND b.win_remedy IS NULL THEN a.remedy_index
                        END AS remedy_index,
                   CASE WHEN b.decision IN ('buyer_favour', 'partial_refund') AND b.win_pct IS NULL THEN a.pct_index
                        END AS pct_index
            FROM base b LEFT JOIN attr a USING (case_id)
        )
        SELECT r.*,
               CASE WHEN r.decision = 'partial_refund' THEN round(r.item_price * r.refund_pct, 2)
                    WHEN r.decision = 'buyer_favour' AND r.remedy IN ('refund_only', 'return_and_refund')
                         THEN coalesce(r.refund_amount, r.item_price)
                    WHEN r.decision = 'buyer_favour' AND r.remedy = 'partial_refund'
                         THEN coalesce(r.refund_amount, round(r.item_price * r.refund_pct, 2))
                    WHEN r.decision = 'buyer_favour' AND r.remedy = 'cancel_order' THEN r.order_amount
               END::DECIMAL(18, 2) AS refund_amount_recommended,
               round(CASE
                    WHEN r.via IN ('error', 'no_pack') THEN 0.0
                    WHEN r.via IS NOT NULL THEN
                         (CASE r.win_firmness WHEN 'S' THEN r.w_s WHEN '3P' THEN r.w_3p ELSE r.w_i END)
                         * (0.5 + 0.5 * r.completeness)
                    WHEN r.decision = 'manual_review' THEN r.manual_conf
                    ELSE (0.5 + 0.5 * least(1.0, greatest(0.0,
                              CASE r.decision
                                   WHEN 'buyer_favour' THEN r.score - r.buyer_min
                                   WHEN 'partial_refund' THEN least(r.score - r.partial_min, r.buyer_min - r.score)
                                   ELSE r.seller_max - r.score END) / nullif(r.margin_scale, 0)))
                         * (0.5 + 0.5 * r.completeness)
               END, 3) AS confidence,
               CASE WHEN r.via = 'no_pack' THEN 'no_pack' ELSE coalesce(r.win_rule, 'score') END AS decided_by
        FROM resolved r
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {ROLE_TABLE} AS
        SELECT h.case_id, h.rule_index,
               CASE WHEN h.status = 'error' THEN 'error'
                    WHEN h.rule_index = r.win_index THEN 'decided'
                    WHEN h.rule_index = r.liable_index THEN 'liability'
                    WHEN h.rule_index = r.remedy_index OR h.rule_index = r.pct_index THEN 'remedy'
                    WHEN r.decided_by = 'score' AND m.points <> 0 THEN 'points'
                    WHEN EXISTS (SELECT 1 FROM {REQ_TABLE} q WHERE q.case_id = h.case_id
                                 AND q.rule_index = h.rule_index AND q.gap_kind IS NOT NULL) THEN 'evidence'
                    WHEN m.decision IS NOT NULL THEN 'overruled'
                    ELSE 'considered' END AS role
        FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index) JOIN {RULING_TABLE} r USING (case_id)
        """
    )
    return con.execute(f"SELECT count(*) FROM {RULING_TABLE}").fetchone()[0]


def _own_decision_sql(col: str) -> str:
    """Label of the deciding rule's own decision when the ruling differs from it (NULL otherwise):
    the `own` aggregate joined on the winning rule (a join, not a correlated subquery per case)."""
    return f"own.{col}"


def explanation_sql(lang: str) -> str:
    """SQL expression (over policy_ruling r, with the `clause_aggregates_sql` relations joined as
    `ruling_joins_sql` joins them) building one explanation."""
    col = "en" if lang == "en" else "zh"
    if lang == "en":
        head = (
            "'Decision: ' || coalesce(la.en, ld.en) || '. Liable party: ' || lp.en || '. Remedy: ' || lr.en || '.'"
            " || CASE WHEN r.decided_by = 'score' THEN ' Decided by score ' || CAST(round(r.score, 1) AS VARCHAR)"
            " || ' (buyer favour >= ' || CAST(r.buyer_min AS VARCHAR) || ', partial refund >= '"
            " || CAST(r.partial_min AS VARCHAR) || ', seller favour <= ' || CAST(r.seller_max AS VARCHAR) || ').'"
            " WHEN r.decided_by = 'no_pack' THEN ' No rule pack covers ' || r.market || '/' || r.program || '.'"
            " ELSE ' Decided by rule ' || r.decided_by || '.' END"
            " || CASE r.via WHEN 'evidence' THEN ' The evidence that rule requires is missing, so the case waits for it'"
            f" || coalesce(' (with it, the rule would decide ' || {_own_decision_sql('en')} || ')', '') || '.'"
            " WHEN 'overdue' THEN ' The evidence that rule requires was not supplied by its due time, so its'"
            f" || ' overdue outcome applies' || coalesce(' instead of ' || {_own_decision_sql('en')}, '') || '.'"
            " ELSE '' END"
        )
    else:
        head = (
            "'裁定：' || coalesce(la.zh, ld.zh) || '。责任方：' || lp.zh || '。处理方式：' || lr.zh || '。'"
            " || CASE WHEN r.decided_by = 'score' THEN '依据评分 ' || CAST(round(r.score, 1) AS VARCHAR)"
            " || ' 裁定（支持买家 ≥ ' || CAST(r.buyer_min AS VARCHAR) || '，部分退款 ≥ '"
            " || CAST(r.partial_min AS VARCHAR) || '，支持卖家 ≤ ' || CAST(r.seller_max AS VARCHAR) || '）。'"
            " WHEN r.decided_by = 'no_pack' THEN '没有规则包覆盖'"
            " || coalesce(lm.zh, r.market)"
            " || '的'"
            " || CASE r.program WHEN 'local' THEN '本土' WHEN 'cross_border' THEN '跨境' ELSE r.program END"
            " || '店铺。'"
            " ELSE '依据规则 ' || r.decided_by || ' 裁定。' END"
            " || CASE r.via WHEN 'evidence' THEN '该规则要求的证据尚未提供，需先补充证据'"
            f" || coalesce('（证据齐全时该规则将裁定为' || {_own_decision_sql('zh')} || '）', '') || '。'"
            " WHEN 'overdue' THEN '该规则要求的证据未在截止时间前提供，故按其逾期结果裁定'"
            f" || coalesce('，而非' || {_own_decision_sql('zh')}, '') || '。' ELSE '' END"
        )
    sep = "' '" if lang == "en" else "''"
    others = (
        "' Also considered: ' || t.others || '.'"
        if lang == "en"
        else "'另已触发的规则：' || t.others || '。'"
    )
    return (
        f"{head} || coalesce({sep} || t.clauses_{col}, '') || coalesce({sep} || g.gaps_{col}, '')"
        f" || coalesce({others}, '')"
    )


def ruling_joins_sql() -> str:
    """The joins `explanation_sql` reads, after `FROM policy_ruling r` (labels and aggregates)."""
    return """
        LEFT JOIN t USING (case_id)
        LEFT JOIN g USING (case_id)
        LEFT JOIN own ON own.rule_index = r.win_index AND own.decision <> r.decision
        JOIN policy_label ld ON ld.kind = 'decision' AND ld.code = r.decision
        LEFT JOIN policy_label la ON la.kind = 'appeal' AND la.code = r.decision AND r.case_kind = 'appeal'
        JOIN policy_label lp ON lp.kind = 'party' AND lp.code = r.liable_party
        JOIN policy_label lr ON lr.kind = 'remedy' AND lr.code = r.remedy
        LEFT JOIN policy_label lm ON lm.kind = 'market' AND lm.code = r.market"""


def clause_aggregates_sql() -> str:
    """Per-case clause text of the contributing rules, the ids of the rest, and the evidence gaps."""
    rank = " ".join(f"WHEN '{role}' THEN {i}" for i, role in enumerate(ROLE_ORDER))
    return f"""
        t AS (
            -- One list per case in explanation order (numbered by one window sort, then each short
            -- list sorted by that number), sliced three ways: four ordered aggregates, each sorting
            -- every case's hits on its own, were the costliest step of the explanations.
            -- Roles outside ROLE_ORDER all rank 9, so the slices keep the orders they had as
            -- separate aggregates (clauses: role, priority, rule; the rest: priority, rule).
            SELECT case_id,
                   list_aggr(list_transform(list_filter(hits, x -> x.explains), x -> x.clause_en),
                             'string_agg', ' ') AS clauses_en,
                   list_aggr(list_transform(list_filter(hits, x -> x.explains), x -> x.clause_zh),
                             'string_agg', '') AS clauses_zh,
                   list_aggr(list_transform(list_filter(hits, x -> NOT x.explains), x -> x.rule_id),
                             'string_agg', ', ') AS others,
                   list_transform(hits, x -> x.rule_id) AS ids
            FROM (
                SELECT case_id, list_sort(list(hit)) AS hits
                FROM (
                    SELECT h.case_id,
                           {{'position': row_number() OVER (
                                  PARTITION BY h.case_id
                                  ORDER BY CASE x.role {rank} ELSE 9 END, m.priority NULLS LAST, m.rule_id),
                             'rule_id': m.rule_id, 'explains': x.role IN {ROLE_ORDER},
                             'clause_en': CASE WHEN h.status = 'error'
                                  THEN 'Rule ' || m.rule_id || ' v' || m.rule_version
                                       || ' could not be evaluated on this case (' || coalesce(h.reason, 'no reason recorded')
                                       || '); the case goes to manual review.'
                                  ELSE m.clause_en END,
                             'clause_zh': CASE WHEN h.status = 'error'
                                  THEN '规则 ' || m.rule_id || ' 版本 ' || m.rule_version
                                       || ' 无法在本案件上执行，转人工审核。'
                                  ELSE m.clause_zh END}} AS hit
                    FROM {HIT_TABLE} h JOIN {META_TABLE} m USING (rule_index)
                    JOIN {ROLE_TABLE} x ON x.case_id = h.case_id AND x.rule_index = h.rule_index
                )
                GROUP BY case_id
            )
        ),
        own AS (
            -- the label of each rule's own decision, for "with it, the rule would decide ..."
            SELECT m.rule_index, m.decision, l.en, l.zh
            FROM {META_TABLE} m JOIN policy_label l ON l.kind = 'decision' AND l.code = m.decision
        ),
        g AS (
            SELECT q.case_id,
                   'Evidence gaps: ' || string_agg(pl.en || ' ' || el.en || ' (' || gl.en || ', due '
                        || strftime(timezone(c.shop_timezone, q.due_at), '%Y-%m-%d %H:%M') || ' ' || c.shop_timezone
                        || ')', '; '
                        ORDER BY q.req_id) || '.' AS gaps_en,
                   '证据缺口：' || string_agg(pl.zh || el.zh || '（' || gl.zh || '，截止 '
                        || strftime(timezone(c.shop_timezone, q.due_at), '%Y-%m-%d %H:%M') || ' ' || c.shop_timezone
                        || '）', '；'
                        ORDER BY q.req_id) || '。' AS gaps_zh
            FROM {REQ_TABLE} q
            JOIN {CASE_TABLE} c USING (case_id)
            JOIN policy_label pl ON pl.kind = 'party' AND pl.code = q.party
            JOIN policy_label el ON el.kind = 'evidence' AND el.code = q.evidence_type
            JOIN policy_label gl ON gl.kind = 'gap' AND gl.code = q.gap_kind
            WHERE q.gap_kind IS NOT NULL
            GROUP BY q.case_id
        )"""
