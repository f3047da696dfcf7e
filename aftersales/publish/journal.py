"""Run journal: failed attempts are recorded beside the warehouse, never inside it.

A failed batch must leave the warehouse exactly as it was, yet `runs` must show every attempt.
So a failure appends one JSON line to `<warehouse>.attempts.jsonl`; the next successful publish
moves those lines into `runs` (in the same atomic step as its own results) and clears them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def journal_path(warehouse: Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".attempts.jsonl")


def record_failed_attempt(warehouse: Path, run_row: dict) -> None:
    path = journal_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(run_row, default=str, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def pending_attempts(warehouse: Path) -> list[dict]:
    path = journal_path(warehouse)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill mid-write carries nothing usable
    return rows


def clear_attempts(warehouse: Path, published: list[dict]) -> None:
    """Drop the journalled attempts that are now in `runs` (INSERT OR IGNORE makes this safe to repeat)."""
    path = journal_path(warehouse)
    if not path.exists():
        return
    done = {r.get("run_id") for r in published}
    remaining = [r for r in pending_attempts(warehouse) if r.get("run_id") not in done]
    if remaining:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in remaining), encoding="utf-8")
        os.replace(tmp, path)
    else:
        path.unlink(missing_ok=True)
