"""What-if replay flow: re-score stored cases of a date range under candidate rules, publish beside.

snapshot (read-only) → re-score per date (policy engine) → diff → atomic publish of
replay_rulings / replay_diff / replay_runs → summary artifact. The nightly's published tables
are never written; a failure anywhere leaves the warehouse as it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from aftersales.orchestration import what_if as rp
from aftersales.pipeline import BatchRefused, validated_rulebook, warehouse_address
from aftersales.rulepack import RulePackError

FLOW_NAME = "aftersales-replay"
_task = {"cache_policy": NO_CACHE, "persist_result": False}


def load_candidate(rules_dir: Path):
    """The candidate rule book, validated like the nightly's (a broken candidate replays nothing)."""
    try:
        return validated_rulebook(rules_dir)
    except RulePackError as exc:
        raise BatchRefused(f"invalid candidate rule pack: {exc}") from exc


snapshot = task(name="replay-snapshot", **_task)(rp.snapshot_cases)
rescore = task(name="replay-rescore", **_task)(rp.rescore_cases)
diff = task(name="replay-diff", **_task)(rp.build_diff)
publish = task(name="replay-publish", retries=2, retry_delay_seconds=5, **_task)(rp.publish_replay)


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def replay_rules(candidate_rules: str, date_from: str, date_to: str, warehouse: str) -> dict:
    """Re-score the stored cases of [date_from, date_to] under `candidate_rules`; returns the summary."""
    logger = get_run_logger()
    first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    if last < first:
        raise BatchRefused(f"--to {last} is before --from {first}")
    rules = Path(candidate_rules).resolve()
    wh = warehouse_address(warehouse)
    book = load_candidate(rules)
    replay_id = rp.new_replay_id()
    replay_db = rp.replay_db_path(wh, replay_id)
    started_at = datetime.now(UTC)
    try:
        per_date = snapshot(wh, replay_db, first, last)
        if not per_date:
            raise rp.ReplayError(f"no stored cases between {first} and {last} in {wh}")
        for day, cases in sorted(per_date.items()):
            logger.info("re-scoring %s cases of %s under %s", cases, day, book.policy_version)
            rescore(replay_db, day, replay_id, rules)
        diff(replay_db, replay_id)
        facts = rp.replay_facts(replay_db, replay_id)
        row = rp.replay_run_row(
            replay_id, rules, book, first, last, started_at, facts, str(flow_run.id) if flow_run.id else None
        )
        publish(replay_db, wh, row)
    finally:
        rp.discard_replay_db(replay_db)
    summary = rp.ReplaySummary(
        replay_id=replay_id,
        candidate_rules=str(rules),
        policy_version=book.policy_version,
        date_from=first.isoformat(),
        date_to=last.isoformat(),
        cases_per_date={d.isoformat(): n for d, n in sorted(per_date.items())},
        warehouse=str(wh),
        **facts,
    )
    create_markdown_artifact(
        key="aftersales-replay",
        markdown=replay_markdown(summary, rp.shift_matrix(wh, replay_id)),
        description=f"what-if replay {first}..{last}",
    )
    return summary.as_dict()


def replay_markdown(summary: rp.ReplaySummary, cells: list[tuple[str, str, int]]) -> str:
    lines = [
        f"# What-if replay {summary.date_from} .. {summary.date_to}",
        f"Candidate `{summary.candidate_rules}` (`{summary.policy_version}`), replay `{summary.replay_id}`.",
        f"{summary.cases} cases, {summary.decisions_changed} decisions changed, "
        f"{summary.rulings_changed} rulings changed.",
        "",
        "| old decision | new decision | cases |",
        "|---|---|---:|",
        *[f"| {o} | {n} | {k} |" for o, n, k in cells],
    ]
    return "\n".join(lines)
