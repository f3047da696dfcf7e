"""Rule packs: policy as versioned data under `rules/`.

Layout (one folder per pack, each a YAML document set):

    rules/
      sources.yaml                 # source key -> citation, firmness, markets, platform (policy.md)
      <pack>/pack.yaml             # pack id, version, scope (markets, programs), thresholds
      <pack>/policy.yaml           # adjudication rules (owned by aftersales.policy)
      <pack>/sla.yaml              # SLA clocks (owned by aftersales.sla)
      <pack>/health.yaml           # seller-health thresholds (owned by aftersales.sla.health_rules)
      <pack>/scenarios/*.yaml      # scenario tests: case facts -> expected ruling

Every rule in every file carries the common metadata validated here: `id`, `version`
(positive int), `effective_from` (date), `effective_to` (date or null, exclusive), `clause_en`,
`clause_zh`, `source` (a key of sources.yaml) and `firmness` (S, 3P or I), plus
`firmness_reason` where the firmness is weaker than the source's because the source does not
cover the rule's markets (or is another platform's page). The body of a rule (condition, effect,
clock length, threshold...) is validated by the module that owns the file. Two versions of one
rule id may coexist as long as their effective periods do not overlap.

A rule version is immutable once published: `body_sha256` fingerprints everything that judges
(the body without its prose, plus markets, programs and firmness), so `rules lint` can refuse a change that keeps
the version number of a rule the warehouse's `rule_catalog` already holds with another body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aftersales.vocabulary import MARKETS, PROGRAMS

FIRMNESS = ("S", "3P", "I")
RULE_FILES = ("policy.yaml", "sla.yaml", "health.yaml")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C parser: packs are read every run
DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class RulePackError(ValueError):
    """A rule pack that must not be used; the message names the pack, file and rule."""


@dataclass(frozen=True)
class Rule:
    """One version of one rule, with its common metadata and the owning module's body."""

    id: str
    version: int
    effective_from: dt.date
    effective_to: dt.date | None
    clause_en: str
    clause_zh: str
    source: str
    firmness: str
    pack: str
    file: str
    markets: tuple[str, ...]
    programs: tuple[str, ...]
    body: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    firmness_reason: str = ""

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    @property
    def judging_body(self) -> dict[str, Any]:
        """What decides how this version judges: see `judging_body`."""
        return judging_body(self)

    @property
    def body_sha256(self) -> str:
        """Fingerprint of `judging_body`: equal fingerprints judge alike."""
        return body_fingerprint(self)


@dataclass(frozen=True)
class RulePack:
    id: str
    version: str
    markets: tuple[str, ...]
    programs: tuple[str, ...]
    settings: dict[str, Any]
    rules: tuple[Rule, ...]
    path: Path

    def rules_in(self, file: str) -> list[Rule]:
        return [r for r in self.rules if r.file == file]


@dataclass(frozen=True)
class RuleBook:
    """All packs loaded from one rules directory, plus the source registry."""

    packs: tuple[RulePack, ...]
    sources: dict[str, dict[str, Any]]
    path: Path

    @property
    def policy_version(self) -> str:
        """A short, stable label of exactly which pack contents judged a batch."""
        digest = hashlib.sha256()
        for f in sorted(self.path.rglob("*.yaml")):
            digest.update(str(f.relative_to(self.path)).encode())
            digest.update(f.read_bytes())
        versions = "+".join(f"{p.id}@{p.version}" for p in self.packs)
        return f"{versions}#{digest.hexdigest()[:10]}"

    def pack_for(self, market: str, program: str) -> RulePack | None:
        for pack in self.packs:
            if market in pack.markets and program in pack.programs:
                return pack
        return None

    def all_rules(self, file: str | None = None) -> list[Rule]:
        return [r for p in self.packs for r in p.rules if file is None or r.file == file]


def _as_date(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise RulePackError(f"{where}: '{value}' is not an ISO date (YYYY-MM-DD)") from exc


def read_yaml(path: Path) -> Any:
    """One YAML file of a rules directory; RulePackError (naming the file) when it cannot be read."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise RulePackError(f"{path}: cannot be read as YAML: {exc}") from exc


COMMON_KEYS = {
    "firmness_reason",
    "id",
    "version",
    "effective_from",
    "effective_to",
    "clause_en",
    "clause_zh",
    "source",
    "firmness",
    "markets",
    "programs",
}


def parse_rule(raw: Any, *, pack: str, file: str, sources: dict, pack_markets, pack_programs) -> Rule:
    where = f"pack {pack}, {file}"
    if not isinstance(raw, dict):
        raise RulePackError(f"{where}: every rule must be a mapping, got {type(raw).__name__}")
    rule_id = raw.get("id")
    if not rule_id or not isinstance(rule_id, str):
        raise RulePackError(f"{where}: a rule has no 'id'")
    where = f"{where}, rule {rule_id}"
    missing = [
        k
        for k in ("version", "effective_from", "clause_en", "clause_zh", "source", "firmness")
        if raw.get(k) in (None, "")
    ]
    if missing:
        raise RulePackError(f"{where}: missing {', '.join(missing)}")
    version = raw["version"]
    if not isinstance(version, int) or version < 1:
        raise RulePackError(f"{where}: version must be a positive integer, got {version!r}")
    if raw["source"] not in sources:
        raise RulePackError(f"{where}: unknown source key '{raw['source']}' (add it to rules/sources.yaml)")
    if raw["firmness"] not in FIRMNESS:
        raise RulePackError(f"{where}: firmness must be one of {FIRMNESS}, got {raw['firmness']!r}")
    eff_from = _as_date(raw["effective_from"], where)
    eff_to = _as_date(raw.get("effective_to"), where)
    if eff_to is not None and eff_to <= eff_from:
        raise RulePackError(f"{where}: effective_to {eff_to} is not after effective_from {eff_from}")
    markets = tuple(raw.get("markets") or pack_markets)
    programs = tuple(raw.get("programs") or pack_programs)
    bad = [m for m in markets if m not in pack_markets]
    if bad:
        raise RulePackError(f"{where}: markets {bad} are outside the pack's scope {list(pack_markets)}")
    bad = [p for p in programs if p not in pack_programs]
    if bad:
        raise RulePackError(f"{where}: programs {bad} are outside the pack's scope {list(pack_programs)}")
    return Rule(
        id=rule_id,
        version=version,
        effective_from=eff_from,
        effective_to=eff_to,
        clause_en=str(raw["clause_en"]).strip(),
        clause_zh=str(raw["clause_zh"]).strip(),
        source=raw["source"],
        firmness=raw["firmness"],
        pack=pack,
        file=file,
        markets=markets,
        programs=programs,
        body={k: v for k, v in raw.items() if k not in COMMON_KEYS},
        firmness_reason=str(raw.get("firmness_reason") or "").strip(),
    )


# Body keys that only word a rule for people (the hit's reason template, an author's note): editing
# them changes no ruling, so it needs no new version.
PROSE_KEYS = frozenset({"reason", "note"})
_QUOTED = re.compile(r"('(?:[^']|'')*')")


def _normalise_sql(text: str) -> str:
    """A condition with its layout removed (runs of blanks outside quoted literals become one)."""
    parts = _QUOTED.split(text)
    return "".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(parts)).strip()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def judging_body(rule: Rule) -> dict[str, Any]:
    """Everything of a rule version that can change a ruling, clock or health status.

    The owning module's body without prose (clauses, reason templates, notes), plus the scope
    (markets, programs) and the firmness (it weights a ruling's confidence). Left out: the clauses,
    the source key (a citation, checked separately) and the effective period (closing a version
    with `effective_to` when its successor starts is how versions are meant to be added).
    """
    body = {k: v for k, v in rule.body.items() if k not in PROSE_KEYS}
    if isinstance(body.get("when"), str):
        body["when"] = _normalise_sql(body["when"])
    return _canonical(
        {
            "body": body,
            "markets": sorted(rule.markets),
            "programs": sorted(rule.programs),
            "firmness": rule.firmness,
        }
    )


def body_fingerprint(rule: Rule) -> str:
    """sha256 of the canonical JSON of `judging_body` (keys sorted, no layout)."""
    text = json.dumps(judging_body(rule), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_version_periods(rules: list[Rule]) -> None:
    """Two versions of one rule id (in one pack and market) must not be in force on the same day."""
    by_key: dict[tuple, list[Rule]] = {}
    for r in rules:
        for m in r.markets:
            for p in r.programs:
                by_key.setdefault((r.pack, r.id, m, p), []).append(r)
    for (pack, rule_id, market, program), versions in by_key.items():
        versions.sort(key=lambda r: r.effective_from)
        seen = set()
        for r in versions:
            if r.version in seen:
                raise RulePackError(f"pack {pack}, rule {rule_id}: version {r.version} is defined twice")
            seen.add(r.version)
        for a, b in zip(versions, versions[1:], strict=False):
            if a.effective_to is None or a.effective_to > b.effective_from:
                raise RulePackError(
                    f"pack {pack}, rule {rule_id} ({market}/{program}): versions {a.version} and "
                    f"{b.version} overlap ({a.effective_from}..{a.effective_to or 'open'} vs from "
                    f"{b.effective_from})"
                )


def parse_pack_rules(
    path: Path, sources: dict, problems: list[str] | None = None
) -> tuple[dict | None, list[Rule]]:
    """A pack's metadata and rules. Raises RulePackError at the first problem, or, given a
    `problems` list (rules lint), records every problem there and goes on with what parses."""

    def fail(message: str) -> None:
        if problems is None:
            raise RulePackError(message)
        problems.append(message)

    def read(file: Path):
        try:
            return read_yaml(file)
        except RulePackError as exc:
            fail(str(exc).splitlines()[0])
            return None

    meta = read(path / "pack.yaml")
    if not isinstance(meta, dict) or not meta.get("id"):
        fail(f"{path / 'pack.yaml'}: needs at least 'id', 'version', 'markets', 'programs'")
        return None, []
    pack_id = meta["id"]
    markets = tuple(meta.get("markets") or ())
    programs = tuple(meta.get("programs") or ())
    if not markets or any(m not in MARKETS for m in markets):
        fail(f"pack {pack_id}: markets must be a non-empty subset of {MARKETS}")
        return meta, []
    if not programs or any(p not in PROGRAMS for p in programs):
        fail(f"pack {pack_id}: programs must be a non-empty subset of {PROGRAMS}")
        return meta, []
    rules: list[Rule] = []
    for file in RULE_FILES:
        f = path / file
        if not f.exists():
            continue
        doc = read(f) or {}
        if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
            fail(f"pack {pack_id}, {file}: expected a mapping with a 'rules' list")
            continue
        for raw in doc.get("rules") or []:
            try:
                rules.append(
                    parse_rule(
                        raw,
                        pack=pack_id,
                        file=file,
                        sources=sources,
                        pack_markets=markets,
                        pack_programs=programs,
                    )
                )
            except RulePackError as exc:
                fail(str(exc))
    return meta, rules


def load_pack(path: Path, sources: dict) -> RulePack:
    meta, rules = parse_pack_rules(path, sources)
    pack_id = meta["id"]
    markets = tuple(meta["markets"])
    programs = tuple(meta["programs"])
    check_version_periods(rules)
    settings = {k: v for k, v in meta.items() if k not in ("id", "version", "markets", "programs")}
    return RulePack(
        id=pack_id,
        version=str(meta.get("version", "0")),
        markets=markets,
        programs=programs,
        settings=settings,
        rules=tuple(rules),
        path=path,
    )


def load_rulebook(rules_dir: Path | str | None = None) -> RuleBook:
    """Load and validate every pack; raises RulePackError naming the first problem."""
    root = Path(rules_dir) if rules_dir else DEFAULT_RULES_DIR
    if not root.is_dir():
        raise RulePackError(f"rules directory {root} does not exist")
    sources_doc = read_yaml(root / "sources.yaml") if (root / "sources.yaml").exists() else None
    if not isinstance(sources_doc, dict) or not isinstance(sources_doc.get("sources"), dict):
        raise RulePackError(f"{root / 'sources.yaml'}: missing or has no 'sources' mapping")
    sources = sources_doc["sources"]
    packs = tuple(load_pack(d, sources) for d in sorted(root.iterdir()) if (d / "pack.yaml").exists())
    if not packs:
        raise RulePackError(f"rules directory {root} holds no pack (no */pack.yaml)")
    seen: dict[tuple[str, str], str] = {}
    for p in packs:
        for m in p.markets:
            for prog in p.programs:
                if (m, prog) in seen:
                    raise RulePackError(f"packs {seen[(m, prog)]} and {p.id} both cover {m}/{prog}")
                seen[(m, prog)] = p.id
    return RuleBook(packs=packs, sources=sources, path=root)
