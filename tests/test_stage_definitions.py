"""The declared stages (aftersales.definitions): consistent on paper, and true of a real run."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from aftersales import definitions, pipeline, progress
from aftersales.definitions import STAGES, published_tables
from aftersales.run_record import RunRecord
from aftersales.settings import load_settings
from aftersales.staging import STAGING_TABLES
from aftersales.warehouse_schema import BATCH_TABLES, expected_columns

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 27)


def test_every_input_is_staged_or_an_output_of_an_earlier_stage():
    available: set[str] = set()
    for stage in STAGES:
        missing = set(stage.inputs) - available
        assert not missing, f"stage {stage.name} reads {sorted(missing)} before any stage writes them"
        available |= set(stage.outputs)
    assert set(STAGING_TABLES) <= available


def test_each_table_has_one_writer_and_published_tables_are_the_warehouse_batch_tables():
    written = [table for stage in STAGES for table in stage.outputs]
    assert len(written) == len(set(written)), "a table declared as the output of two stages"
    for stage in STAGES:
        assert set(stage.published) <= set(stage.outputs), stage.name
    assert sorted(published_tables()) == sorted(BATCH_TABLES)
    assert published_tables() == BATCH_TABLES  # the warehouse schema's order
    assert "sla_obligations" not in published_tables()  # health's input, kept in the work database
    assert "sla_obligations" in next(s for s in STAGES if s.name == "health").inputs


def test_declared_inputs_and_outputs_agree_with_the_sql_models_lineage():
    """The stages that run models/*.sql: their declared tables are what the models read and keep."""
    from aftersales.sql_models import STAGES as MODEL_STAGES
    from aftersales.sql_models import load_models, stage_models

    declared_outputs = {table: stage.name for stage in STAGES for table in stage.outputs}
    by_name = {stage.name: stage for stage in STAGES}
    for name in MODEL_STAGES:
        models = stage_models(name)
        built = {m.name for m in models}
        read = {r for m in models for r in m.reads} - built
        # Tables an earlier stage writes; the rest are the rule tables the stage loads itself.
        assert set(by_name[name].inputs) == read & declared_outputs.keys(), name
    for model in load_models().values():
        if model.materialized == "table":  # kept in the work database: some later stage reads it
            assert declared_outputs.get(model.name) == model.stage, model.name
        elif model.name in declared_outputs:  # a result table's batch rows, swapped in by its stage
            assert declared_outputs[model.name] == model.stage, model.name


def test_flow_tasks_and_progress_bar_follow_the_declared_list():
    from tasks import stages

    names = tuple(stage.name for stage in STAGES)
    assert len(set(names)) == len(names)
    assert progress.NIGHTLY_STAGES == names == definitions.stage_names()
    assert [s.name for p in ("extract", "transform", "load") for s in definitions.phase(p)] == list(names)
    for stage in STAGES:
        task = stages.TASKS[stage.name]
        assert task.name == stage.name and task.fn is stage.run and task.retries == stage.retries
    assert stages.publish is stages.TASKS["publish"]


def test_run_record_rows_have_exactly_the_runs_columns():
    record = RunRecord("r1", DAY, Path("/inbox"), "flow-1")
    runs_columns = [column for column, _ in expected_columns()["runs"]]
    for row in (record.started(), record.succeeded(), record.failed("boom")):
        assert list(row) == runs_columns[: len(row)] and set(row) <= set(runs_columns)
    assert record.started()["status"] == "running" and record.failed("boom")["error"] == "boom"
    record.stage_finished("ingest", 1.5, {"files_read": 3, "rows_read": 40, "rows_quarantined": 2})
    row = record.succeeded()
    assert (row["status"], row["files_read"], row["rows_read"], row["rows_quarantined"]) == (
        "success",
        3,
        40,
        2,
    )
    assert json.loads(row["stage_timings"]) == {"ingest": 1.5} and row["error"] is None
    assert json.loads(row["rule_pack_versions"]) == {} and row["policy_version"] is None


@pytest.fixture(scope="module")
def observed_run(tmp_path_factory):
    """The plain runner over a tiny generated inbox, noting the work tables before and after each stage."""
    from aftersales.generate.sample_inbox import generate_inbox
    from aftersales.generate.spec import GeneratorSpec

    base = tmp_path_factory.mktemp("declared")
    inbox = base / "inbox"
    generate_inbox(inbox, GeneratorSpec(shops=2, orders=40, seed=3, batch_date=DAY), overwrite=True)
    settings = load_settings()
    run_id = pipeline.new_run_id(DAY)
    paths = pipeline.batch_paths(inbox, base / "wh.duckdb", settings.rules_dir, base / "reports", run_id)
    record = RunRecord(run_id, DAY, paths.inbox)
    seen: dict[str, tuple[set[str], set[str]]] = {}

    def observing(stage, *args, **kwargs):
        before = work_tables(paths.work_db)
        out = stage.run(*args, **kwargs)
        seen[stage.name] = (before, work_tables(paths.work_db))
        return out

    pipeline.record_started(paths, record.started())
    results = definitions.run_stages(STAGES, paths, record, settings, call=observing)
    pipeline.discard_work(paths)
    return {"paths": paths, "record": record, "results": results, "seen": seen}


def work_tables(work_db: Path) -> set[str]:
    if not work_db.exists():
        return set()
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()


@pytest.mark.slow
def test_the_plain_runner_times_every_declared_stage_and_publishes_one_runs_row(observed_run):
    record, paths = observed_run["record"], observed_run["paths"]
    assert list(record.stage_timings) == list(definitions.stage_names())
    assert record.book is not None and record.ingest["files_read"] > 0
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        runs = con.execute("SELECT run_id, status, stage_timings FROM runs").fetchall()
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in published_tables()}
    finally:
        con.close()
    assert [(r[0], r[1]) for r in runs] == [(record.run_id, "success")]
    # the row is written inside publish: it times every stage before the load phase
    assert list(json.loads(runs[0][2])) == [s.name for s in STAGES if s.phase != "load"]
    assert counts["rulings"] > 0 and counts["file_ledger"] > 0 and counts["seller_health"] > 0


@pytest.mark.slow
def test_each_stage_finds_its_inputs_and_writes_its_declared_outputs(observed_run):
    differences = set()
    for stage in STAGES:
        before, after = observed_run["seen"][stage.name]
        differences |= {(stage.name, "reads", t) for t in set(stage.inputs) - before}
        differences |= {(stage.name, "writes", t) for t in set(stage.outputs) - after}
        others = {t for s in STAGES if s is not stage for t in s.outputs}
        differences |= {(stage.name, "also creates", t) for t in (after - before) & others}
    assert not differences, sorted(differences)
