"""The policy stage's SQL models: the feature catalogue in int_case_facts.sql, the build, `aftersales lineage`."""

from __future__ import annotations

import ast
import inspect
from decimal import Decimal
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner
from test_policy_support import BATCH, RULES_DIR, StagingDb

from aftersales import case_columns, warehouse_schema
from aftersales.commands.lineage import register
from aftersales.policy.cases import CASE_TABLE, build_cases, count_cases_without_shop
from aftersales.policy.features import (
    EVIDENCE_TYPES,
    FEATURE_NAMES,
    FEATURES,
    PARTIES,
    empty_case_table_sql,
    evidence_column,
)
from aftersales.rulepack import load_rulebook
from aftersales.sql_models import MODELS_DIR, ModelError, lineage, load_models, stage_models


@pytest.fixture
def small_batch(tmp_path) -> StagingDb:
    """A US shop with a two-line order cancelled, a repeat buyer's two requests, one evidence item."""
    db = StagingDb(tmp_path / "work.duckdb")
    s = db.shop("US1", "US")
    for order_id, request_id, at in (("O1", "R1", "2026-11-10 09:00"), ("O2", "R2", "2026-11-20 09:00")):
        db.order(s, order_id, buyer_pseudonym="buyer-1")
        db.request(s, request_id, order_id, return_reason="Item defective or doesn't work", request_time=at)
    db.order(s, "O3", sku_id="SKU1", price=30.0, amount=100.0, shipped_time=None, delivered_time=None)
    db.order(s, "O3", sku_id="SKU2", price=70.0, amount=100.0, shipped_time=None, delivered_time=None)
    db.cancellation(
        s, "C1", "O3", requested_by="Seller", cancel_reason="Out of stock", request_time="2026-11-24 12:00"
    )
    db.evidence(s, "R2", "Seller", "photo", "2026-11-21 10:00")
    db.evidence(s, "R2", "Seller", "photo", "2026-11-21 11:00", size=0)
    return db


def test_the_score_stage_builds_every_catalogued_feature_with_its_type(small_batch) -> None:
    with duckdb.connect(str(small_batch.path)) as con:
        assert build_cases(con, BATCH, load_rulebook(RULES_DIR)) == 3
        built = con.execute(f"DESCRIBE {CASE_TABLE}").fetchall()
        con.execute(empty_case_table_sql("catalogue_types"))
        declared = con.execute("DESCRIBE catalogue_types").fetchall()
        assert [r[:2] for r in built] == [r[:2] for r in declared]  # names, order and types
        con.execute(warehouse_schema.RESULT_DDL["case_features"])
        stored = dict(r[:2] for r in con.execute("DESCRIBE case_features").fetchall())
        rows_built = dict(r[:2] for r in con.execute("DESCRIBE int_case_feature_rows").fetchall())
        assert rows_built["evidence_detail"] == stored["evidence_detail"]
        assert set(rows_built) == set(stored) - {"run_id"}
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                f"SELECT case_id, pack_id, reason_code, reason_class, order_amount, buyer_prior_requests, "
                f"ev_seller_photo, evidence_items, evidence_invalid_items FROM {CASE_TABLE}"
            ).fetchall()
        }
        assert count_cases_without_shop(con) == 0
        # intermediates are temp tables: nothing but staging lands in the work database
        assert not con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'int_%' AND NOT temporary"
        ).fetchall()
    assert rows["R1"][:2] == ("us_local", "defective") and rows["R1"][2] is not None
    assert rows["C1"][3] == Decimal("100.00")  # order amount repeats on both lines: taken once
    assert (rows["R1"][4], rows["R2"][4]) == (0, 1)  # the same buyer's earlier request
    assert rows["R2"][5:] == (1, 2, 1)  # one valid photo; two items, one of them empty


def test_score_models_run_in_dependency_order_ending_with_the_feature_table() -> None:
    models = load_models()
    order = [m.name for m in stage_models("score", models)]
    assert order[-3:] == ["int_case_facts", "int_case_features", "int_case_feature_rows"]
    for i, name in enumerate(order):
        assert all(order.index(r) < i for r in models[name].reads if r in order), name
    assert lineage(models)["int_case_features"][0] == "int_case_facts"


def test_evidence_features_cover_every_party_and_evidence_type() -> None:
    expected = {evidence_column(p, t) for p in PARTIES for t in EVIDENCE_TYPES}
    assert {n for n in FEATURE_NAMES if n.startswith("ev_")} == expected
    counts_sql = load_models()["int_case_evidence_counts"].sql
    assert all(f" AS {name}" in counts_sql for name in expected)


def test_a_feature_without_type_and_meaning_is_refused(tmp_path) -> None:
    source = (MODELS_DIR / "int_case_facts.sql").read_text(encoding="utf-8")
    assert "    c.ship_from,  -- VARCHAR: ISO country the shop ships from\n" in source
    broken = tmp_path / "int_case_facts.sql"
    broken.write_text(
        source.replace(
            "    c.ship_from,  -- VARCHAR: ISO country the shop ships from\n", "    c.ship_from,\n"
        )
    )
    with pytest.raises(ModelError, match=r"int_case_facts\.sql: output column 'c.ship_from'"):
        case_columns.read_catalogue(broken)
    twice = tmp_path / "twice" / "int_case_facts.sql"
    twice.parent.mkdir()
    twice.write_text(source.replace("    c.ship_from,  --", "    c.ship_from AS market,  --"))
    with pytest.raises(ModelError, match=r"\['market'\] given twice"):
        case_columns.read_catalogue(twice)


def test_the_warehouse_schema_reads_stored_columns_from_the_catalogue_not_from_policy() -> None:
    imports = [
        node.module
        for node in ast.walk(ast.parse(inspect.getsource(warehouse_schema)))
        if isinstance(node, ast.ImportFrom)
    ]
    assert not [m for m in imports if m and m.startswith("aftersales.policy")]
    with duckdb.connect() as con:
        con.execute(warehouse_schema.RESULT_DDL["case_features"])
        stored = [r[0] for r in con.execute("DESCRIBE case_features").fetchall()]
    assert set(stored) >= set(FEATURE_NAMES) and "evidence_detail" in stored
    assert [f.name for f in FEATURES] == list(FEATURE_NAMES)


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        pass

    register(group)
    return group


def test_lineage_prints_each_model_with_what_it_reads(cli) -> None:
    result = CliRunner().invoke(cli, ["lineage"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "int_case_features [score] <- int_case_facts, policy_cancel_class, policy_mall_shop, "
        "policy_pack_scope, policy_price_band, policy_reason_class"
    ) in lines
    assert len(lines) == len(load_models())


def test_lineage_draws_dot_and_mermaid(cli) -> None:
    dot = CliRunner().invoke(cli, ["lineage", "--format", "dot"])
    assert dot.exit_code == 0 and dot.output.startswith("digraph lineage {")
    assert '  "int_case_facts" -> "int_case_features";' in dot.output.splitlines()
    assert '  "stg_evidence" [style=dashed];' in dot.output.splitlines()  # a source, not a model
    mermaid = CliRunner().invoke(cli, ["lineage", "--format", "mermaid"])
    assert mermaid.exit_code == 0 and mermaid.output.startswith("flowchart LR")
    assert "  int_case_facts --> int_case_features" in mermaid.output.splitlines()


def test_lineage_reports_a_broken_model_in_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("-- model: m\n-- stage: score\n-- reads: a\n-- Rows.\nSELECT * FROM b\n")
    result = CliRunner().invoke(cli, ["lineage", "--models", str(tmp_path)])
    assert result.exit_code == 1
    assert "m.sql: header `reads` disagrees with the SQL" in result.output
