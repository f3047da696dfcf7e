"""What a what-if replay compared, in words: the rule versions the candidate changes, the dates
holding stored cases, and the currencies of its money figures (the replay printout's context).

Read from the warehouse's stored rule catalogue (`rule_catalog`) and `replay_diff` only, so it
describes exactly what was re-scored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from aftersales.lakehouse.connect import open_warehouse
from aftersales.vocabulary import MARKET_CURRENCY


@dataclass(frozen=True)
class RuleChange:
    """One rule version that differs between the stored catalogue of the dates and the candidate."""

    pack: str
    rule_id: str
    version: int
    kind: str  # added, removed, changed (same version, other body: an unversioned change), reworded
    differences: tuple[str, ...] = ()


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _show(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def body_differences(stored_json: str | None, candidate_json: str | None) -> tuple[str, ...]:
    """`field: old -> new` for every field of two fingerprinted bodies that differs (body.when, ...)."""
    old = _flatten(json.loads(stored_json)) if stored_json else {}
    new = _flatten(json.loads(candidate_json)) if candidate_json else {}
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key, "(absent)") != new.get(key, "(absent)"):
            lines.append(f"{key}: {_show(old.get(key, '(absent)'))} -> {_show(new.get(key, '(absent)'))}")
    return tuple(lines)


# What a compliance reader sees of a rule but no ruling depends on: changing it needs no new version.
WORDING_FIELDS = ("clause_en", "clause_zh", "source_key", "firmness_reason")


def rule_changes(warehouse: Path, first: date, last: date, candidate_rules: Path) -> list[RuleChange] | None:
    """The rule versions that differ between the catalogue stored for [first, last] and the candidate.

    None when the warehouse holds no catalogue for those dates (published before catalogues were
    kept): the difference cannot be told, which is not the same as "no difference".
    """
    from aftersales.policy.catalog import CATALOG_TABLE, catalog_table, stored_catalogue
    from aftersales.rulepack import load_rulebook

    con = open_warehouse(warehouse)
    try:
        present = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [CATALOG_TABLE]
        ).fetchone()[0]
        stored = stored_catalogue(con, first, last) if present else {}
    finally:
        con.close()
    if not stored:
        return None
    candidate = {
        (r["pack"], r["rule_id"], r["version"]): r
        for r in catalog_table(load_rulebook(candidate_rules)).to_pylist()
    }
    latest_stored: dict[tuple[str, str], dict] = {}
    for key, row in sorted(stored.items(), key=lambda item: item[0]):
        latest_stored[key[:2]] = row  # ascending versions: the last one stays
    changes = []
    for key in sorted(stored.keys() | candidate.keys()):
        old, new = stored.get(key), candidate.get(key)
        if old is None:
            # a new version is shown against the stored version it follows; a new rule needs no field list
            previous = latest_stored.get(key[:2])
            differences = body_differences(previous["body_json"], new["body_json"]) if previous else ()
            changes.append(RuleChange(*key, "added", differences))
        elif new is None:
            changes.append(RuleChange(*key, "removed"))
        elif old["body_sha256"] != new["body_sha256"]:
            changes.append(RuleChange(*key, "changed", body_differences(old["body_json"], new["body_json"])))
        elif reworded := tuple(f for f in WORDING_FIELDS if (old.get(f) or None) != (new.get(f) or None)):
            changes.append(RuleChange(*key, "reworded", reworded))
    return changes


def format_rule_changes(changes: list[RuleChange] | None, *, detail_lines: int = 6) -> str:
    """The rule diff as text: one line per rule version, then its differing fields, indented."""
    if changes is None:
        return "rules: no rule catalogue is stored for these dates (published before catalogues were kept)"
    if not changes:
        return "rules: the candidate's rules judge exactly like the stored ones (no rule version differs)"
    counts = {k: sum(c.kind == k for c in changes) for k in ("changed", "added", "removed", "reworded")}
    lines = [
        "rules that differ from the stored packs: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    ]
    label = {
        "changed": "CHANGED, same version",
        "added": "added",
        "removed": "removed",
        "reworded": "reworded",
    }
    for c in changes:
        if c.kind == "reworded":  # judges alike: name the fields, not their text
            lines.append(
                f"  {label[c.kind]:<21} {c.pack} {c.rule_id} v{c.version} ({', '.join(c.differences)})"
            )
            continue
        lines.append(f"  {label[c.kind]:<21} {c.pack} {c.rule_id} v{c.version}")
        if c.kind == "added" and c.differences:
            lines.append("      (against the latest stored version)")
        lines += [f"      {d}" for d in c.differences[:detail_lines]]
        if len(c.differences) > detail_lines:
            lines.append(f"      ... {len(c.differences) - detail_lines} more field(s)")
    if counts["changed"]:
        lines.append(
            "  a CHANGED rule keeps its old version number: its new rulings would be labelled with it; "
            "give it a new version (`aftersales rules lint` refuses it)"
        )
    return "\n".join(lines)


def case_dates(cases_per_date: dict[str, int], first: date, last: date) -> str:
    """Which dates of [first, last] hold stored cases, and how many dates hold none."""
    held = ", ".join(f"{d} ({n})" for d, n in sorted(cases_per_date.items()))
    empty = (last - first).days + 1 - len(cases_per_date)
    text = f"dates holding cases: {held or 'none'}"
    return text + (f"; {empty} date(s) of {first} .. {last} hold no stored cases" if empty else "")


def replay_currencies(warehouse: Path, replay_id: str) -> dict[str, str]:
    """market -> currency of the money figures (refund amounts) of one replay's cases."""
    con = open_warehouse(warehouse)
    try:
        markets = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT market FROM replay_diff WHERE replay_id = ? AND market IS NOT NULL ORDER BY 1",
                [replay_id],
            ).fetchall()
        ]
    finally:
        con.close()
    return {m: MARKET_CURRENCY.get(m, "unknown currency") for m in markets}


def replay_context(warehouse: Path, summary: dict) -> str:
    """What a replay compared, for its printout: the rule diff, the dates holding cases, the currencies."""
    first, last = date.fromisoformat(summary["date_from"]), date.fromisoformat(summary["date_to"])
    currencies = replay_currencies(warehouse, summary["replay_id"])
    money = ", ".join(f"{m} {c}" for m, c in currencies.items()) or "none"
    return "\n".join(
        [
            format_rule_changes(rule_changes(warehouse, first, last, Path(summary["candidate_rules"]))),
            case_dates(summary.get("cases_per_date") or {}, first, last),
            f"money figures (refund amounts) are in each case's market currency: {money}",
        ]
    )
