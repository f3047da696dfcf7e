"""What-if replay: re-score stored cases under candidate rule packs, beside the published results.

A replay never touches what the nightly published. It
  1. copies the dates' stored case features (`case_features`, written by the policy stage) and
     their published rulings from the warehouse into a private replay database,
  2. re-scores those cases with the policy engine under the candidate rules, date by date
     (the rule versions in force depend on the date),
  3. compares old and new rulings case by case (`replay_diff`),
  4. publishes `replay_rulings`, `replay_diff` and one `replay_runs` row into the warehouse with
     the nightly's atomic snapshot swap (same publish lock, same all-or-nothing guarantee).

Replays of the same candidate (same policy_version) over the same dates replace each other;
different candidates sit side by side, told apart by `replay_id` and `policy_version`.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from aftersales import database
from aftersales.publish import publish_batch
from aftersales.publish.swap import insert_common_columns
from aftersales.vocabulary import MARKET_CURRENCY
from aftersales.warehouse_schema import create_result_tables

REPLAY_DDL: dict[str, str] = {
    "replay_runs": """
        CREATE TABLE IF NOT EXISTS replay_runs (
            replay_id VARCHAR PRIMARY KEY,
            candidate_rules VARCHAR NOT NULL,     -- the rules folder that was tried
            policy_version VARCHAR NOT NULL,      -- candidate policy_version
            rule_pack_versions JSON,
            date_from DATE NOT NULL,
            date_to DATE NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            cases BIGINT NOT NULL,
            decisions_changed BIGINT NOT NULL,
            rulings_changed BIGINT NOT NULL,      -- decision, liable party, remedy or refund differ
            flow_run_id VARCHAR
        )""",
    "replay_rulings": """
        CREATE TABLE IF NOT EXISTS replay_rulings (
            replay_id VARCHAR NOT NULL,
            batch_date DATE NOT NULL,
            source_run_id VARCHAR,                -- published run whose case features were re-scored
            case_id VARCHAR NOT NULL,
            case_kind VARCHAR NOT NULL,
            shop_id VARCHAR NOT NULL,
            order_id VARCHAR,
            market VARCHAR NOT NULL,
            decision VARCHAR NOT NULL,
            liable_party VARCHAR NOT NULL,
            remedy VARCHAR NOT NULL,
            score DOUBLE,
            confidence DOUBLE,
            policy_version VARCHAR NOT NULL,      -- candidate policy_version
            rule_ids VARCHAR[],
            explanation_en VARCHAR,
            explanation_zh VARCHAR,
            program VARCHAR,
            pack_id VARCHAR,
            refund_amount_recommended DECIMAL(18, 2)
        )""",
    "replay_diff": """
        CREATE TABLE IF NOT EXISTS replay_diff (
            replay_id VARCHAR NOT NULL,
            batch_date DATE NOT NULL,
            case_id VARCHAR NOT NULL,
            case_kind VARCHAR NOT NULL,
            shop_id VARCHAR,
            market VARCHAR,
            old_decision VARCHAR,                 -- NULL: no published ruling for the case
            new_decision VARCHAR,                 -- NULL: the candidate produced no ruling
            old_liable_party VARCHAR,
            new_liable_party VARCHAR,
            old_remedy VARCHAR,
            new_remedy VARCHAR,
            old_score DOUBLE,
            new_score DOUBLE,
            old_refund_amount DECIMAL(18, 2),
            new_refund_amount DECIMAL(18, 2),
            old_rule_ids VARCHAR[],
            new_rule_ids VARCHAR[],
            old_policy_version VARCHAR,
            new_policy_version VARCHAR,
            decision_changed BOOLEAN NOT NULL,
            changed BOOLEAN NOT NULL              -- decision, liable party, remedy or refund differ
        )""",
}
REPLAY_TABLES = tuple(REPLAY_DDL)
NO_RULING = "(none)"


class ReplayError(RuntimeError):
    """The replay cannot run (no warehouse, no stored case features for the dates)."""


@dataclass(frozen=True)
class ReplaySummary:
    replay_id: str
    candidate_rules: str
    policy_version: str
    date_from: str
    date_to: str
    cases: int
    decisions_changed: int
    rulings_changed: int
    cases_per_date: dict[str, int] = field(default_factory=dict)
    warehouse: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def new_replay_id() -> str:
    return f"replay-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def replay_db_path(warehouse: Path, replay_id: str) -> Path:
    """The replay's private database, beside the nightly runs' work databases."""
    return Path(warehouse).resolve().parent / ".work" / replay_id / "replay.duckdb"


def discard_replay_db(replay_db: Path) -> None:
    shutil.rmtree(Path(replay_db).parent, ignore_errors=True)


def snapshot_cases(warehouse: Path, replay_db: Path, first: date, last: date) -> dict[date, int]:
    """Copy the dates' stored case features and published rulings into the private replay database.

    Returns cases per date. The warehouse is only read (read-only attach), so a nightly publish
    running meanwhile is neither blocked nor seen half-done.
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise ReplayError(f"warehouse {warehouse} does not exist")
    replay_db = Path(replay_db)
    replay_db.parent.mkdir(parents=True, exist_ok=True)
    con = database.connect(replay_db)
    try:
        create_result_tables(con)
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        wh_tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'wh'"
            ).fetchall()
        }
        if "case_features" not in wh_tables:
            raise ReplayError(f"warehouse {warehouse} has no case_features table (no batch scored yet)")
        between = "WHERE batch_date BETWEEN ? AND ?"
        insert_common_columns(con, f"{catalog}.case_features", "wh.case_features", between, [first, last])
        con.execute(f"CREATE TABLE published_rulings AS SELECT * FROM wh.rulings {between}", [first, last])
        con.execute("DETACH wh")
        counts = con.execute(
            "SELECT batch_date, count(*) FROM case_features GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return {day: n for day, n in counts}


def stored_case_counts(warehouse: Path, first: date, last: date) -> dict[date, int]:
    """Stored cases per batch date of [first, last], read-only: the replay's cheap pre-check.

    ReplayError when the warehouse cannot be read or holds no case features yet, so a replay
    that has nothing to re-score is refused before its flow starts.
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise ReplayError(f"warehouse {warehouse} does not exist")
    if not warehouse.is_file():
        raise ReplayError(f"warehouse {warehouse} is not a file")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ReplayError(f"warehouse {warehouse} cannot be opened: {' '.join(str(exc).split())}") from None
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "case_features" not in tables:
            raise ReplayError(f"warehouse {warehouse} has no case_features table (no batch scored yet)")
        counts = con.execute(
            "SELECT batch_date, count(*) FROM case_features WHERE batch_date BETWEEN ? AND ? GROUP BY 1",
            [first, last],
        ).fetchall()
    finally:
        con.close()
    return {day: n for day, n in counts}


RESCORE_FUNCTION = "rescore_case_features"


def policy_rescorer():
    """The policy engine's re-scoring entry point, or a ReplayError saying it is missing."""
    import aftersales.policy as policy

    fn = getattr(policy, RESCORE_FUNCTION, None)
    if fn is None:
        raise ReplayError(
            f"the policy engine cannot re-score stored cases yet (aftersales.policy.{RESCORE_FUNCTION} "
            "is missing)"
        )
    return fn


def rescore_cases(replay_db: Path, batch_date: date, replay_id: str, rules_dir: Path):
    """Re-score the stored case features of one date under `rules_dir` (the policy engine's seam).

    Contract of `aftersales.policy.rescore_case_features(work_db, batch_date, run_id, rules_dir)`:
    read `case_features` of `batch_date` from `work_db`, judge those cases under `rules_dir`
    exactly as the nightly scoring does after case assembly, and replace that date's rows of
    `rulings`, `rule_hits` and `evidence_gaps` in `work_db` (never `case_features`).
    """
    return policy_rescorer()(replay_db, batch_date, replay_id, rules_dir)


def build_diff(replay_db: Path, replay_id: str) -> None:
    """Compare published and candidate rulings case by case into `replay_diff`, in the replay database."""
    con = database.connect(replay_db)
    try:
        for ddl in REPLAY_DDL.values():
            con.execute(ddl)
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute("DELETE FROM replay_rulings")
        con.execute("DELETE FROM replay_diff")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE source_runs AS "
            "SELECT batch_date, case_id, case_kind, any_value(run_id) AS source_run_id FROM case_features GROUP BY ALL"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE new_rulings AS SELECT r.*, s.source_run_id FROM rulings r "
            "LEFT JOIN source_runs s USING (batch_date, case_id, case_kind)"
        )
        insert_common_columns(
            con, f"{catalog}.replay_rulings", "temp.new_rulings", extra={"replay_id": replay_id}
        )
        con.execute(
            """
            INSERT INTO replay_diff
            SELECT
                ? AS replay_id,
                coalesce(n.batch_date, o.batch_date),
                coalesce(n.case_id, o.case_id),
                coalesce(n.case_kind, o.case_kind),
                coalesce(n.shop_id, o.shop_id),
                coalesce(n.market, o.market),
                o.decision, n.decision,
                o.liable_party, n.liable_party,
                o.remedy, n.remedy,
                o.score, n.score,
                o.refund_amount_recommended, n.refund_amount_recommended,
                o.rule_ids, n.rule_ids,
                o.policy_version, n.policy_version,
                o.decision IS DISTINCT FROM n.decision,
                o.decision IS DISTINCT FROM n.decision
                    OR o.liable_party IS DISTINCT FROM n.liable_party
                    OR o.remedy IS DISTINCT FROM n.remedy
                    OR o.refund_amount_recommended IS DISTINCT FROM n.refund_amount_recommended
            FROM published_rulings o
            FULL OUTER JOIN rulings n
                ON o.batch_date = n.batch_date AND o.case_id = n.case_id AND o.case_kind = n.case_kind
            """,
            [replay_id],
        )
    finally:
        con.close()


def replay_facts(replay_db: Path, replay_id: str) -> dict:
    con = database.connect(replay_db, read_only=True)
    try:
        cases, decisions, rulings = con.execute(
            "SELECT count(*), count(*) FILTER (decision_changed), count(*) FILTER (changed) "
            "FROM replay_diff WHERE replay_id = ?",
            [replay_id],
        ).fetchone()
    finally:
        con.close()
    return {"cases": cases, "decisions_changed": decisions, "rulings_changed": rulings}


def publish_replay(
    replay_db: Path,
    warehouse: Path,
    run_row: dict,
) -> None:
    """Swap the replay's tables into the warehouse atomically; published nightly tables stay as they are.

    Uses the nightly publish (publish lock, copy, one swap) with no batch table and no `runs`
    row: the replay rows are written in the copy before it is swapped in.
    """
    replay_db = Path(replay_db).resolve()
    first, last = date.fromisoformat(run_row["date_from"]), date.fromisoformat(run_row["date_to"])

    def write_replay(con: duckdb.DuckDBPyConnection) -> None:
        for ddl in REPLAY_DDL.values():
            con.execute(ddl)
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH '{replay_db}' AS replay (READ_ONLY)")
        try:
            con.execute("BEGIN TRANSACTION")
            for table in ("replay_rulings", "replay_diff"):
                column = "policy_version" if table == "replay_rulings" else "new_policy_version"
                con.execute(
                    f"DELETE FROM {table} WHERE {column} = ? AND batch_date BETWEEN ? AND ?",
                    [run_row["policy_version"], first, last],
                )
                insert_common_columns(con, f"{catalog}.{table}", f"replay.{table}")
            cols = list(run_row)
            con.execute(
                f"INSERT INTO replay_runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [run_row[c] for c in cols],
            )
            # A replay whose rows were all replaced by a later one describes nothing any more.
            con.execute(
                "DELETE FROM replay_runs WHERE replay_id <> ? AND replay_id NOT IN "
                "(SELECT DISTINCT replay_id FROM replay_diff)",
                [run_row["replay_id"]],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute("DETACH replay")

    publish_batch(replay_db, Path(warehouse), first, [], after_swap_in=write_replay, tables=())


def replay_run_row(
    replay_id: str,
    candidate_rules: Path,
    book,
    first: date,
    last: date,
    started_at: datetime,
    facts: dict,
    flow_run_id: str | None,
) -> dict:
    return {
        "replay_id": replay_id,
        "candidate_rules": str(candidate_rules),
        "policy_version": book.policy_version,
        "rule_pack_versions": json.dumps({p.id: p.version for p in book.packs}),
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "cases": facts["cases"],
        "decisions_changed": facts["decisions_changed"],
        "rulings_changed": facts["rulings_changed"],
        "flow_run_id": flow_run_id,
    }


def shift_matrix(warehouse: Path, replay_id: str) -> list[tuple[str, str, int]]:
    """(old decision, new decision, cases) of one replay, read from the warehouse."""
    con = database.connect(warehouse, read_only=True)
    try:
        return con.execute(
            "SELECT coalesce(old_decision, ?), coalesce(new_decision, ?), count(*) FROM replay_diff "
            "WHERE replay_id = ? GROUP BY ALL ORDER BY ALL",
            [NO_RULING, NO_RULING, replay_id],
        ).fetchall()
    finally:
        con.close()


def changed_cases(warehouse: Path, replay_id: str, limit: int | None = None) -> list[dict]:
    """The cases whose ruling changed (decision first), read from the warehouse."""
    con = database.connect(warehouse, read_only=True)
    try:
        rel = con.execute(
            "SELECT batch_date, case_id, case_kind, shop_id, market, old_decision, new_decision, "
            "old_remedy, new_remedy, old_liable_party, new_liable_party, old_refund_amount, "
            "new_refund_amount, old_rule_ids, new_rule_ids FROM replay_diff "
            "WHERE replay_id = ? AND changed ORDER BY decision_changed DESC, batch_date, case_id"
            + (f" LIMIT {int(limit)}" if limit is not None else ""),
            [replay_id],
        )
        names = [d[0] for d in rel.description]
        rows = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()
    for row in rows:  # refund amounts are in the market's currency
        row["currency"] = MARKET_CURRENCY.get(row["market"])
    return rows


def format_matrix(cells: list[tuple[str, str, int]], vocabulary: tuple[str, ...]) -> str:
    """A cross-tab: one row per old decision, one column per new decision, totals on both sides."""
    seen = {c[0] for c in cells} | {c[1] for c in cells}
    order = [d for d in vocabulary if d in seen] + sorted(seen - set(vocabulary))
    counts = {(o, n): k for o, n, k in cells}
    width = max([len("old \\ new"), *(len(d) for d in order), len("total")]) + 2
    lines = ["old \\ new".ljust(width) + "".join(d.rjust(width) for d in order) + "total".rjust(width)]
    for old in order:
        row = [counts.get((old, new), 0) for new in order]
        if sum(row):
            lines.append(
                old.ljust(width) + "".join(str(v).rjust(width) for v in row) + str(sum(row)).rjust(width)
            )
    totals = [sum(counts.get((old, new), 0) for old in order) for new in order]
    lines.append(
        "total".ljust(width) + "".join(str(v).rjust(width) for v in totals) + str(sum(totals)).rjust(width)
    )
    return "\n".join(lines)


# ------------------------------------------------------------------ what the replay compared, in words


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

    con = database.connect(warehouse, read_only=True)
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
    con = database.connect(warehouse, read_only=True)
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


# ------------------------------------------------------------------ agreement with the platform, before/after


def stored_rules_calibration(warehouse: Path, first: date, last: date) -> dict | None:
    """The latest calibration of the stored rules that holds decided cases of [first, last], or None.

    "Stored rules": the policy version of the rulings published on those batch dates, so the
    figure it gives is the agreement of what the nightly recommended (judged point in time).
    """
    con = database.connect(warehouse, read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if not {"calibration_runs", "calibration_cases", "rulings"} <= tables:
            return None
        rel = con.execute(
            """
            SELECT c.calibration_id, c.policy_version, c.date_from, c.date_to, c.min_cases, c.reliability_bins
            FROM calibration_runs c
            WHERE c.date_from <= ? AND c.date_to >= ?
              AND c.policy_version IN (SELECT DISTINCT policy_version FROM rulings WHERE batch_date BETWEEN ? AND ?)
              AND EXISTS (SELECT 1 FROM calibration_cases k WHERE k.calibration_id = c.calibration_id
                          AND k.calibratable AND k.decision_local_date BETWEEN ? AND ?)
            ORDER BY c.finished_at DESC, c.calibration_id DESC LIMIT 1
            """,
            [last, first, first, last, first, last],
        )
        names = [d[0] for d in rel.description]
        row = rel.fetchone()
    finally:
        con.close()
    return dict(zip(names, row, strict=True)) if row else None


def replay_agreement(warehouse: Path, first: date, last: date, candidate_rules: Path) -> dict | None:
    """Agreement with the platform of the stored rules and of the candidate on the same decided cases.

    No second engine: the candidate is calibrated (`aftersales.calibration.rejudge.calibrate`, point in
    time, published beside the stored calibration) over the decisions of [first, last] that the
    stored-rules calibration covers, and the two are compared case by case
    (`calibration.drilldown.compare_calibrations`). None when no calibration of the stored rules
    covers decisions in the range. CalibrationError / RulePackError propagate.
    """
    from aftersales.calibration.drilldown import compare_calibrations
    from aftersales.calibration.rejudge import calibrate
    from aftersales.policy import validate_policy_packs

    stored = stored_rules_calibration(warehouse, first, last)
    if stored is None:
        return None
    lo, hi = max(first, stored["date_from"]), min(last, stored["date_to"])
    candidate_version = validate_policy_packs(candidate_rules).policy_version
    if candidate_version == stored["policy_version"]:
        candidate_id = stored["calibration_id"]  # the candidate is the stored policy: same rulings
    else:
        candidate_id = calibrate(
            warehouse,
            lo,
            hi,
            Path(candidate_rules),
            min_cases=stored["min_cases"],
            bins=stored["reliability_bins"],
        ).calibration_id
    compared = compare_calibrations(warehouse, stored["calibration_id"], candidate_id)
    if candidate_id == stored["calibration_id"]:  # restrict the self-comparison to the range too
        con = database.connect(warehouse, read_only=True)
        try:
            n, k = con.execute(
                "SELECT count(*), count(*) FILTER (agree) FROM calibration_cases WHERE calibration_id = ? "
                "AND calibratable AND decision_local_date BETWEEN ? AND ?",
                [candidate_id, lo, hi],
            ).fetchone()
        finally:
            con.close()
        from aftersales.calibration.agreement import wilson_interval

        rate, ci = (k / n if n else None), wilson_interval(k, n)
        compared |= {"cases": n, "agreement_before": rate, "agreement_before_ci": ci}
        compared |= {"agreement_after": rate, "agreement_after_ci": ci, "fixed": 0, "broken": 0}
    n = compared["cases"]
    return compared | {
        "stored_calibration_id": stored["calibration_id"],
        "candidate_calibration_id": candidate_id,
        "stored_policy_version": stored["policy_version"],
        "candidate_policy_version": candidate_version,
        "decisions_from": lo.isoformat(),
        "decisions_to": hi.isoformat(),
        "min_cases": stored["min_cases"],
        "agreeing_before": round(compared["agreement_before"] * n) if n else 0,
        "agreeing_after": round(compared["agreement_after"] * n) if n else 0,
    }


def format_replay_agreement(result: dict | None, first: date, last: date) -> str:
    """The before/after agreement lines of a replay printout (counts always; rates only from min_cases)."""
    if result is None:
        return (
            f"agreement with the platform: no calibration of the stored rules covers decisions in {first} .. "
            f"{last} (run `aftersales calibrate --from {first} --to {last}` first)"
        )
    n = result["cases"]

    def shown(k: int, rate, ci) -> str:
        if n < result["min_cases"]:
            return f"{k} of {n} agree (fewer than {result['min_cases']} cases: counts only)"
        return f"{k} of {n} agree, {rate:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"

    return "\n".join(
        [
            f"agreement with the platform on {n} decided cases (decisions {result['decisions_from']} .. "
            f"{result['decisions_to']}, judged as they stood before each decision):",
            f"  stored rules {result['stored_policy_version']}: "
            + shown(result["agreeing_before"], result["agreement_before"], result["agreement_before_ci"]),
            f"  candidate    {result['candidate_policy_version']}: "
            + shown(result["agreeing_after"], result["agreement_after"], result["agreement_after_ci"]),
            f"  the candidate now agrees on {result['fixed']} case(s) and no longer on {result['broken']}"
            f" (calibrations {result['stored_calibration_id']} -> {result['candidate_calibration_id']})",
        ]
    )
