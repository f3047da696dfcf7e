"""`aftersales rules lint`: every problem in a rules directory, one line each.

Checks, collecting all problems rather than stopping at the first:
- common metadata of every rule in policy.yaml, sla.yaml and health.yaml (rulepack.parse_rule):
  required keys, ISO dates, unknown source key, firmness, scope within the pack;
- sources.yaml entries (citation, firmness, markets, programs, platform) and rule firmness no
  firmer than its source; a rule whose source does not speak for all its markets and programs, or
  is another platform's page, must be firmness I with a `firmness_reason` (defensible sources);
- published rule versions are immutable: a rule whose judging body (rulepack.judging_body) differs
  from the fingerprint the warehouse's `rule_catalog` last published for the same pack, rule and
  version is refused until it gets a new version;
- a Chinese clause that really is Chinese; versions of one rule: no overlap, no gap, numbered
  in date order;
- policy.yaml bodies and conditions (packs.parse_policy_rule: schema, sqlglot allow-list, type
  check on an empty feature table);
- rules that may decide the same case differently at the same priority (overlap), and deciding
  rules that can never decide because a broader one always comes first (shadowed);
- pack settings the decision needs, and scenario files that cannot be read.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aftersales.policy.catalog import published_fingerprints
from aftersales.policy.expressions import PolicyPackError, conjuncts
from aftersales.policy.packs import POLICY_FILE, PolicyRule, _pack_settings, bind_problems, parse_policy_rule
from aftersales.policy.scenarios import load_scenarios
from aftersales.rulepack import (
    FIRMNESS,
    Rule,
    RulePack,
    RulePackError,
    load_rulebook,
    parse_pack_rules,
    read_yaml,
)
from aftersales.vocabulary import MARKETS, PROGRAMS

_CJK = re.compile(r"[\u3400-\u9fff]")
_FIRMNESS_RANK = {"S": 0, "3P": 1, "I": 2}
# The platform whose after-sales the packs judge; a page of any other platform is an analogy.
HOME_PLATFORM = "tiktok_shop"
NO_PLATFORM = "none"  # design inferences (source DESIGN)


@dataclass
class LintReport:
    problems: list[str]
    packs: int
    rules: int
    policy_rules: int

    @property
    def ok(self) -> bool:
        return not self.problems


def _read(path: Path, problems: list[str]):
    try:
        return read_yaml(path)
    except RulePackError as exc:
        problems.append(str(exc).splitlines()[0])
        return None


def _check_sources(sources: dict, problems: list[str]) -> None:
    for key, entry in sources.items():
        if not isinstance(entry, dict) or not entry.get("citation"):
            problems.append(f"sources.yaml, source {key}: needs a citation")
            continue
        if entry.get("firmness") not in FIRMNESS:
            problems.append(f"sources.yaml, source {key}: firmness must be one of {FIRMNESS}")
        for field, vocabulary in (("markets", MARKETS), ("programs", PROGRAMS)):
            value = entry.get(field)
            if value is not None and (
                not isinstance(value, list) or not value or any(v not in vocabulary for v in value)
            ):
                problems.append(
                    f"sources.yaml, source {key}: {field} must be a non-empty list of {vocabulary}"
                )
        platform = entry.get("platform")
        if platform is not None and (not isinstance(platform, str) or not platform.strip()):
            problems.append(f"sources.yaml, source {key}: platform must be a name (e.g. {HOME_PLATFORM})")


def source_gaps(rule: Rule, source: dict) -> list[str]:
    """Why `source` cannot back `rule` on its own: markets or programs it does not speak for, or
    another platform's page. Empty when it can. A source without `markets` states no region and is
    taken to speak for every market (likewise `programs`, `platform`)."""
    gaps = []
    markets = source.get("markets")
    if isinstance(markets, list):
        missing = [m for m in rule.markets if m not in markets]
        if missing:
            gaps.append(f"its source {rule.source} speaks for {', '.join(markets)}, not {', '.join(missing)}")
    programs = source.get("programs")
    if isinstance(programs, list):
        missing = [p for p in rule.programs if p not in programs]
        if missing:
            gaps.append(
                f"its source {rule.source} covers {', '.join(programs)} only, not {', '.join(missing)}"
            )
    platform = source.get("platform")
    if isinstance(platform, str) and platform not in (HOME_PLATFORM, NO_PLATFORM):
        gaps.append(f"its source {rule.source} is a {platform} page, not a {HOME_PLATFORM} one")
    return gaps


def _check_source_scope(rules: list[Rule], sources: dict, problems: list[str]) -> None:
    """A rule applied where its source does not reach is an inference and must say so and why."""
    for r in rules:
        source = sources.get(r.source)
        gaps = source_gaps(r, source if isinstance(source, dict) else {})
        if not gaps:
            continue
        where = f"pack {r.pack}, {r.file}, rule {r.id} v{r.version}"
        if r.firmness != "I":
            problems.append(
                f"{where}: firmness {r.firmness} but {'; '.join(gaps)}: cite a source for those markets, "
                "or mark the rule firmness I with a firmness_reason"
            )
        elif not r.firmness_reason:
            problems.append(
                f"{where}: inferred (firmness I) because {'; '.join(gaps)}, but gives no firmness_reason"
            )


def unversioned_changes(rules: list[Rule], warehouse: Path | str) -> list[str]:
    """One line per rule version whose judging body changed after it was published under the same
    version number (compared with `warehouse`'s rule_catalog); also usable as a run's pre-check."""
    problems: list[str] = []
    _check_published(rules, Path(warehouse), problems)
    return problems


def _check_published(rules: list[Rule], warehouse: Path, problems: list[str]) -> None:
    try:
        published = published_fingerprints(warehouse)
    except duckdb.Error as exc:
        problems.append(f"{warehouse}: cannot read the published rule catalogue: {str(exc).splitlines()[0]}")
        return
    highest: dict[tuple[str, str], int] = {}
    for r in rules:
        highest[(r.pack, r.id)] = max(r.version, highest.get((r.pack, r.id), 0))
    for r in rules:
        last = published.get((r.pack, r.id, r.version))
        if last is None or last.body_sha256 == r.body_sha256:
            continue
        problems.append(
            f"pack {r.pack}, {r.file}, rule {r.id} v{r.version}: body changed since version {r.version} was "
            f"published (batch {last.batch_date}, run {last.run_id}, {warehouse}) but keeps its version; give "
            f"the change a new version (version {highest[(r.pack, r.id)] + 1} with its own effective_from) "
            "or revert it"
        )


def default_published_db() -> Path | None:
    """The settings' warehouse, when it exists: the catalogue `rules lint` compares with by default."""
    from aftersales.settings import load_settings

    try:
        warehouse = Path(load_settings().warehouse)
    except (OSError, ValueError):
        return None
    return warehouse if warehouse.is_file() else None


def _check_metadata(rules: list[Rule], sources: dict, problems: list[str]) -> None:
    for r in rules:
        where = f"pack {r.pack}, {r.file}, rule {r.id} v{r.version}"
        if not _CJK.search(r.clause_zh):
            problems.append(f"{where}: clause_zh has no Chinese text (missing Chinese clause)")
        src = sources.get(r.source) or {}
        if (
            src.get("firmness") in _FIRMNESS_RANK
            and _FIRMNESS_RANK[r.firmness] < _FIRMNESS_RANK[src["firmness"]]
        ):
            problems.append(
                f"{where}: firmness {r.firmness} is firmer than its source {r.source} ({src['firmness']})"
            )


def _check_versions(rules: list[Rule], problems: list[str]) -> None:
    by_id: dict[tuple[str, str, str], list[Rule]] = {}
    for r in rules:
        by_id.setdefault((r.pack, r.file, r.id), []).append(r)
    for (pack, file, rule_id), versions in by_id.items():
        where = f"pack {pack}, {file}, rule {rule_id}"
        seen: set[int] = set()
        for r in versions:
            if r.version in seen:
                problems.append(f"{where}: version {r.version} is defined twice")
            seen.add(r.version)
        for market, program in itertools.product(MARKETS, PROGRAMS):
            scoped = sorted(
                (r for r in versions if market in r.markets and program in r.programs),
                key=lambda r: r.effective_from,
            )
            for a, b in itertools.pairwise(scoped):
                if a.effective_to is None or a.effective_to > b.effective_from:
                    problems.append(
                        f"{where} ({market}/{program}): versions {a.version} and {b.version} overlap "
                        f"({a.effective_from}..{a.effective_to or 'open'} vs from {b.effective_from})"
                    )
                elif a.effective_to < b.effective_from:
                    problems.append(
                        f"{where} ({market}/{program}): gap between version {a.version} (ends "
                        f"{a.effective_to}) and version {b.version} (starts {b.effective_from})"
                    )
                if b.version <= a.version:
                    problems.append(
                        f"{where}: version {b.version} starts after version {a.version} "
                        "but has a lower number"
                    )


def _scopes_overlap(a: PolicyRule, b: PolicyRule) -> bool:
    if a.meta.pack != b.meta.pack:
        return False
    if not (
        set(a.meta.markets) & set(b.meta.markets)
        and set(a.meta.programs) & set(b.meta.programs)
        and set(a.case_kinds) & set(b.case_kinds)
    ):
        return False
    a_to, b_to = a.meta.effective_to, b.meta.effective_to
    return (a_to is None or b.meta.effective_from < a_to) and (b_to is None or a.meta.effective_from < b_to)


def _covers(a: PolicyRule, b: PolicyRule) -> bool:
    """a is in force wherever b is (markets, programs, kinds and dates)."""
    return (
        set(b.meta.markets) <= set(a.meta.markets)
        and set(b.meta.programs) <= set(a.meta.programs)
        and set(b.case_kinds) <= set(a.case_kinds)
        and a.meta.effective_from <= b.meta.effective_from
        and (
            a.meta.effective_to is None
            or (b.meta.effective_to is not None and b.meta.effective_to <= a.meta.effective_to)
        )
    )


def _decides(r: PolicyRule) -> bool:
    return r.decision is not None


def _check_overlaps(rules: list[PolicyRule], problems: list[str]) -> None:
    deciding = [r for r in rules if _decides(r)]
    terms = {r.key: conjuncts(r.when) for r in deciding}
    for a, b in itertools.combinations(deciding, 2):
        if not _scopes_overlap(a, b):
            continue
        outcome_a = (a.decision, a.liable_party, a.remedy)
        outcome_b = (b.decision, b.liable_party, b.remedy)
        if a.priority == b.priority and outcome_a != outcome_b and not _disjoint(terms[a.key], terms[b.key]):
            problems.append(
                f"pack {a.meta.pack}: rules {a.meta.id} and {b.meta.id} may both decide a case at "
                f"priority {a.priority} with different outcomes ({'/'.join(map(str, outcome_a))} vs "
                f"{'/'.join(map(str, outcome_b))}); give them distinct priorities or disjoint conditions"
            )
        first, second = (a, b) if a.priority <= b.priority else (b, a)
        if (
            first.priority < second.priority
            and _covers(first, second)
            and terms[first.key] <= terms[second.key]
            and not first.evidence
        ):
            problems.append(
                f"pack {a.meta.pack}: rule {second.meta.id} is shadowed by {first.meta.id} (its condition "
                f"implies {first.meta.id}'s, which decides first at priority {first.priority})"
            )


_EQUALS_LITERAL = re.compile(r"^([a-z_]+) = ('[^']*')$")


def _disjoint(ta: set[str], tb: set[str]) -> bool:
    """Cheap proof that two conditions (their top-level AND terms) cannot both hold: one says
    `x = v`, the other `x = w` or `NOT x`."""
    values_a = {m.group(1): m.group(2) for t in ta if (m := _EQUALS_LITERAL.match(t))}
    values_b = {m.group(1): m.group(2) for t in tb if (m := _EQUALS_LITERAL.match(t))}
    if any(k in values_b and values_b[k] != v for k, v in values_a.items()):
        return True
    return any(f"NOT {t}" in tb for t in ta) or any(f"NOT {t}" in ta for t in tb)


def lint_rules(
    rules_dir: Path | str | None = None,
    published_db: Path | str | None = None,
    *,
    compare_published: bool = True,
) -> LintReport:
    """Lint a rules directory; the report lists every problem found (empty when the packs are fine).

    Rule versions are compared with the fingerprints last published in `published_db`'s
    `rule_catalog` (default: the settings' warehouse, if it exists); `compare_published=False`
    skips that comparison (a folder checked on its own).
    """
    problems: list[str] = []
    try:
        book = load_rulebook(rules_dir)
    except RulePackError as exc:
        book = None
        first_error = str(exc)
    root = Path(rules_dir) if rules_dir else None
    if book is not None:
        root = book.path
    if root is None or not root.is_dir():
        return LintReport([f"rules directory {rules_dir} does not exist"], 0, 0, 0)
    sources_doc = _read(root / "sources.yaml", problems) if (root / "sources.yaml").exists() else None
    sources = sources_doc.get("sources") if isinstance(sources_doc, dict) else None
    if not isinstance(sources, dict):
        # Without the registry every rule's source is "unknown": one problem says it, not one per rule.
        if not problems:
            problems.append(f"{root / 'sources.yaml'}: missing or has no 'sources' mapping")
        return LintReport(problems, 0, 0, 0)
    _check_sources(sources, problems)

    all_rules: list[Rule] = []
    folders = [d for d in sorted(root.iterdir()) if (d / "pack.yaml").exists()]
    if not folders:
        problems.append(f"rules directory {root} holds no pack (no */pack.yaml)")
    for folder in folders:
        all_rules += parse_pack_rules(folder, sources, problems)[1]
    _check_metadata(all_rules, sources, problems)
    _check_source_scope(all_rules, sources, problems)
    _check_versions(all_rules, problems)
    if compare_published:
        warehouse = Path(published_db) if published_db is not None else default_published_db()
        if warehouse is not None:
            if warehouse.is_file():
                _check_published(all_rules, warehouse, problems)
            else:
                problems.append(
                    f"warehouse {warehouse} does not exist (no published rule catalogue to compare)"
                )

    policy_rules: list[PolicyRule] = []
    for r in all_rules:
        if r.file != POLICY_FILE:
            continue
        try:
            policy_rules.append(parse_policy_rule(r, len(policy_rules)))
        except PolicyPackError as exc:
            problems.append(str(exc))
    type_problems = bind_problems(policy_rules)
    problems += type_problems
    bad = {p.split(":", 1)[0] for p in type_problems}
    _check_overlaps([r for r in policy_rules if r.label not in bad], problems)

    if book is None:
        if not problems:
            problems.append(first_error.splitlines()[0])
    else:
        for pack in book.packs:
            _check_pack_settings(pack, problems)
        try:
            load_scenarios(book)
        except RulePackError as exc:
            problems.append(str(exc))
    return LintReport(problems, len(folders), len(all_rules), len(policy_rules))


def _check_pack_settings(pack: RulePack, problems: list[str]) -> None:
    try:
        _pack_settings(pack)
    except PolicyPackError as exc:
        problems.append(str(exc))
    for key in ("reason_classes", "cancel_reason_classes"):
        value = pack.settings.get(key)
        if value is not None and (
            not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values())
        ):
            problems.append(f"pack {pack.id}, pack.yaml: {key} must map a class to a list of codes")
