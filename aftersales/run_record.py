"""The `runs` row of one batch run as it goes: started, then succeeded or failed.

One object collects what the row needs while the stages run (the rule book from preflight, the
input counts from ingest, each stage's seconds), so the flow, the plain runner and the command
line build the row the same way instead of repeating its nine arguments. The row's columns are
those of `runs` in `aftersales.warehouse_schema` (it is written there inside the publish step,
and journalled beside the warehouse for a run that fails or is refused).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aftersales.rulepack import RuleBook

INPUT_COUNTS = ("files_read", "rows_read", "rows_quarantined", "files_skipped")


def summary_dict(summary: Any) -> dict:
    """A stage's summary dataclass (or mapping) as plain JSON-ready values."""
    if summary is None:
        return {}
    if is_dataclass(summary):
        return json.loads(json.dumps(asdict(summary), default=str))
    return dict(summary)


@dataclass
class RunRecord:
    run_id: str
    batch_date: date
    inbox: Path
    flow_run_id: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    book: RuleBook | None = None
    ingest: dict = field(default_factory=dict)
    stage_timings: dict[str, float] = field(default_factory=dict)
    task_runner: str | None = None
    shards: int | None = None
    failed_shops: list[str] = field(default_factory=list)
    shard_failures: str | None = None  # one line naming the failed shards of a partial publish

    def stage_finished(self, stage: str, seconds: float, result: Any) -> None:
        """Keep a stage's time and what the row reports of its result (the packs, the input counts)."""
        self.stage_timings[stage] = seconds
        if isinstance(result, RuleBook):
            self.book = result
        elif stage == "ingest":
            self.ingest = summary_dict(result)

    def started(self) -> dict:
        """The row journalled when the run starts (before any stage: who and when)."""
        return self._row("running", None)

    def succeeded(self) -> dict:
        """The row published with the batch: the stages timed so far (publish and report are not);
        after a partial publish (`on_shard_failure = "publish-others"`), `error` names the failed
        shards and `failed_shops` their shops."""
        return self._row("success", self.shard_failures)

    def failed(self, error: str) -> dict:
        """The row journalled for a failed or refused run; `error` is its one-line reason."""
        return self._row("failed", error)

    def _row(self, status: str, error: str | None) -> dict:
        book = self.book
        return {
            "run_id": self.run_id,
            "batch_date": self.batch_date.isoformat(),
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "status": status,
            "policy_version": book.policy_version if book else None,
            **{count: self.ingest.get(count) for count in INPUT_COUNTS},
            "error": error,
            "flow_run_id": self.flow_run_id,
            "inbox": str(self.inbox),
            "stage_timings": json.dumps(self.stage_timings),
            "rule_pack_versions": json.dumps({p.id: p.version for p in book.packs} if book else {}),
            "task_runner": self.task_runner,
            "shards": self.shards,
            "failed_shops": json.dumps(self.failed_shops),
        }
