"""Scenario tests stored beside the packs: case facts -> expected ruling, run through the real engine.

`rules/<pack>/scenarios/*.yaml`:

    defaults:                       # deep-merged into every scenario of the file
      batch_date: 2026-11-27
      shop: {market: US, program: local, timezone: America/New_York}
      order: {paid_time: "2026-11-01 10:00", delivered_time: "2026-11-04 15:00", order_amount: 45}
    scenarios:
      - name: defective item, seller silent past 2 business days
        request: {return_type: Return and refund, return_reason: Item defective or doesn't work,
                  request_time: "2026-11-10 09:00", item_price: 40}
        evidence: [{by: Buyer, type: photo, at: "2026-11-10 09:05"}]
        expect: {decision: buyer_favour, liable_party: seller, remedy: return_and_refund,
                 fires: [us.auto_approve_review], not_fires: [...], gaps: [seller/tracking],
                 decided_by: us.auto_approve_review, refund_amount: 40}

`order`, `request`, `cancellation` and `appeal` take staging column names (aftersales/staging.py);
times are shop-local wall times, as in the exports. Each scenario gets its own shop, order and
case ids. Scenarios are grouped by batch date; each group is written to a real DuckDB work
database (`aftersales.policy.scenario_staging`) and judged by `score_batch`, so a scenario
exercises exactly what the batch runs.
"""

from __future__ import annotations

import copy
import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from aftersales.policy.packs import POLICY_FILE, load_policy
from aftersales.policy.scenario_staging import ScenarioRows, write_scenario
from aftersales.policy.score import score_work_db
from aftersales.rulepack import RuleBook, RulePackError, load_rulebook, read_yaml
from aftersales.staging import create_staging_tables

EXPECT_KEYS = {
    "decision",
    "liable_party",
    "remedy",
    "fires",
    "not_fires",
    "gaps",
    "decided_by",
    "refund_amount",
    "min_confidence",
    "max_confidence",
}
SCENARIO_KEYS = {
    "name",
    "batch_date",
    "shop",
    "order",
    "lines",
    "request",
    "cancellation",
    "appeal",
    "evidence",
    "expect",
    "note",
}


@dataclass
class Scenario:
    pack: str
    file: str
    name: str
    number: int
    spec: dict[str, Any]

    @property
    def prefix(self) -> str:
        return f"{self.pack}-{self.number}"

    @property
    def case_id(self) -> str:
        if self.spec.get("appeal"):
            return f"{self.prefix}-A"
        if self.spec.get("cancellation"):
            return f"{self.prefix}-C"
        return f"{self.prefix}-R"


@dataclass
class ScenarioResult:
    scenario: Scenario
    problems: list[str]
    decision: str | None = None
    fired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ScenarioReport:
    results: list[ScenarioResult]
    covered: set[tuple[str, str, int]]
    all_rules: set[tuple[str, str, int]]

    @property
    def failed(self) -> list[ScenarioResult]:
        return [r for r in self.results if not r.ok]

    @property
    def uncovered(self) -> list[tuple[str, str, int]]:
        return sorted(self.all_rules - self.covered)

    @property
    def coverage(self) -> float:
        return len(self.covered & self.all_rules) / len(self.all_rules) if self.all_rules else 1.0

    def coverage_by_pack(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for pack in sorted({p for p, _, _ in self.all_rules}):
            mine = {r for r in self.all_rules if r[0] == pack}
            out[pack] = (len(mine & self.covered), len(mine))
        return out


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def load_scenarios(book: RuleBook) -> list[Scenario]:
    """Every scenario of every pack, defaults applied; raises RulePackError on a malformed file."""
    out: list[Scenario] = []
    for pack in book.packs:
        folder = pack.path / "scenarios"
        for f in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            doc = read_yaml(f) or {}
            defaults = doc.get("defaults") or {}
            for i, raw in enumerate(doc.get("scenarios") or [], 1):
                where = f"{f.relative_to(book.path)} scenario #{i}"
                if not isinstance(raw, dict) or not raw.get("name"):
                    raise RulePackError(f"{where}: needs a name")
                unknown = set(raw) - SCENARIO_KEYS
                if unknown:
                    raise RulePackError(f"{where} ({raw['name']}): unknown keys {sorted(unknown)}")
                spec = _merge(defaults, raw)
                if not isinstance(spec.get("expect"), dict) or set(spec["expect"]) - EXPECT_KEYS:
                    raise RulePackError(
                        f"{where} ({raw['name']}): expect must be a mapping of {sorted(EXPECT_KEYS)}"
                    )
                if not spec.get("batch_date"):
                    raise RulePackError(f"{where} ({raw['name']}): needs a batch_date (here or in defaults)")
                if not any(spec.get(k) for k in ("request", "cancellation", "appeal")):
                    raise RulePackError(f"{where} ({raw['name']}): needs a request, cancellation or appeal")
                shop = spec.get("shop") or {}
                if shop.get("market") not in pack.markets or shop.get("program") not in pack.programs:
                    raise RulePackError(
                        f"{where} ({raw['name']}): shop {shop.get('market')}/{shop.get('program')} "
                        f"is outside pack {pack.id}"
                    )
                out.append(Scenario(pack.id, f.name, str(raw["name"]), len(out) + 1, spec))
    return out


def _check(s: Scenario, ruling: dict | None, fired: list[str], gaps: list[str]) -> list[str]:
    exp = s.spec["expect"]
    if ruling is None:
        return ["no ruling was produced"]
    problems = []
    for key in ("decision", "liable_party", "remedy", "decided_by"):
        if key in exp and ruling[key] != exp[key]:
            problems.append(f"{key}: expected {exp[key]}, got {ruling[key]}")
    for rid in exp.get("fires") or ():
        if rid not in fired:
            problems.append(f"rule {rid} did not fire (fired: {', '.join(fired) or 'none'})")
    for rid in exp.get("not_fires") or ():
        if rid in fired:
            problems.append(f"rule {rid} fired but should not")
    if "gaps" in exp and sorted(exp["gaps"] or []) != sorted(gaps):
        problems.append(f"evidence gaps: expected {sorted(exp['gaps'] or [])}, got {sorted(gaps)}")
    if "refund_amount" in exp:
        got = ruling["refund_amount_recommended"]
        want = exp["refund_amount"]
        if (got is None) != (want is None) or (got is not None and abs(float(got) - float(want)) > 0.005):
            problems.append(f"refund_amount: expected {want}, got {got}")
    if "min_confidence" in exp and ruling["confidence"] < exp["min_confidence"]:
        problems.append(f"confidence {ruling['confidence']} below {exp['min_confidence']}")
    if "max_confidence" in exp and ruling["confidence"] > exp["max_confidence"]:
        problems.append(f"confidence {ruling['confidence']} above {exp['max_confidence']}")
    return problems


def run_scenarios(rules_dir: Path | str | None = None, packs: list[str] | None = None) -> ScenarioReport:
    """Run every scenario of the rules directory through `score_batch`; report results and coverage."""
    book = load_rulebook(rules_dir)
    policy = load_policy(book)
    scenarios = [s for s in load_scenarios(book) if not packs or s.pack in packs]
    all_rules = {
        (r.pack, r.id, r.version) for r in book.all_rules(POLICY_FILE) if not packs or r.pack in packs
    }
    groups: dict[dt.date, list[Scenario]] = {}
    for s in scenarios:
        day = s.spec.get("batch_date")
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        groups.setdefault(day, []).append(s)
    results: list[ScenarioResult] = []
    covered: set[tuple[str, str, int]] = set()
    with tempfile.TemporaryDirectory(prefix="aftersales-scenarios-") as tmp:
        for day, group in sorted(groups.items()):
            db = Path(tmp) / f"work-{day.isoformat()}.duckdb"
            con = duckdb.connect(str(db))
            try:
                create_staging_tables(con)
                rows = ScenarioRows()
                for s in group:
                    write_scenario(con, s, rows)
                rows.flush(con)
            finally:
                con.close()
            score_work_db(db, day, f"scenarios-{day.isoformat()}", policy)
            con = duckdb.connect(str(db), read_only=True)
            try:
                cols = [d[0] for d in con.execute("SELECT * FROM rulings LIMIT 0").description]
                rulings = {
                    r[cols.index("case_id")]: dict(zip(cols, r, strict=True))
                    for r in con.execute("SELECT * FROM rulings").fetchall()
                }
                hits: dict[str, list[str]] = {}
                for case_id, pack, rule_id, version, effect in con.execute(
                    "SELECT case_id, pack_id, rule_id, rule_version, effect FROM rule_hits"
                ).fetchall():
                    hits.setdefault(case_id, []).append(rule_id)
                    if effect != "error":
                        covered.add((pack, rule_id, version))
                gaps: dict[str, list[str]] = {}
                for case_id, party, etype in con.execute(
                    "SELECT case_id, party, evidence_type FROM evidence_gaps"
                ).fetchall():
                    gaps.setdefault(case_id, []).append(f"{party}/{etype}")
            finally:
                con.close()
            for s in group:
                ruling = rulings.get(s.case_id)
                fired = hits.get(s.case_id, [])
                results.append(
                    ScenarioResult(
                        s,
                        _check(s, ruling, fired, gaps.get(s.case_id, [])),
                        ruling["decision"] if ruling else None,
                        fired,
                    )
                )
    return ScenarioReport(results=results, covered=covered, all_rules=all_rules)
