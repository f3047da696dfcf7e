"""`aftersales explain`: one case's ruling and rule trace, read back from rulings/rule_hits/evidence_gaps.

Works on a warehouse or a work database (both hold the same result tables). Without a batch
date the latest batch that judged the case is shown.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from aftersales.policy.decide import DECISION_LABELS, EVIDENCE_LABELS, GAP_LABELS, PARTY_LABELS, REMEDY_LABELS


class ExplainError(LookupError):
    """The case (or the result tables) cannot be found; the message is one line."""


_HEADINGS = {
    "en": {
        "case": "Case",
        "kind": "kind",
        "shop": "shop",
        "order": "order",
        "market": "market",
        "batch": "batch",
        "run": "run",
        "decision": "Decision",
        "liable": "liable party",
        "remedy": "remedy",
        "score": "score",
        "confidence": "confidence",
        "decided_by": "Decided by",
        "refund": "recommended refund",
        "policy": "Policy version",
        "explanation": "Explanation",
        "trace": "Rule trace",
        "gaps": "Evidence gaps",
        "none": "(none)",
        "decisive": "decisive",
        "due": "due",
    },
    "zh": {
        "case": "案件",
        "kind": "类型",
        "shop": "店铺",
        "order": "订单",
        "market": "市场",
        "batch": "批次",
        "run": "运行",
        "decision": "裁定",
        "liable": "责任方",
        "remedy": "处理方式",
        "score": "评分",
        "confidence": "置信度",
        "decided_by": "裁定依据",
        "refund": "建议退款金额",
        "policy": "规则版本",
        "explanation": "说明",
        "trace": "规则轨迹",
        "gaps": "证据缺口",
        "none": "（无）",
        "decisive": "决定性",
        "due": "截止",
    },
}


def _label(table: dict, code: str | None, lang: str) -> str:
    if code is None:
        return "-"
    en, zh = table.get(code, (code, code))
    return f"{code} ({zh})" if lang == "zh" else code


def explain_case(db: Path | str, case_id: str, lang: str = "en", batch_date: dt.date | None = None) -> str:
    """The ruling of one case with the rules that fired and the evidence gaps, as printable text."""
    if lang not in _HEADINGS:
        raise ExplainError(f"language must be en or zh, got {lang!r}")
    path = Path(db)
    if not path.exists():
        raise ExplainError(f"database {path} does not exist")
    h = _HEADINGS[lang]
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = {"rulings", "rule_hits", "evidence_gaps"} - tables
        if missing:
            raise ExplainError(f"{path} has no {', '.join(sorted(missing))} table: run a batch first")
        params: list = [case_id]
        date_filter = ""
        if batch_date is not None:
            date_filter = "AND batch_date = ?"
            params.append(batch_date)
        cur = con.execute(
            f"SELECT * FROM rulings WHERE case_id = ? {date_filter} ORDER BY batch_date DESC LIMIT 1", params
        )
        cols = [d[0] for d in cur.description]
        row = cur.fetchone()
        if row is None:
            when = f" for batch {batch_date}" if batch_date else ""
            raise ExplainError(f"case {case_id} has no ruling in {path}{when}")
        r = dict(zip(cols, row, strict=True))
        hits = con.execute(
            "SELECT rule_id, rule_version, effect, points, reason, source, firmness, role FROM rule_hits "
            "WHERE case_id = ? AND batch_date = ? AND run_id = ? ORDER BY effect = 'error' DESC, rule_id",
            [case_id, r["batch_date"], r["run_id"]],
        ).fetchall()
        gaps = con.execute(
            "SELECT party, evidence_type, rule_id, gap_kind, "
            "strftime(due_at, '%Y-%m-%d %H:%M UTC'), decisive FROM evidence_gaps "
            "WHERE case_id = ? AND batch_date = ? AND run_id = ? ORDER BY decisive DESC, rule_id, party",
            [case_id, r["batch_date"], r["run_id"]],
        ).fetchall()
    finally:
        con.close()

    order = {rid: i for i, rid in enumerate(r.get("rule_ids") or [])}
    hits.sort(key=lambda x: (order.get(x[0], len(order)), x[0]))
    lines = [
        f"{h['case']} {r['case_id']}  {h['kind']}: {r['case_kind']}  {h['shop']}: {r['shop_id']}  "
        f"{h['order']}: {r['order_id'] or '-'}  {h['market']}: {r['market']}",
        f"{h['batch']}: {r['batch_date']}  {h['run']}: {r['run_id']}",
        f"{h['decision']}: {_label(DECISION_LABELS, r['decision'], lang)}  "
        f"{h['liable']}: {_label(PARTY_LABELS, r['liable_party'], lang)}  "
        f"{h['remedy']}: {_label(REMEDY_LABELS, r['remedy'], lang)}",
        f"{h['score']}: {r['score']:g}  {h['confidence']}: {r['confidence']:.3f}  "
        f"{h['decided_by']}: {r.get('decided_by') or '-'}  "
        f"{h['refund']}: {r.get('refund_amount_recommended') if r.get('refund_amount_recommended') is not None else '-'}",
        f"{h['policy']}: {r['policy_version']}",
        "",
        f"{h['explanation']}:",
        f"  {r['explanation_zh'] if lang == 'zh' else r['explanation_en']}",
        "",
        f"{h['trace']}:",
    ]
    if not hits:
        lines.append(f"  {h['none']}")
    for rule_id, version, effect, points, reason, source, firmness, role in hits:
        pts = f"{points:+g}" if points else "0"
        lines.append(
            f"  {rule_id} v{version}  {role or '-'}  [{effect}]  {pts}  ({source}, {firmness})  "
            f"{reason or ''}".rstrip()
        )
    lines += ["", f"{h['gaps']}:"]
    if not gaps:
        lines.append(f"  {h['none']}")
    for party, etype, rule_id, kind, due, decisive in gaps:
        flag = f", {h['decisive']}" if decisive else ""
        lines.append(
            f"  {_label(PARTY_LABELS, party, lang)} {_label(EVIDENCE_LABELS, etype, lang)}: "
            f"{_label(GAP_LABELS, kind, lang)}, {h['due']} {due or '-'}{flag}  <- {rule_id}"
        )
    return "\n".join(lines)
