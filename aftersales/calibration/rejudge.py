"""`aftersales calibrate`: judge decided cases as they stood before the decision, compare, publish.

1. validate the packs and refuse any rule that reads a platform outcome column;
2. copy each decided case's stored features of the last batch date before the decision, cut at
   that batch's cut-off (`point_in_time`), into a private database beside the warehouse; with an
   inbox, cases never stored before their decision are rebuilt from its exports by the nightly's
   ingest + score as of the batch before the decision and cut the same way (`rebuild`);
3. re-judge them with the replay's seam (`replay.rescore_cases`), in one pass: the rule versions
   in force, cut-offs and deadlines come from each case's own dates, exactly as the nightly;
4. write `calibration_cases` and `calibration_summary` (`agreement`), then swap them with one
   `calibration_runs` row into the warehouse through the nightly's publish (publish lock, copy,
   atomic replace). Published nightly tables are never touched.

A calibration over the same dates under the same policy_version replaces the earlier one.
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
from aftersales.calibration.agreement import SUMMARY_DDL, build_summary
from aftersales.calibration.drift import agreement_warnings
from aftersales.calibration.outcomes import refuse_outcome_rules
from aftersales.calibration.point_in_time import snapshot_point_in_time
from aftersales.calibration.rebuild import rebuild_missing_features
from aftersales.lakehouse.connect import open_warehouse
from aftersales.lakehouse.side_tables import private_folder, side_write
from aftersales.orchestration.what_if import rescore_cases
from aftersales.policy import validate_policy_packs
from aftersales.publish import publish_batch
from aftersales.publish.swap import insert_common_columns

CALIBRATION_DDL: dict[str, str] = {
    "calibration_runs": """
        CREATE TABLE IF NOT EXISTS calibration_runs (
            calibration_id VARCHAR PRIMARY KEY,
            rules_dir VARCHAR NOT NULL,
            policy_version VARCHAR NOT NULL,
            rule_pack_versions JSON,
            date_from DATE NOT NULL,               -- decisions (shop-local date) from
            date_to DATE NOT NULL,                 -- ... to, included
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            decided_cases BIGINT NOT NULL,         -- the platform decided them in the period
            calibrated_cases BIGINT NOT NULL,      -- judged from features before the decision (stored or rebuilt)
            agreeing_cases BIGINT NOT NULL,
            min_cases INTEGER NOT NULL,            -- groups below this size show counts, not rates
            reliability_bins INTEGER NOT NULL,
            not_calibratable JSON                  -- reason -> cases
        )""",
    "calibration_cases": """
        CREATE TABLE IF NOT EXISTS calibration_cases (
            calibration_id VARCHAR NOT NULL,
            case_id VARCHAR NOT NULL,
            case_kind VARCHAR NOT NULL,
            shop_id VARCHAR,
            market VARCHAR,
            program VARCHAR,
            request_type VARCHAR,
            platform_outcome VARCHAR,              -- the export's status text
            platform_decision VARCHAR NOT NULL,    -- mapped onto the decision vocabulary
            decision_time TIMESTAMPTZ,             -- NULL for appeals (the export has none)
            decision_local_date DATE,              -- appeals: the submission's local date
            cutoff_basis VARCHAR NOT NULL,         -- before_decision, appeal_submitted
            asof_batch_date DATE,                  -- stored batch the case was judged from
            asof_run_id VARCHAR,
            cutoff_time TIMESTAMPTZ,               -- nothing dated after it was used
            calibratable BOOLEAN NOT NULL,
            not_calibratable VARCHAR,              -- reason when not calibratable
            recommended_decision VARCHAR,
            confidence DOUBLE,
            decided_by VARCHAR,                    -- deciding rule id, 'score' or 'no_pack'
            pack_id VARCHAR,
            rule_ids VARCHAR[],
            policy_version VARCHAR,
            agree BOOLEAN,                         -- NULL when not calibratable
            features_from VARCHAR                  -- stored, rebuilt_from_exports (calibrate --inbox); NULL: none
        )""",
    "calibration_summary": SUMMARY_DDL,
}
CALIBRATION_TABLES = tuple(CALIBRATION_DDL)


class CalibrationError(RuntimeError):
    """The calibration cannot run (no warehouse, no stored case features)."""


@dataclass(frozen=True)
class CalibrationSummary:
    calibration_id: str
    policy_version: str
    date_from: str
    date_to: str
    decided_cases: int
    calibrated_cases: int
    agreeing_cases: int
    not_calibratable: dict[str, int] = field(default_factory=dict)
    cases_per_asof_date: dict[str, int] = field(default_factory=dict)
    # calibrate --inbox: cases rebuilt from the exports, per rebuilt batch date
    rebuilt_per_batch_date: dict[str, int] = field(default_factory=dict)
    agreement_warnings: list[dict] = field(default_factory=list)  # see calibration/drift.py
    warehouse: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def new_calibration_id() -> str:
    return f"calibration-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def private_db_path(warehouse: Path, calibration_id: str) -> Path:
    """The calibration's own work database, beside the nightly runs' work databases."""
    return private_folder(warehouse) / calibration_id / "calibration.duckdb"


def _check_warehouse(warehouse: Path) -> None:
    try:
        con = open_warehouse(warehouse)
    except FileNotFoundError:
        raise CalibrationError(f"warehouse {warehouse} does not exist") from None
    try:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
            ).fetchall()
        }
    finally:
        con.close()
    if "case_features" not in tables:
        raise CalibrationError(f"warehouse {warehouse} has no case_features table (no batch scored yet)")


def build_cases(private_db: Path, calibration_id: str, key_date: date) -> None:
    """`calibration_cases` in the private database: picked cases joined to their re-judged rulings."""
    con = database.connect(private_db)
    try:
        con.execute(CALIBRATION_DDL["calibration_cases"])
        con.execute("DELETE FROM calibration_cases")
        con.execute(
            """
            INSERT INTO calibration_cases
            SELECT ?, p.case_id, p.case_kind, p.shop_id, p.market, p.program, p.request_type,
                   p.platform_outcome, p.platform_decision, p.decision_time, p.decision_local_date,
                   p.cutoff_basis, p.asof_batch_date, p.asof_run_id, p.cutoff_time,
                   r.decision IS NOT NULL AS calibratable,
                   CASE WHEN r.decision IS NULL THEN coalesce(p.not_calibratable, 'not_judged') END,
                   r.decision, r.confidence, r.decided_by, r.pack_id, r.rule_ids, r.policy_version,
                   CASE WHEN r.decision IS NOT NULL THEN r.decision = p.platform_decision END,
                   p.features_from
            FROM calibration_pick p
            LEFT JOIN rulings r ON r.batch_date = ? AND r.case_id = p.case_id AND r.case_kind = p.case_kind
            """,
            [calibration_id, key_date],
        )
    finally:
        con.close()


def publish_calibration(private_db: Path, warehouse: Path, run_row: dict) -> None:
    """Publish the calibration's tables into the warehouse atomically (nightly publish, no batch table)."""
    private_db = Path(private_db).resolve()
    first = date.fromisoformat(run_row["date_from"])

    def write(con: duckdb.DuckDBPyConnection) -> None:
        with side_write(con, private_db, "cal", CALIBRATION_DDL.values()) as catalog:
            # A warehouse calibrated before `features_from` existed gains the column (NULL on old runs).
            con.execute("ALTER TABLE calibration_cases ADD COLUMN IF NOT EXISTS features_from VARCHAR")
            earlier = (
                "SELECT calibration_id FROM calibration_runs WHERE date_from = ? AND date_to = ? "
                "AND policy_version = ?"
            )
            key = [run_row["date_from"], run_row["date_to"], run_row["policy_version"]]
            for table in ("calibration_cases", "calibration_summary"):
                con.execute(f"DELETE FROM {table} WHERE calibration_id IN ({earlier})", key)
                insert_common_columns(con, f"{catalog}.{table}", f"cal.{table}")
            con.execute(f"DELETE FROM calibration_runs WHERE calibration_id IN ({earlier})", key)
            cols = list(run_row)
            con.execute(
                f"INSERT INTO calibration_runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                [run_row[c] for c in cols],
            )

    publish_batch(
        private_db, warehouse, first, [], after_swap_in=write, tables=(), run_id=run_row["calibration_id"]
    )


def calibrate(
    warehouse: Path,
    first: date,
    last: date,
    rules_dir: Path,
    *,
    min_cases: int,
    bins: int,
    calibration_id: str | None = None,
    keep_private_db: bool = False,
    inbox: Path | None = None,
    settings=None,
) -> CalibrationSummary:
    """Calibrate the rulings of `rules_dir` on cases the platform decided between `first` and `last`.

    With `inbox`, decided cases without stored features before their decision are rebuilt from its
    exports (`rebuild.rebuild_missing_features`: ingest + score as of the batch before the decision,
    cut the same way); `settings` are the ingest's (pseudonym key, DuckDB options) [load_settings()].
    """
    if last < first:
        raise CalibrationError(f"--to {last} is before --from {first}")
    if min_cases < 1 or bins < 1:
        raise CalibrationError("minimum group size and reliability bins must be at least 1")
    warehouse = Path(warehouse)
    _check_warehouse(warehouse)
    started = datetime.now(UTC)
    policy = validate_policy_packs(rules_dir)
    refuse_outcome_rules(policy)
    calibration_id = calibration_id or new_calibration_id()
    private_db = private_db_path(warehouse, calibration_id)
    shutil.rmtree(private_db.parent, ignore_errors=True)  # a fresh start: never stale rows
    try:
        per_date = snapshot_point_in_time(warehouse, private_db, first, last, key_date=last)
        rebuilt: dict[date, int] = {}
        if inbox is not None:
            rebuilt = rebuild_missing_features(private_db, Path(inbox), Path(rules_dir), last, settings)
            for day, n in rebuilt.items():
                if n:
                    per_date[day] = per_date.get(day, 0) + n
        if per_date:
            rescore_cases(private_db, last, calibration_id, Path(rules_dir))
        build_cases(private_db, calibration_id, key_date=last)
        con = database.connect(private_db)
        try:
            build_summary(con, calibration_id, min_cases, bins)
            decided, calibrated, agreeing = con.execute(
                "SELECT count(*), count(*) FILTER (calibratable), count(*) FILTER (agree) FROM calibration_cases"
            ).fetchone()
            reasons = dict(
                con.execute(
                    "SELECT not_calibratable, count(*) FROM calibration_cases WHERE NOT calibratable "
                    "GROUP BY 1 ORDER BY 1"
                ).fetchall()
            )
        finally:
            con.close()
        run_row = {
            "calibration_id": calibration_id,
            "rules_dir": str(Path(rules_dir).resolve()),
            "policy_version": policy.policy_version,
            "rule_pack_versions": json.dumps({p.id: p.version for p in policy.book.packs}),
            "date_from": first.isoformat(),
            "date_to": last.isoformat(),
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "decided_cases": decided,
            "calibrated_cases": calibrated,
            "agreeing_cases": agreeing,
            "min_cases": min_cases,
            "reliability_bins": bins,
            "not_calibratable": json.dumps(reasons),
        }
        publish_calibration(private_db, warehouse, run_row)
    finally:
        if not keep_private_db:
            shutil.rmtree(private_db.parent, ignore_errors=True)
    warnings = [
        {k: (float(v) if isinstance(v, float) else v) for k, v in w.items()}
        for w in agreement_warnings(warehouse, calibration_id, policy.book, min_cases)
    ]
    return CalibrationSummary(
        calibration_id=calibration_id,
        policy_version=policy.policy_version,
        date_from=first.isoformat(),
        date_to=last.isoformat(),
        decided_cases=decided,
        calibrated_cases=calibrated,
        agreeing_cases=agreeing,
        not_calibratable=reasons,
        cases_per_asof_date={d.isoformat(): n for d, n in sorted(per_date.items())},
        rebuilt_per_batch_date={d.isoformat(): n for d, n in sorted(rebuilt.items())},
        agreement_warnings=warnings,
        warehouse=str(warehouse),
    )
