"""Profile the batch stages at a benchmark scale: `python -m aftersales.bench.profile --scale S`.

Runs the plain stage functions of `aftersales.pipeline` (ingest, score, sla, health) on the
cached inbox of a scale under cProfile (standard library) and times every SQL statement the
stages send to DuckDB, grouped by statement shape (literals and numbers blanked), so a report
names both the Python functions and the SQL that dominate. The work database right after
ingestion is kept (bench/work/profile-<scale>/after-ingest.duckdb) so later stages can be
profiled again without re-ingesting (`--reuse-ingest`).

The SQL timing works by handing the stages a thin proxy around each DuckDB connection opened
while profiling; a lazy relation (`con.sql(...)`) is charged when it is materialised.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import secrets
import shutil
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from aftersales import definitions
from aftersales.bench.memory import TreeSampler
from aftersales.bench.scales import SCALES, ensure_inbox

# Ingest, then the declared transform stages, which are profiled on the kept after-ingest database.
STAGES = ("ingest", *(stage.name for stage in definitions.phase("transform")))
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")


def statement_shape(sql: str, width: int = 150) -> str:
    """One line per kind of statement: whitespace collapsed, literals and numbers blanked."""
    text = " ".join(str(sql).split())
    return _NUMBER.sub("N", _LITERAL.sub("'?'", text))[:width]


@dataclass
class SqlLog:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, sql: str, seconds: float) -> None:
        shape = statement_shape(sql)
        self.seconds[shape] += seconds
        self.calls[shape] += 1

    def top(self, n: int) -> list[tuple[str, int, float]]:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return [(shape, self.calls[shape], round(s, 3)) for shape, s in ranked]

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


class _TimedRelation:
    _MATERIALISE = ("to_arrow_table", "arrow", "df", "fetchall", "fetchone", "fetchdf", "execute")

    def __init__(self, relation, sql: str, log: SqlLog) -> None:
        self._relation, self._sql, self._log = relation, sql, log

    def __getattr__(self, name):
        attr = getattr(self._relation, name)
        if name not in self._MATERIALISE:
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._log.add(self._sql, time.perf_counter() - t0)

        return timed


class _TimedConnection:
    def __init__(self, con, log: SqlLog) -> None:
        self._con, self._log = con, log

    def __getattr__(self, name):
        return getattr(self._con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._con.close()

    def _timed(self, method, sql, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return method(sql, *args, **kwargs)
        finally:
            self._log.add(sql, time.perf_counter() - t0)

    def execute(self, sql, *args, **kwargs):
        self._timed(self._con.execute, sql, *args, **kwargs)
        return self

    def executemany(self, sql, *args, **kwargs):
        self._timed(self._con.executemany, sql, *args, **kwargs)
        return self

    def sql(self, sql, *args, **kwargs):
        return _TimedRelation(self._con.sql(sql, *args, **kwargs), sql, self._log)

    def fetchall(self):
        return self._con.fetchall()

    def fetchone(self):
        return self._con.fetchone()

    def df(self):
        return self._con.df()


@contextmanager
def timed_sql(log: SqlLog):
    """Every `duckdb.connect(...)` inside hands out a connection that logs statement times."""
    original = duckdb.connect

    def connect(*args, **kwargs):
        return _TimedConnection(original(*args, **kwargs), log)

    duckdb.connect = connect
    try:
        yield log
    finally:
        duckdb.connect = original


@dataclass
class StageProfile:
    stage: str
    seconds: float
    sql_seconds: float
    sql_top: list[tuple[str, int, float]]
    functions: str  # pstats text, top by cumulative time
    self_functions: str  # pstats text, top by own time
    peak_mib: float = 0.0  # sampled peak RSS of this process during the stage


def _pstats_text(profile: cProfile.Profile, key: str, n: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(key).print_stats(n)
    text = out.getvalue()
    return text[text.find("ncalls") :] if "ncalls" in text else text


def profile_call(stage: str, fn, *args, top: int = 25) -> tuple[object, StageProfile]:
    log = SqlLog()
    profile = cProfile.Profile()
    with timed_sql(log), TreeSampler(interval_s=0.1) as sampler:
        t0 = time.perf_counter()
        profile.enable()
        try:
            result = fn(*args)
        finally:
            profile.disable()
        seconds = time.perf_counter() - t0
    return result, StageProfile(
        stage,
        round(seconds, 3),
        round(log.total, 3),
        log.top(top),
        _pstats_text(profile, "cumulative", top),
        _pstats_text(profile, "tottime", top),
        sampler.peak().self_peak_mib,
    )


def render(profiles: list[StageProfile], scale: str) -> str:
    lines = [f"# Stage profiles, scale {scale}", ""]
    for p in profiles:
        lines += [
            f"## {p.stage}: {p.seconds:.2f} s (SQL {p.sql_seconds:.2f} s = {p.sql_seconds / p.seconds:.0%}), "
            f"peak RSS {p.peak_mib:,.0f} MiB",
            "",
            "| share | s | calls | statement (shape) |",
            "|---:|---:|---:|---|",
        ]
        lines += [
            f"| {s / p.seconds:.1%} | {s:.2f} | {n} | `{shape.replace('|', '/')}` |"
            for shape, n, s in p.sql_top
        ]
        lines += ["", "Top functions by cumulative time (cProfile):", "```", p.functions.rstrip(), "```"]
        lines += ["", "Top functions by own time:", "```", p.self_functions.rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aftersales.bench.profile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="comma-separated subset of " + ", ".join(STAGES)
    )
    parser.add_argument(
        "--root", type=Path, default=Path("bench"), help="bench folder (cache, work, results)"
    )
    parser.add_argument(
        "--reuse-ingest", action="store_true", help="start from the kept after-ingest database"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--out", type=Path, help="markdown report (default: <root>/work/profile-<scale>/profile.md)"
    )
    args = parser.parse_args(argv)

    from aftersales import pipeline
    from aftersales.settings import load_settings

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("AFTERSALES_PSEUDONYM_KEY", secrets.token_hex(32))
    stages = [s for s in args.stages.split(",") if s]
    cached = ensure_inbox(args.scale, args.root)
    spec = cached.spec
    home = (args.root / "work" / f"profile-{args.scale}").resolve()
    kept = home / "after-ingest.duckdb"
    settings = load_settings()
    run_id = "profile"
    paths = pipeline.batch_paths(
        cached.inbox, home / "warehouse.duckdb", settings.rules_dir, home / "reports", run_id
    )
    if not (args.reuse_ingest and kept.exists()):
        shutil.rmtree(paths.work_dir, ignore_errors=True)
    day: date = spec.batch_date
    profiles: list[StageProfile] = []
    # Import what a nightly has imported by the time each stage runs, so no stage is charged
    # for loading Great Expectations and friends that an earlier stage already loaded.
    import great_expectations  # noqa: F401

    import aftersales.ingest  # noqa: F401
    import aftersales.policy  # noqa: F401
    import aftersales.sla  # noqa: F401

    if "ingest" in stages and not (args.reuse_ingest and kept.exists()):
        _, prof = profile_call("ingest", pipeline.stage_ingest, paths, day, run_id, settings, top=args.top)
        profiles.append(prof)
        shutil.copy(paths.work_db, kept)
    elif kept.exists():
        paths.work_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(kept, paths.work_db)
    else:
        parser.error("no kept after-ingest database: run with the ingest stage first")
    from aftersales.policy.score import validate_policy_packs

    validate_policy_packs(paths.rules_dir)  # preflight's job in a real run
    for stage in definitions.phase("transform"):
        if stage.name in stages:
            _, prof = profile_call(stage.name, stage.run, paths, day, run_id, top=args.top)
            profiles.append(prof)
    report = render(profiles, args.scale)
    out = args.out or home / "profile.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    (out.with_suffix(".json")).write_text(
        json.dumps([{"stage": p.stage, "seconds": p.seconds, "sql_seconds": p.sql_seconds, "peak_mib": p.peak_mib,
                     "sql_top": p.sql_top}
                    for p in profiles], indent=2)
    )  # fmt: skip
    print(report)
    shutil.rmtree(paths.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
