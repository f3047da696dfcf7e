"""Point-in-time features rebuilt from the exports, for decided cases the warehouse never stored in time.

A case decided before any stored batch saw it (the warehouse started later, a batch date was
skipped) has no stored `case_features` row before its decision. With an inbox, such a case is
rebuilt by the nightly's own stages, ingest then score (`aftersales.pipeline.stage_ingest`,
`stage_score`), for the batch date just before the decision (the day before the decision's
shop-local date; appeals: the submission's local date, the first cut-off after it), into a
private work database beside the calibration's, one per distinct batch date. Nothing is
published and no warehouse table is read or written here.

The rebuilt row is then cut exactly like a stored one (`point_in_time.masked_select_sql`: outcome
and undated columns NULL, facts after the cut-off NULL, later evidence dropped): the exports are
cumulative, so they DO carry what happened after the cut-off. A case the rebuild cannot place
before its decision keeps a reason (`point_in_time.NOT_CALIBRATABLE`).
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

from aftersales import database
from aftersales.calibration.point_in_time import masked_select_sql
from aftersales.publish.swap import insert_common_columns

MISSING = "no_features_before_decision"


def rebuild_batch_date(case_kind: str, decision_local_date: date) -> date:
    """The batch date to rebuild a case as of: the cut-off just before the decision (appeals: after the submission)."""
    return decision_local_date if case_kind == "appeal" else decision_local_date - timedelta(days=1)


def needed_batch_dates(private_db: Path) -> dict[date, int]:
    """Batch date -> cases of `calibration_pick` to rebuild as of it (no stored features before the decision)."""
    con = database.connect(private_db)
    try:
        rows = con.execute(
            "SELECT case_kind, decision_local_date FROM calibration_pick WHERE not_calibratable = ?",
            [MISSING],
        ).fetchall()
    finally:
        con.close()
    needed: dict[date, int] = {}
    for kind, local_date in rows:
        day = rebuild_batch_date(kind, local_date)
        needed[day] = needed.get(day, 0) + 1
    return dict(sorted(needed.items()))


def build_work_db(
    inbox: Path, work_root: Path, batch_date: date, rules_dir: Path, settings
) -> tuple[Path, str]:
    """Ingest and score `inbox` for `batch_date` into a fresh private work database: the nightly's own stages."""
    from aftersales.pipeline import batch_paths, stage_ingest, stage_score

    run_id = f"calibration-rebuild-{batch_date:%Y%m%d}"
    paths = batch_paths(inbox, work_root / "warehouse.duckdb", rules_dir, work_root / "report", run_id)
    shutil.rmtree(paths.work_dir, ignore_errors=True)
    stage_ingest(paths, batch_date, run_id, settings)
    stage_score(paths, batch_date, run_id)
    return paths.work_db, run_id


def adopt_rebuilt(private_db: Path, work_db: Path, batch_date: date, run_id: str, key_date: date) -> int:
    """Copy the rebuilt, cut rows of the cases waiting for `batch_date` into the private `case_features`.

    The rows are stored under `key_date` like the stored ones, so all cases are judged in one pass;
    `calibration_pick` gets their as-of batch, run, cut-off and `features_from`. Returns the cases adopted.
    """
    con = database.connect(private_db)
    try:
        con.execute(f"ATTACH '{Path(work_db).resolve()}' AS rb (READ_ONLY)")
        try:
            is_waiting = (
                "p.not_calibratable = ? AND (CASE WHEN p.case_kind = 'appeal' THEN p.decision_local_date "
                "ELSE p.decision_local_date - 1 END) = ?"
            )
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE rebuilt AS
                SELECT s.* FROM rb.case_features s
                JOIN calibration_pick p ON p.case_id = s.case_id AND p.case_kind = s.case_kind
                WHERE {is_waiting} AND s.batch_date = ? AND s.request_time <= s.cutoff_time
                  AND ((p.case_kind <> 'appeal' AND s.cutoff_time < p.decision_time)
                       OR (p.case_kind = 'appeal' AND s.cutoff_time >= p.appeal_submitted_time))
                QUALIFY row_number() OVER (PARTITION BY s.case_id, s.case_kind ORDER BY s.run_id DESC) = 1
                """,
                [MISSING, batch_date, batch_date],
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE rebuilt_cut AS "
                f"SELECT ?::DATE AS batch_date, s.run_id, {masked_select_sql()} FROM rebuilt s",
                [key_date],
            )
            catalog = con.execute("SELECT current_database()").fetchone()[0]
            insert_common_columns(con, f"{catalog}.case_features", "temp.rebuilt_cut")
            # Cases the rebuild saw but could not place before the decision, then those it never saw.
            con.execute(
                f"""
                UPDATE calibration_pick p SET not_calibratable = CASE
                    WHEN r.hit THEN NULL
                    WHEN EXISTS (SELECT 1 FROM rb.case_features s WHERE s.case_id = p.case_id
                                 AND s.case_kind = p.case_kind AND s.request_time <= s.cutoff_time)
                         THEN 'rebuild_cutoff_not_before_decision'
                    ELSE 'not_in_exports_before_decision' END,
                    asof_batch_date = CASE WHEN r.hit THEN ?::DATE END,
                    asof_run_id = r.run_id,
                    cutoff_time = r.cutoff_time,
                    features_from = CASE WHEN r.hit THEN 'rebuilt_from_exports' END
                FROM (SELECT q.case_id, q.case_kind, x.case_id IS NOT NULL AS hit, x.run_id, x.cutoff_time
                      FROM calibration_pick q
                      LEFT JOIN rebuilt x ON x.case_id = q.case_id AND x.case_kind = q.case_kind) r
                WHERE r.case_id = p.case_id AND r.case_kind = p.case_kind AND {is_waiting}
                """,
                [batch_date, MISSING, batch_date],
            )
            adopted = con.execute("SELECT count(*) FROM rebuilt").fetchone()[0]
        finally:
            con.execute("DETACH rb")
    finally:
        con.close()
    return adopted


def rebuild_missing_features(
    private_db: Path, inbox: Path, rules_dir: Path, key_date: date, settings=None
) -> dict[date, int]:
    """Rebuild every picked case lacking stored features from `inbox`; cases adopted per rebuilt batch date.

    One ingest + score per distinct batch date, sequentially (each one's work database is removed
    before the next, so disk holds one at a time).
    """
    if settings is None:
        from aftersales.settings import load_settings

        settings = load_settings()
    work_root = Path(private_db).parent / "rebuild"
    adopted: dict[date, int] = {}
    try:
        for day in needed_batch_dates(private_db):
            work_db, run_id = build_work_db(Path(inbox), work_root, day, Path(rules_dir), settings)
            adopted[day] = adopt_rebuilt(private_db, work_db, day, run_id, key_date)
            shutil.rmtree(work_db.parent, ignore_errors=True)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    return adopted
