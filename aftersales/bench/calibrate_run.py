"""The `calibrate` figure (issue #16): calibrating over many stored batch dates, time and peak RSS.

Running the nightly N times to get N stored batch dates would take N batches; instead the bench
warehouse's one stored batch (`case_features`, `rulings`) is copied N times with shifted dates:

- copies come in "weeks" of `stride` batch dates: the copies of week w are a world of their own
  (case and order ids suffixed `~w<w>`) whose every timestamp and local date is `w * stride` days
  earlier, so the platform's decisions spread over the whole period instead of piling up at the
  bench's batch date;
- within a week, copy j is stored on batch date `last - (w * stride + j)` with its cut-off moved
  back by as many days (a case is stored on every batch of its week opened by then, like a backfill
  from one export: later facts are in the row and calibration's point-in-time cut removes them).
  Rows whose request falls after the moved cut-off are not stored (the case did not exist yet).

Features computed by case assembly against the original cut-off are copied as they are; they
are inputs, not what is measured. Then `calibrate` runs over the N dates in a fresh process
(`python -m aftersales.bench.calibrate_run`) whose RSS is sampled, so its peak is its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from aftersales import database
from aftersales.warehouse_schema import create_result_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STRIDE = 7  # batch dates per copied world (a case is stored on up to this many batches)
COPIED_TABLES = ("case_features", "rulings")
SUFFIXED_IDS = ("case_id", "order_id")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = 'src' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


def shifted_select(columns: list[tuple[str, str]], table: str) -> str:
    """SELECT list over stored rows `s` and their copy `o` (world_days, store_days, suffix); parameter $last."""
    items = []
    for name, typ in columns:
        col = f's."{name}"'
        if name == "batch_date":
            value = "$last - o.store_days"
        elif name == "cutoff_time":
            value = f"{col} - to_days(o.store_days)"
        elif name in SUFFIXED_IDS:
            value = f"{col} || o.suffix"
        elif typ.startswith("TIMESTAMP"):
            value = f"{col} - to_days(o.world_days)"
        elif typ == "DATE":
            value = f"{col} - o.world_days"
        elif typ.startswith("STRUCT(") and "uploaded_time" in typ and typ.endswith("[]"):
            value = (
                f"list_transform({col}, lambda x: struct_update(x, uploaded_time := "
                f"x.uploaded_time - to_days(o.world_days)))"
            )
        else:
            value = col
        items.append(f'{value} AS "{name}"')
    return ", ".join(items)


def build_calibration_warehouse(
    source: Path, target: Path, last: date, dates: int, stride: int = STRIDE
) -> dict:
    """Write `target`: `dates` stored batch dates ending at `last`, copied from `source`'s one batch.

    Returns rows per table, the batch dates and the seconds taken. `source` is read only.
    """
    if dates < 1 or stride < 1:
        raise ValueError("dates and stride must be at least 1")
    target = Path(target)
    for path in (target, target.with_name(target.name + ".wal")):
        path.unlink(missing_ok=True)
    started = time.perf_counter()
    con = database.connect(target)
    try:
        con.execute("SET enable_progress_bar = false")  # the bench prints its own lines
        create_result_tables(con)
        con.execute(f"ATTACH '{Path(source).resolve()}' AS src (READ_ONLY)")
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        source_dates = con.execute("SELECT DISTINCT batch_date FROM src.case_features").fetchall()
        if len(source_dates) != 1:
            raise ValueError(f"{source} must hold exactly one stored batch date, not {len(source_dates)}")
        # one row per (case, copy) whose request was made by that copy's cut-off: all copies in one pass
        con.execute(
            """
            CREATE TEMP TABLE copies AS
            SELECT f.case_id, f.case_kind, r.k::INTEGER AS store_days, ((r.k // $stride) * $stride)::INTEGER AS world_days,
                   CASE WHEN r.k >= $stride THEN '~w' || (r.k // $stride) ELSE '' END AS suffix
            FROM src.case_features f CROSS JOIN range($dates) r(k)
            WHERE f.request_time - to_days(((r.k // $stride) * $stride)::INTEGER)
                  <= f.cutoff_time - to_days(r.k::INTEGER)
            """,
            {"stride": stride, "dates": dates},
        )
        for table in COPIED_TABLES:
            columns = _columns(con, table)
            names = ", ".join(f'"{n}"' for n, _ in columns)
            con.execute(
                f'INSERT INTO "{catalog}".{table} ({names}) SELECT {shifted_select(columns, table)} '
                f"FROM src.{table} s JOIN copies o ON o.case_id = s.case_id AND o.case_kind = s.case_kind",
                {"last": last},
            )
        con.execute("DETACH src")
        rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COPIED_TABLES}
        span = con.execute("SELECT min(batch_date), max(batch_date) FROM case_features").fetchone()
    finally:
        con.close()
    return {
        "dates": dates,
        "stride": stride,
        "first_batch_date": span[0].isoformat() if span[0] else None,
        "last_batch_date": span[1].isoformat() if span[1] else None,
        "rows": rows,
        "build_seconds": round(time.perf_counter() - started, 2),
        "mib": round(sum(p.stat().st_size for p in target.parent.glob(target.name + "*")) / 2**20, 1),
    }


def calibrate_in_process(warehouse: Path, first: date, last: date, rules_dir: Path, out: Path) -> dict:
    """Run `calibrate` here, sampling this process's RSS; write and return the measurements."""
    from aftersales.bench.memory import TreeSampler
    from aftersales.calibration.rejudge import calibrate

    with TreeSampler() as sampler:
        t0 = time.perf_counter()
        summary = calibrate(warehouse, first, last, rules_dir, min_cases=30, bins=10)
        seconds = time.perf_counter() - t0
    measured = {
        "seconds": round(seconds, 2),
        "memory": dataclasses.asdict(sampler.peak()),
        "decided_cases": summary.decided_cases,
        "calibrated_cases": summary.calibrated_cases,
        "agreeing_cases": summary.agreeing_cases,
        "asof_dates": len(summary.cases_per_asof_date),
    }
    Path(out).write_text(json.dumps(measured, indent=2))
    return measured


def measure_calibrate(
    source_warehouse: Path, work: Path, last: date, dates: int, rules_dir: Path, env: dict | None = None
) -> dict:
    """Build the N-date warehouse in `work`, calibrate over its dates in a fresh process, measure.

    The built warehouse is removed afterwards (it is N times the bench warehouse).
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    warehouse = work / "calibrate_warehouse.duckdb"
    built = build_calibration_warehouse(source_warehouse, warehouse, last, dates)
    first = last - timedelta(days=dates - 1)
    out, log = work / "calibrate.json", work / "calibrate.log"
    cmd = [
        sys.executable, "-m", "aftersales.bench.calibrate_run", "--warehouse", str(warehouse),
        "--from", first.isoformat(), "--to", last.isoformat(), "--rules", str(rules_dir), "--out", str(out),
    ]  # fmt: skip
    t0 = time.perf_counter()
    try:
        with open(log, "wb") as fh:
            proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise RuntimeError(f"calibrate exited with status {proc.returncode}; log {log}:\n{tail}")
        measured = json.loads(out.read_text())
    finally:
        for path in work.glob("calibrate_warehouse.duckdb*"):
            path.unlink(missing_ok=True)
        shutil.rmtree(work / ".work", ignore_errors=True)
    measured["process_seconds"] = round(time.perf_counter() - t0, 2)
    return {"warehouse": built, "date_from": first.isoformat(), "date_to": last.isoformat()} | measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aftersales.bench.calibrate_run", description=__doc__)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    parser.add_argument("--rules", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    calibrate_in_process(args.warehouse, args.first, args.last, args.rules, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
