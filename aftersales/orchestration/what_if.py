"""What-if replay: re-score stored cases under candidate rule packs, beside the published results.

A replay never touches what the nightly published. It
  1. copies the dates' stored case features (`case_features`, written by the policy stage) and
     their published rulings from the warehouse into a private replay database,
  2. re-scores those cases with the policy engine under the candidate rules, date by date
     (the rule versions in force depend on the date),
  3. compares old and new rulings case by case (`replay_diff`),
  4. publishes `replay_rulings`, `replay_diff` and one `replay_runs` row into the warehouse with
     the nightly's atomic snapshot swap (same publish lock, same all-or-nothing guarantee).

What the printout says beside the figures lives apart: the rule versions the candidate changes
and the dates and currencies compared (`what_if_context`), and the agreement with the
platform's real decisions before and after (`what_if_agreement`).

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
from aftersales.lakehouse.connect import open_warehouse
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.lakehouse.side_tables import attach_published, private_folder, side_write
from aftersales.policy import rescore_case_features
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
    return private_folder(warehouse) / replay_id / "replay.duckdb"


def discard_replay_db(replay_db: Path) -> None:
    shutil.rmtree(Path(replay_db).parent, ignore_errors=True)


def snapshot_cases(warehouse: Path, replay_db: Path, first: date, last: date) -> dict[date, int]:
    """Copy the dates' stored case features and published rulings into the private replay database.

    Returns cases per date. The warehouse is only read (read-only attach), so a nightly publish
    running meanwhile is neither blocked nor seen half-done.
    """
    if not WarehouseLocation.parse(warehouse).exists:
        raise ReplayError(f"warehouse {warehouse} does not exist")
    replay_db = Path(replay_db)
    replay_db.parent.mkdir(parents=True, exist_ok=True)
    con = database.connect(replay_db)
    try:
        create_result_tables(con)
        attach_published(con, warehouse, "wh")
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
    location = WarehouseLocation.parse(warehouse)
    if not location.exists:
        raise ReplayError(f"warehouse {warehouse} does not exist")
    if not location.is_lake and not Path(location.catalog).is_file():
        raise ReplayError(f"warehouse {warehouse} is not a file")
    try:
        con = open_warehouse(location)
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


def rescore_cases(replay_db: Path, batch_date: date, replay_id: str, rules_dir: Path):
    """Re-score the stored case features of one date under `rules_dir` (the policy engine's seam).

    `aftersales.policy.rescore_case_features(work_db, batch_date, run_id, rules_dir)` reads
    `case_features` of `batch_date` from `work_db`, judges those cases under `rules_dir` exactly
    as the nightly scoring does after case assembly, and replaces that date's rows of `rulings`,
    `rule_hits` and `evidence_gaps` in `work_db` (never `case_features`).
    """
    return rescore_case_features(replay_db, batch_date, replay_id, rules_dir)


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
        with side_write(con, replay_db, "replay", REPLAY_DDL.values()) as catalog:
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

    publish_batch(
        replay_db, warehouse, first, [], after_swap_in=write_replay, tables=(), run_id=run_row["replay_id"]
    )


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
    con = open_warehouse(warehouse)
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
    con = open_warehouse(warehouse)
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
