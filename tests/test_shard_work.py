"""Shard planning, a shard's part of the inbox, DuckDB budgets and combined summaries (issue 14),
on real files and real DuckDB connections."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from aftersales import database
from aftersales.database import parse_bytes
from aftersales.ingest.api_dump_typing import dump_reader
from aftersales.ingest.export_listing import discover_exports
from aftersales.ingest.inbox import IngestSummary, KindCounts
from aftersales.ingest.ledger import LedgerEntry
from aftersales.policy.score import ScoringSummary
from aftersales.settings import load_settings
from aftersales.shard_work import combine, plan_batch_shards, thread_budget

DAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def mixed_inbox(tmp_path_factory) -> Path:
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec

    inbox = tmp_path_factory.mktemp("shard-work") / "inbox"
    generate_inbox(
        inbox, GeneratorSpec(shops=4, orders=60, seed=5, batch_date=DAY, api_shops=1), overwrite=True
    )
    shops = sorted(p.name for p in inbox.iterdir() if p.is_dir())
    first = sorted((inbox / shops[0]).rglob("*.csv"))[0]
    shutil.copy(first, inbox / shops[-1] / "same-bytes.csv")
    (inbox / "loose.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return inbox


def _registry_entry(inbox: Path) -> LedgerEntry:
    return LedgerEntry(0, "shops.csv", inbox / "shops.csv")


def test_shards_partition_the_inbox_and_keep_inbox_wide_duplicates(mixed_inbox):
    settings = load_settings(env={})
    shards = plan_batch_shards(mixed_inbox, load_settings(env={"AFTERSALES_SHARDS": "3"}))
    shops = sorted(p.name for p in mixed_inbox.iterdir() if p.is_dir())
    assert sorted(s for shard in shards for s in shard.shop_ids) == shops
    assert [shard.holds_inbox_files for shard in shards] == [True] + [False] * (len(shards) - 1)
    assert plan_batch_shards(mixed_inbox, settings)[0].count == 1  # 5 shops: one shard of up to 100
    # a LocalCluster asks for at least 4 shards per worker, never more than the shops
    assert plan_batch_shards(mixed_inbox, settings, min_shards=4)[0].count == 4
    assert plan_batch_shards(mixed_inbox, settings, min_shards=16)[0].count == len(shops)

    whole = discover_exports(mixed_inbox, _registry_entry(mixed_inbox), set(shops), dump_reader)
    parts = [whole.for_shard(shard) for shard in shards]
    indexes = [e.index for part in parts for e in part.entries]
    assert sorted(indexes) == [e.index for e in whole.entries]  # every entry in exactly one shard
    for shard, part in zip(shards, parts, strict=True):
        assert all(shard.owns(e.shop_id) for e in part.entries)
        assert set(part.sniffs) == {e.index for e in part.entries if e.index in whole.sniffs}
        assert set(part.api_dumps) <= set(shard.shop_ids)
    inbox_files = {e.source_file for e in parts[0].entries if e.shop_id is None}
    assert {"shops.csv", "loose.csv"} <= inbox_files
    copy = next(e for part in parts for e in part.entries if e.source_file.endswith("same-bytes.csv"))
    assert copy.status == "duplicate"  # judged against the first copy, whichever shard holds it


def test_a_task_budget_reaches_every_connection_the_task_opens(tmp_path):
    with database.task_budget(("256MB", 1)):
        con = database.connect(tmp_path / "budget.duckdb")
        try:
            memory, threads = con.execute(
                "SELECT current_setting('memory_limit'), current_setting('threads')"
            ).fetchone()
        finally:
            con.close()
    assert (memory.replace(" ", ""), int(threads)) in {("244.1MiB", 1), ("256.0MB", 1)}
    from aftersales.ingest.scratch_db import MEMORY_LIMIT, scratch_memory_limit

    with database.task_budget(("256MB", 1)):
        assert scratch_memory_limit() == "256MB"  # the smaller of the budget and ingest's own bound
    with database.task_budget(("2GiB", 1)):
        assert scratch_memory_limit() == MEMORY_LIMIT
    outside = database.duckdb_config(load_settings(env={"AFTERSALES_DUCKDB_THREADS": "2"}))
    assert outside["threads"] == 2


def test_thread_budgets_split_the_batch_limit_between_parallel_shards():
    assert parse_bytes("1536MB") == 1_536_000_000 and parse_bytes("2GiB") == 2 << 30
    assert parse_bytes("") is None and parse_bytes("lots") is None
    assert thread_budget("1536MB", 2, cores=2) == ("732MB", 1)
    assert thread_budget("1536MB", 1, cores=2) == ("1464MB", 2)
    assert thread_budget("", 4, cores=2) == ("", 1)


def test_shard_summaries_add_up_to_the_batch_summary():
    def ingest(files, rows, report):
        return IngestSummary(
            "2026-11-27", "r1", files, files, 0, 0, rows, rows, 0, 0, 2,
            per_kind={"orders": KindCounts(files=files, rows_read=rows)}, validation_report_path=report,
        )  # fmt: skip

    merged = combine([ingest(3, 100, "a.html"), ingest(2, 50, "b.html")])
    assert (merged.files_read, merged.rows_read, merged.shops) == (5, 150, 4)
    assert merged.per_kind["orders"] == KindCounts(files=5, rows_read=150)
    assert merged.validation_report_path == "a.html" and merged.run_id == "r1"
    scored = combine([
        ScoringSummary("2026-11-27", "r1", "v1", cases=3, catalogued_rules=411, decisions={"refund": 2},
                       errors=["x"]),
        ScoringSummary("2026-11-27", "r1", "v1", cases=4, catalogued_rules=411, decisions={"refund": 1, "deny": 3}),
    ])  # fmt: skip
    assert (scored.cases, scored.catalogued_rules, scored.errors) == (7, 411, ["x"])
    assert scored.decisions == {"refund": 3, "deny": 3}
