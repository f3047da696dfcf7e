"""Stored `case_features` rows read back, judged one record at a time, and timed."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from aftersales.policy.features import EVIDENCE_DETAIL_COLUMN, FEATURE_NAMES
from aftersales.policy.packs import PolicyBook

from .per_case_engine import EvidenceItem, PerCaseEngine, Verdict
from .sql_values import Row

_STORED_SELECT = ", ".join(f'"{name}"' for name in FEATURE_NAMES) + f", {EVIDENCE_DETAIL_COLUMN}"


def decode_case(record: tuple) -> tuple[Row, list[EvidenceItem]]:
    """One stored `case_features` row -> feature values by name and evidence items.

    The row holds DuckDB's Python values of the catalogue types (DECIMAL as Decimal, instants as
    aware datetimes, dates as date), features in catalogue order followed by the evidence list.
    """
    case: Row = dict(zip(FEATURE_NAMES, record[:-1], strict=True))
    items = record[-1] or ()
    return case, [
        EvidenceItem(
            i["party"],
            i["evidence_type"],
            i["uploaded_time"],
            i["file_size_bytes"],
            i["sha256"],
            i["is_valid"],
        )
        for i in items
    ]


def load_records(
    db: Path, batch_date: dt.date, sample: int | None = None, seed: int = 7
) -> tuple[list[tuple[str, tuple]], int]:
    """((case_id, stored row) of the batch's cases, total cases), from stored `case_features`.

    With `sample`, a seeded random sample of that many cases (the latest run's row per case).
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"""
            SELECT case_id, {_STORED_SELECT} FROM case_features WHERE batch_date = ?
            QUALIFY row_number() OVER (PARTITION BY case_id ORDER BY run_id DESC) = 1
            ORDER BY case_id
            """,
            [batch_date],
        ).fetchall()
    finally:
        con.close()
    records = [(row[0], row[1:]) for row in rows]
    total = len(records)
    if sample is not None and sample < total:
        picked = sorted(random.Random(seed).sample(range(total), sample))
        records = [records[i] for i in picked]
    return records, total


def judge_records(engine: PerCaseEngine, records: Iterable[tuple[str, tuple]]) -> list[Verdict]:
    """Decode and judge stored records one by one (what the faithfulness test compares)."""
    return [engine.judge(*decode_case(record)) for _, record in records]


@dataclass(frozen=True)
class BaselineTiming:
    cases_timed: int
    cases_total: int
    seconds_timed: float  # decode + evaluate + decide of the timed cases
    decode_seconds: float  # of which: turning each stored row into a feature dict and evidence items
    judge_seconds: float  # of which: rule versions in force, conditions, evidence, decision
    per_case_ms: float  # (decode + judge) per case
    judge_per_case_ms: float  # judge only, per case
    extrapolated_seconds: float  # per_case x cases_total
    extrapolated_judge_seconds: float  # judge_per_case x cases_total
    sampled: bool
    rules_evaluated: int  # rule versions in force, summed over the timed cases
    decisions: dict[str, int]


def time_baseline(
    db: Path, batch_date: dt.date, policy: PolicyBook, sample: int | None = 20_000, seed: int = 7
) -> BaselineTiming:
    """Judge (a seeded sample of) the batch's stored cases one record at a time, and time it."""
    records, total = load_records(db, batch_date, sample, seed)
    engine = PerCaseEngine(policy)
    decisions: dict[str, int] = {}
    decode_s = judge_s = 0.0
    evaluated = 0
    clock = time.perf_counter
    for _, record in records:
        t0 = clock()
        case, evidence = decode_case(record)
        t1 = clock()
        verdict = engine.judge(case, evidence)
        t2 = clock()
        decode_s += t1 - t0
        judge_s += t2 - t1
        decisions[verdict.decision] = decisions.get(verdict.decision, 0) + 1
        evaluated += sum(1 for _ in engine.in_force(case))  # untimed: a count for the report
    n = len(records) or 1
    return BaselineTiming(
        cases_timed=len(records),
        cases_total=total,
        seconds_timed=round(decode_s + judge_s, 3),
        decode_seconds=round(decode_s, 3),
        judge_seconds=round(judge_s, 3),
        per_case_ms=round((decode_s + judge_s) / n * 1000, 4),
        judge_per_case_ms=round(judge_s / n * 1000, 4),
        extrapolated_seconds=round((decode_s + judge_s) / n * total, 3),
        extrapolated_judge_seconds=round(judge_s / n * total, 3),
        sampled=len(records) < total,
        rules_evaluated=evaluated,
        decisions=dict(sorted(decisions.items())),
    )
