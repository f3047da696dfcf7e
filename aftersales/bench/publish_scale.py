"""The lakehouse scale proof (issue 13): publish time and size after 1, 30 and 365 stored batch dates.

Publishing N nights to get N stored dates would take N batches, so history is made cheaply: one
real published batch (the bench's measured batch, or a fresh one) is the seed, and its rows are
copied into the warehouse under N shifted batch dates (earlier than the seed) in one bulk insert
per table, laid out as N publishes would leave them (a lake: one Parquet file per table and
date). Then the real publish (`aftersales.publish.publish_batch`, the nightly's) publishes new
dates built from the same seed, `repeats` times, and the median is the figure. The same is done
for the single-file warehouse (copy + swap) for comparison, at fewer points when asked.

Figures per warehouse kind and history size: publish seconds (median and each), warehouse bytes
(lake: catalog + Parquet files), and a typical analyst query over the whole history (decision mix
per market and month, through the analysts' entry point `open_warehouse`). The target is
publish(max dates) / publish(min dates) <= 1.5 on the lake.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from aftersales.lakehouse.commit import ensure_lake_schema
from aftersales.lakehouse.connect import attach_lake, lake_session, open_warehouse
from aftersales.lakehouse.location import WarehouseLocation
from aftersales.lakehouse.maintenance import data_path_bytes
from aftersales.publish import publish_batch
from aftersales.warehouse_schema import BATCH_TABLES, create_result_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 1.5
ANALYST_QUERY = (
    "SELECT market, date_trunc('month', batch_date) AS month, decision, count(*) AS cases "
    "FROM rulings GROUP BY ALL ORDER BY ALL"
)
KINDS = {"lake": "scale.ducklake", "file": "scale.duckdb"}
# Dates of history per commit while filling. DuckLake 1.5.5 builds a commit's catalog SQL with
# repeated string replacement, which grows quadratically with the files one commit adds: one
# commit of 365 dates x 14 tables (~5,000 files) ran over 5 minutes on 2 shared cores; a month
# per commit is what a migration does too (aftersales.lakehouse.migration.DATES_PER_COMMIT).
FILL_DATES_PER_COMMIT = 30


def run_publish_scale(
    out_dir: Path,
    dates: tuple[int, ...] = (1, 30, 365),
    *,
    seed_warehouse: Path | None = None,
    scale: str = "small",
    file_dates: tuple[int, ...] | None = None,
    repeats: int = 3,
) -> dict:
    """Measure both warehouse kinds at each history size; writes and returns `publish_scale.json`.

    `seed_warehouse`: a published single-file warehouse whose latest batch is copied (default:
    run the nightly's plain stages on the cached inbox of `scale` first). `file_dates`: history
    sizes for the single-file warehouse (default: the same as the lake's).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if seed_warehouse is None:
        seed_warehouse = _seed_batch(out_dir / "seed", scale)
    seed_day = _latest_batch(seed_warehouse)
    result: dict = {
        "seed_warehouse": str(seed_warehouse),
        "seed_batch_date": seed_day.isoformat(),
        "seed_rows": _seed_rows(seed_warehouse, seed_day),
        "repeats": repeats,
        "analyst_query": ANALYST_QUERY,
        "target_ratio": TARGET_RATIO,
    }
    for kind, name in KINDS.items():
        sizes = tuple(sorted(dates if kind == "lake" or file_dates is None else file_dates))
        target = out_dir / name
        _remove_warehouse(target)
        points, held, next_day = [], 0, seed_day + timedelta(days=1)
        for n in sizes:
            _fill_history(target, seed_warehouse, seed_day, held, n)
            held = n
            runs = []
            for _ in range(repeats):
                runs.append(_publish_one(target, seed_warehouse, seed_day, next_day, out_dir))
                next_day += timedelta(days=1)
            points.append(
                {
                    "dates": n,
                    "publish_seconds": round(statistics.median(runs), 3),
                    "publish_runs": runs,
                    "size_bytes": warehouse_bytes(target),
                    "query_seconds": _query_seconds(target),
                }
            )
        first, last = points[0]["publish_seconds"], points[-1]["publish_seconds"]
        result[kind] = {
            "warehouse": str(target),
            "points": points,
            "ratio": round(last / first, 3) if first else None,
        }
    ratio = result["lake"]["ratio"]
    result["met"] = ratio is not None and ratio <= TARGET_RATIO
    (out_dir / "publish_scale.json").write_text(json.dumps(result, indent=2))
    return result


def warehouse_bytes(warehouse: Path) -> int:
    """What the warehouse occupies on disk: the DuckDB file, or a lake's catalog plus its Parquet files."""
    location = WarehouseLocation.parse(warehouse)
    if not location.is_lake:
        return sum(p.stat().st_size for p in (warehouse, Path(f"{warehouse}.wal")) if p.exists())
    catalog = location.catalog_file
    return (catalog.stat().st_size if catalog and catalog.exists() else 0) + (data_path_bytes(location) or 0)


def _seed_batch(work: Path, scale: str) -> Path:
    """One real batch of `scale` published into a single-file warehouse by the bench's batch process."""
    from aftersales.bench.harness import run_batch_process
    from aftersales.bench.scales import ensure_inbox

    cached = ensure_inbox(scale, PROJECT_ROOT / "bench")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run_batch_process(cached.inbox, work, cached.spec.batch_date, mode="plain")
    return work / "warehouse.duckdb"


def _latest_batch(warehouse: Path) -> date:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT max(batch_date) FROM runs WHERE status = 'success'").fetchone()[0]
    finally:
        con.close()


def _seed_rows(warehouse: Path, day: date) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE batch_date = ?", [day]).fetchone()[0]
            for t in BATCH_TABLES
            if t in present
        }
    finally:
        con.close()


def _shifted_select(
    con: duckdb.DuckDBPyConnection, target_catalog: str, table: str, day_expr: str
) -> tuple[str, str]:
    """SELECT of the seed's rows of `table` under another batch date (and run id), target columns only."""
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'seed' AND table_name = ?",
            [table],
        ).fetchall()
    }
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [target_catalog, table],
        ).fetchall()
        if r[0] in have
    ]
    values = {"batch_date": f"({day_expr})::DATE", "run_id": f"'bench-' || strftime({day_expr}, '%Y%m%d')"}
    names = ", ".join(f'"{c}"' for c in cols)
    return names, ", ".join(values.get(c, f's."{c}"') for c in cols)


def _fill_history(target: Path, seed: Path, seed_day: date, held: int, wanted: int) -> None:
    """Add stored dates seed_day - held .. seed_day - (wanted - 1): one bulk insert per table."""
    if wanted <= held:
        return
    location = WarehouseLocation.parse(target)
    if location.is_lake:
        con = lake_session()
        attach_lake(con, location, read_only=False, alias="wh")
        con.execute("CALL wh.set_option('data_inlining_row_limit', 0)")
    else:
        con = duckdb.connect(str(target))
        con.execute("SET TimeZone = 'UTC'")
        create_result_tables(con)
    catalog = "wh" if location.is_lake else con.execute("SELECT current_database()").fetchone()[0]
    try:
        con.execute(f"ATTACH '{seed}' AS seed (READ_ONLY)")
        if location.is_lake:
            con.execute("BEGIN TRANSACTION")
            ensure_lake_schema(con, "wh")
            con.execute("COMMIT")
        for lo in range(held, wanted, FILL_DATES_PER_COMMIT):
            _fill_dates(con, catalog, seed_day, lo, min(wanted, lo + FILL_DATES_PER_COMMIT))
        if not location.is_lake:
            con.execute("CHECKPOINT")
    finally:
        con.close()


def _fill_dates(con: duckdb.DuckDBPyConnection, catalog: str, seed_day: date, lo: int, hi: int) -> None:
    """One commit adding the seed's rows under dates seed_day - lo .. seed_day - (hi - 1)."""
    con.execute("BEGIN TRANSACTION")
    try:
        day_expr = f"DATE '{seed_day.isoformat()}' - k::INTEGER"
        seed_run = con.execute(
            "SELECT max(run_id) FROM seed.runs WHERE batch_date = ? AND status = 'success'", [seed_day]
        ).fetchone()[0]
        for table in (*BATCH_TABLES, "runs"):
            names, values = _shifted_select(con, catalog, table, day_expr)
            if not names:
                continue
            only_seed_run = " AND s.run_id = ?" if table == "runs" else ""
            con.execute(
                f'INSERT INTO "{catalog}".{table} ({names}) SELECT {values} FROM seed.{table} s, range(?, ?) r(k) '
                f"WHERE s.batch_date = ?{only_seed_run}",
                [lo, hi, seed_day, *([seed_run] if only_seed_run else [])],
            )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _work_db(seed: Path, seed_day: date, day: date, folder: Path) -> Path:
    """A run's work database holding the seed batch's rows under `day`, as the stages would leave it."""
    work = folder / f"work-{day.isoformat()}.duckdb"
    work.unlink(missing_ok=True)
    con = duckdb.connect(str(work))
    try:
        create_result_tables(con)
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH '{seed}' AS seed (READ_ONLY)")
        for table in BATCH_TABLES:
            names, values = _shifted_select(con, catalog, table, f"DATE '{day.isoformat()}'")
            if names:
                con.execute(
                    f"INSERT INTO {table} ({names}) SELECT {values} FROM seed.{table} s WHERE s.batch_date = ?",
                    [seed_day],
                )
    finally:
        con.close()
    return work


def _publish_one(target: Path, seed: Path, seed_day: date, day: date, out_dir: Path) -> float:
    """Seconds of one real publish of a new batch date (work database prepared beforehand, untimed)."""
    folder = out_dir / "work"
    folder.mkdir(exist_ok=True)
    work = _work_db(seed, seed_day, day, folder)
    run = {"run_id": f"bench-{day:%Y%m%d}", "batch_date": day.isoformat(), "status": "success",
           "started_at": f"{day.isoformat()}T02:00:00+00:00", "policy_version": "bench"}  # fmt: skip
    started = time.perf_counter()
    publish_batch(work, target, day, [run])
    seconds = time.perf_counter() - started
    for leftover in folder.iterdir():
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return round(seconds, 3)


def _query_seconds(target: Path, repeats: int = 3) -> float:
    """Median seconds of the analyst query over the whole history, each on a fresh read-only connection."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        con = open_warehouse(target)
        try:
            con.execute(ANALYST_QUERY).fetchall()
        finally:
            con.close()
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs), 3)


def _remove_warehouse(target: Path) -> None:
    for path in (target, Path(f"{target}.wal"), Path(f"{target}.lock"), Path(f"{target}.files")):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            os.unlink(path)
