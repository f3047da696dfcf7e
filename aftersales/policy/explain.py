"""`aftersales explain`: one case's ruling and rule trace, read back from rulings/rule_hits/evidence_gaps.

Works on a warehouse or a work database (both hold the same result tables). Without a batch
date the latest batch that judged the case is shown.

Under `--lang zh` every word is Chinese except identifiers (case, order, shop, rule and run ids,
source keys, the policy version label). The trace shows each rule's Chinese clause from the rule
pack instead of its English reason; in English the reason is re-rendered from the rule's template
and the case's stored facts, so a fact the exports did not hold is said in words instead of `?`.
Every time carries its zone: UTC and the shop's own zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from aftersales.lakehouse.connect import open_warehouse
from aftersales.policy.decide import (
    DECISION_LABELS,
    EVIDENCE_LABELS,
    GAP_LABELS,
    MARKET_LABELS,
    PARTY_LABELS,
    REMEDY_LABELS,
)


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
        "missing": "-",
        "version": "v",
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
        "missing": "无",
        "version": "版本 ",
    },
}

CASE_KIND_LABELS = {
    "return_refund": ("return_refund", "退货退款"),
    "replacement": ("replacement", "换货"),
    "cancellation": ("cancellation", "取消订单"),
    "appeal": ("appeal", "申诉"),
}
# What a fired rule did for the ruling (rule_hits.role).
ROLE_LABELS = {
    "decided": ("decided", "裁定依据"),
    "liability": ("liability", "确定责任方"),
    "remedy": ("remedy", "确定处理方式"),
    "points": ("points", "计入评分"),
    "evidence": ("evidence", "要求补充证据"),
    "overruled": ("overruled", "被否决"),
    "considered": ("considered", "已考虑未采用"),
    "error": ("error", "执行出错"),
}
FIRMNESS_LABELS = {"S": ("S", "官方页面"), "3P": ("3P", "第三方页面"), "I": ("I", "推定")}
EFFECT_KEYS_ZH = {
    "decision": "裁定",
    "liable_party": "责任方",
    "remedy": "处理方式",
    "refund_pct": "退款比例",
    "require": "须提供",
    "points": "分值",
}
NOT_IN_EXPORT = ("not in the exports", "导出数据中没有")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _label(table: dict, code: str | None, lang: str) -> str:
    """The code in English (the contract's vocabulary), its Chinese label under zh."""
    if code is None:
        return _HEADINGS[lang]["missing"]
    en, zh = table.get(code, (code, code))
    return zh if lang == "zh" else code


def _times(value: dt.datetime | None, zone: str | None, lang: str) -> str:
    """An instant in UTC and in the shop's zone, both named."""
    if value is None:
        return _HEADINGS[lang]["missing"]
    utc = value.astimezone(dt.UTC)
    text = f"{utc:%Y-%m-%d %H:%M} UTC"
    if zone:
        local = value.astimezone(ZoneInfo(zone))
        text += (
            f"（店铺当地时间 {local:%Y-%m-%d %H:%M} {zone}）"
            if lang == "zh"
            else f" ({local:%Y-%m-%d %H:%M} {zone})"
        )
    return text


def _effect_zh(effect: str) -> str:
    """'decision=seller_favour; require=seller:photo; points=+20' in Chinese."""
    if effect == "error":
        return "执行出错"
    if effect == "info":
        return "仅说明"
    parts = []
    for part in effect.split("; "):
        key, _, value = part.partition("=")
        if key == "decision":
            value = _label(DECISION_LABELS, value, "zh")
        elif key == "liable_party":
            value = _label(PARTY_LABELS, value, "zh")
        elif key == "remedy":
            value = _label(REMEDY_LABELS, value, "zh")
        elif key == "require":
            party, _, etype = value.partition(":")
            value = _label(PARTY_LABELS, party, "zh") + _label(EVIDENCE_LABELS, etype, "zh")
        parts.append(f"{EFFECT_KEYS_ZH.get(key, key)}={value}")
    return "；".join(parts)


def _effect_decision(effect: str) -> str | None:
    for part in effect.split("; "):
        key, _, value = part.partition("=")
        if key == "decision":
            return value
    return None


def render_reason(template: str, facts: dict, zone: str | None) -> str:
    """The rule's English reason from its template and the case's facts; a missing fact in words."""

    def value(m: re.Match) -> str:
        name = m.group(1)
        v = facts.get(name)
        if v is None:
            return f"({name.replace('_', ' ')} {NOT_IN_EXPORT[0]})"
        if isinstance(v, dt.datetime):
            local = v.astimezone(ZoneInfo(zone)) if zone else v.astimezone(dt.UTC)
            return f"{local:%Y-%m-%d %H:%M} {zone or 'UTC'}"
        if isinstance(v, float):
            return f"{round(v, 1)}"
        return str(v)

    return _PLACEHOLDER.sub(value, template)


def _rule_texts(rules_dir: Path | None) -> dict[tuple[str, str, int], dict]:
    """(pack, rule id, version) -> clauses and reason template, from the rule packs (cached per file state)."""
    from aftersales.rulepack import DEFAULT_RULES_DIR

    root = Path(rules_dir) if rules_dir else DEFAULT_RULES_DIR
    stamp = (
        tuple(sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*.yaml"))) if root.is_dir() else ()
    )
    return _load_rule_texts(str(root), stamp)


@functools.lru_cache(maxsize=4)
def _load_rule_texts(root: str, stamp: tuple) -> dict[tuple[str, str, int], dict]:
    from aftersales.rulepack import RulePackError, load_rulebook

    try:
        book = load_rulebook(root)
    except RulePackError:
        return {}
    return {
        (r.pack, r.id, r.version): {
            "clause_zh": r.clause_zh,
            "clause_en": r.clause_en,
            "reason": r.body.get("reason"),
        }
        for r in book.all_rules()
    }


def _overrule_note(r: dict, effect: str, gaps: list[tuple], rule_id: str, lang: str) -> str | None:
    """Why the deciding rule's own decision is not the ruling (its evidence is missing or late)."""
    own = _effect_decision(effect)
    if own is None or own == r["decision"]:
        return None
    mine = [g for g in gaps if g[2] == rule_id and g[5]]
    items_en = ", ".join(f"{g[0]} {EVIDENCE_LABELS.get(g[1], (g[1],))[0]}" for g in mine)
    items_zh = "、".join(_label(PARTY_LABELS, g[0], "zh") + _label(EVIDENCE_LABELS, g[1], "zh") for g in mine)
    if r["decision"] == "need_evidence":
        if lang == "zh":
            return f"本规则本应裁定为{_label(DECISION_LABELS, own, 'zh')}，但其要求的证据（{items_zh or '见证据缺口'}）尚未提供，故裁定为需补充证据"
        return (
            f"this rule would decide {own}, but the evidence it requires ({items_en or 'see the gaps'}) "
            "is missing, so the ruling is need_evidence"
        )
    if lang == "zh":
        return (
            f"本规则本应裁定为{_label(DECISION_LABELS, own, 'zh')}，但其要求的证据（{items_zh or '见证据缺口'}）"
            f"未在截止时间前提供，故按逾期结果裁定为{_label(DECISION_LABELS, r['decision'], 'zh')}"
        )
    return (
        f"this rule would decide {own}, but the evidence it requires ({items_en or 'see the gaps'}) was not "
        f"supplied by its due time, so its overdue outcome {r['decision']} applies"
    )


def explain_case(
    db: Path | str,
    case_id: str,
    lang: str = "en",
    batch_date: dt.date | None = None,
    rules_dir: Path | str | None = None,
    as_of_run: str | None = None,
) -> str:
    """The ruling of one case with the rules that fired and the evidence gaps, as printable text.

    `as_of_run`: read the lake as that run's publish left it (aftersales.lakehouse.connect)."""
    if lang not in _HEADINGS:
        raise ExplainError(f"language must be en or zh, got {lang!r}")
    path = Path(db)
    if not path.exists():
        raise ExplainError(f"database {path} does not exist")
    h = _HEADINGS[lang]
    con = open_warehouse(path, as_of_run=as_of_run)
    try:
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
        key = [case_id, r["batch_date"], r["run_id"]]
        hits = con.execute(
            "SELECT rule_id, rule_version, effect, points, reason, source, firmness, role, pack_id FROM rule_hits "
            "WHERE case_id = ? AND batch_date = ? AND run_id = ? ORDER BY effect = 'error' DESC, rule_id",
            key,
        ).fetchall()
        gaps = con.execute(
            "SELECT party, evidence_type, rule_id, gap_kind, due_at, decisive FROM evidence_gaps "
            "WHERE case_id = ? AND batch_date = ? AND run_id = ? ORDER BY decisive DESC, rule_id, party",
            key,
        ).fetchall()
        facts: dict = {}
        if "case_features" in tables:
            cur = con.execute(
                "SELECT * FROM case_features WHERE case_id = ? AND batch_date = ? AND run_id = ?", key
            )
            names = [d[0] for d in cur.description]
            found = cur.fetchone()
            facts = dict(zip(names, found, strict=True)) if found else {}
        catalog: dict = {}
        if "rule_catalog" in tables:  # the clauses of exactly the rule versions that judged this batch
            for pack, rid, version, clause_en, clause_zh in con.execute(
                "SELECT pack, rule_id, version, clause_en, clause_zh FROM rule_catalog WHERE batch_date = ?",
                [r["batch_date"]],
            ).fetchall():
                catalog[(pack, rid, version)] = {"clause_en": clause_en, "clause_zh": clause_zh}
    finally:
        con.close()
    zone = facts.get("shop_timezone")
    texts = _rule_texts(Path(rules_dir) if rules_dir else None)

    order = {rid: i for i, rid in enumerate(r.get("rule_ids") or [])}
    hits.sort(key=lambda x: (order.get(x[0], len(order)), x[0]))
    refund = r.get("refund_amount_recommended")
    lines = [
        f"{h['case']} {r['case_id']}  {h['kind']}: {_label(CASE_KIND_LABELS, r['case_kind'], lang)}  "
        f"{h['shop']}: {r['shop_id']}  {h['order']}: {r['order_id'] or h['missing']}  "
        f"{h['market']}: {_label(MARKET_LABELS, r['market'], lang)}",
        f"{h['batch']}: {r['batch_date']}  {h['run']}: {r['run_id']}",
        f"{h['decision']}: {_label(DECISION_LABELS, r['decision'], lang)}  "
        f"{h['liable']}: {_label(PARTY_LABELS, r['liable_party'], lang)}  "
        f"{h['remedy']}: {_label(REMEDY_LABELS, r['remedy'], lang)}",
        f"{h['score']}: {r['score']:g}  {h['confidence']}: {r['confidence']:.3f}  "
        f"{h['decided_by']}: {_decided_by(r.get('decided_by'), lang)}  "
        f"{h['refund']}: {refund if refund is not None else h['missing']}",
        f"{h['policy']}: {r['policy_version']}",
        "",
        f"{h['explanation']}:",
        f"  {r['explanation_zh'] if lang == 'zh' else r['explanation_en']}",
        "",
        f"{h['trace']}:",
    ]
    if not hits:
        lines.append(f"  {h['none']}")
    for rule_id, version, effect, points, reason, source, firmness, role, pack_id in hits:
        pts = f"{points:+g}" if points else "0"
        text = texts.get((pack_id, rule_id, version), {}) | catalog.get((pack_id, rule_id, version), {})
        note = _overrule_note(r, effect, gaps, rule_id, lang) if role == "decided" else None
        if lang == "zh":
            if effect == "error":
                body = "该规则无法在本案件上执行，转人工审核"
            else:
                body = text.get("clause_zh") or "（规则包中找不到该规则版本的中文条款）"
            lines.append(
                f"  {rule_id} {h['version']}{version}  {_label(ROLE_LABELS, role, 'zh')}  "
                f"【{_effect_zh(effect)}】  分值 {pts}  （来源 {source}，{_label(FIRMNESS_LABELS, firmness, 'zh')}）  "
                f"{body}" + (f"（{note}）" if note else "")
            )
        else:
            if effect != "error" and text.get("reason"):
                reason = render_reason(text["reason"], facts, zone) if facts else reason
            lines.append(
                f"  {rule_id} v{version}  {role or '-'}  [{effect}]  {pts}  ({source}, {firmness})  "
                f"{reason or ''}".rstrip()
                + (f" ({note})" if note else "")
            )
    lines += ["", f"{h['gaps']}:"]
    if not gaps:
        lines.append(f"  {h['none']}")
    for party, etype, rule_id, kind, due, decisive in gaps:
        flag = f", {h['decisive']}" if decisive else ""
        if lang == "zh":
            flag = f"，{h['decisive']}" if decisive else ""
            lines.append(
                f"  {_label(PARTY_LABELS, party, lang)}{_label(EVIDENCE_LABELS, etype, lang)}："
                f"{_label(GAP_LABELS, kind, lang)}，{h['due']} {_times(due, zone, lang)}{flag}  ← {rule_id}"
            )
        else:
            lines.append(
                f"  {party} {etype}: {kind}, {h['due']} {_times(due, zone, lang)}{flag}  <- {rule_id}"
            )
    return "\n".join(lines)


def _decided_by(value: str | None, lang: str) -> str:
    """A rule id, or the score / no pack in words."""
    if value is None:
        return _HEADINGS[lang]["missing"]
    if lang == "zh" and value == "score":
        return "评分"
    if lang == "zh" and value == "no_pack":
        return "无适用规则包"
    return value
