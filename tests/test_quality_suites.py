"""Quality gates: the per-kind suites, real Great Expectations validation of small frames, and the
HTML validation report."""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pytest

from aftersales.export_kinds import KINDS
from aftersales.ingest.ledger import LedgerEntry
from aftersales.quality.suites import UNPARSED, build_suite
from aftersales.quality.validate import QualityGate
from aftersales.quality.validation_page import (
    render_validation_report,
    save_validation_report,
    write_validation_report,
)


@pytest.fixture(scope="module")
def gate():
    return QualityGate(["America/Los_Angeles", "Asia/Bangkok", "UTC"])


def _types(kind_name: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for g in build_suite(KINDS[kind_name]).gates:
        out[(g.type, g.label)] = out.get((g.type, g.label), 0) + 1
    return out


def test_every_kind_has_a_suite_covering_its_declaration():
    for kind in KINDS.values():
        ks = build_suite(kind, ["UTC"])
        labels = {(g.type, g.label) for g in ks.gates}
        for col in kind.columns:
            if col.required:
                assert ("expect_column_to_exist", col.header) in labels
            if col.not_null:
                assert ("expect_column_values_to_not_be_null", col.header) in labels
            if col.type == "enum":
                assert ("expect_column_values_to_be_in_set", col.header) in labels
            if col.type in ("time", "money", "int", "float", "bool") and col.checked:
                assert ("expect_column_values_to_be_null", col.header) in labels  # the "(unparsed)" column
        for earlier, later in kind.event_order:
            assert ("expect_column_pair_values_a_to_be_greater_than_b", f"{later},{earlier}") in labels
        # Row gates read only columns the frame SQL provides; personal columns never are.
        for g in ks.row_gates:
            assert set(g.columns) <= set(ks.frame_sql), (kind.name, g.columns)
        personal = {c.header for c in kind.personal}
        assert not personal & set(ks.frame_sql)


def test_evidence_size_and_hash_are_not_gates():
    labels = {label for _, label in _types("evidence")}
    assert "File Size Bytes" not in labels and "SHA256" not in labels


def test_row_gates_name_each_failing_record(gate):
    kind = KINDS["orders"]
    ks = gate.suite(kind)
    frame = pd.DataFrame({name: pd.Series([None] * 4, dtype="object") for name in ks.frame_sql})
    frame["Shop"] = "S1"
    frame["Order ID"] = ["O1", None, "O3", "O3"]
    frame["SKU ID"] = ["K1", "K1", "K1", "K1"]
    frame["Order Amount"] = [10.0, 5.0, -1.0, 10.0]
    frame["Order Refund Amount"] = [0.0, 6.0, 0.0, 0.0]
    ts = pd.to_datetime(
        ["2026-11-01 10:00", "2026-11-01 10:00", "2026-11-01 10:00", "2026-11-01 10:00"], utc=True
    )
    frame["Paid Time"] = ts
    frame["Shipped Time"] = ts + pd.to_timedelta([1, -1, 1, 1], unit="h")
    frame["Paid Time" + UNPARSED] = [None, None, "31/02/2026", None]
    frame = frame.set_axis(pd.Index([101, 102, 103, 104]))
    outcomes = {(o.gate.type, o.gate.label): o for o in gate.validate(kind, frame)}

    def failing(expectation, label):
        return sorted(outcomes[(expectation, label)].unexpected_ids.tolist())

    assert failing("expect_column_values_to_not_be_null", "Order ID") == [102]
    assert failing("expect_column_values_to_be_between", "Order Amount") == [103]
    assert failing(
        "expect_column_pair_values_a_to_be_greater_than_b", "Order Refund Amount,Order Amount"
    ) == [102, 103]
    assert failing("expect_column_pair_values_a_to_be_greater_than_b", "Shipped Time,Paid Time") == [102]
    assert failing("expect_column_values_to_be_null", "Paid Time") == [103]
    assert failing("expect_compound_columns_to_be_unique", "Order ID,SKU ID") == [103, 104]
    assert failing("expect_column_values_to_not_be_null", "SKU ID") == []
    assert outcomes[("expect_column_values_to_not_be_null", "SKU ID")].success is True
    assert all(o.error is None for o in outcomes.values())


def test_header_gates_report_missing_required_columns(gate):
    outcomes = gate.check_columns(
        KINDS["messages"], ["Conversation ID", "Sender Role", "Sent Time", "Content"]
    )
    assert {o.gate.label: o.success for o in outcomes} == {
        "Conversation ID": True,
        "Message ID": False,
        "Sender Role": True,
        "Sent Time": True,
    }


def test_time_zone_vocabulary_comes_from_the_caller(gate):
    kind = KINDS["shops"]
    ks = gate.suite(kind)
    frame = pd.DataFrame({name: pd.Series([None, None], dtype="object") for name in ks.frame_sql})
    frame["Shop ID"] = ["A", "B"]
    frame["Market"] = ["US", "TH"]
    frame["Program"] = ["local", "local"]
    frame["Chatbots Enabled"] = [True, False]
    frame["Timezone"] = ["America/Los_Angeles", "Mars/Olympus_Mons"]
    frame = frame.set_axis(pd.Index([7, 8]))
    failing = {
        o.gate.label: o.unexpected_ids.tolist() for o in gate.validate(kind, frame) if o.unexpected_ids.size
    }
    assert failing == {"Timezone": [8]}


@dataclass
class _Summary:
    batch_date: str = "2026-11-27"
    run_id: str = "run/1 <x>"
    shops: int = 1
    files_read: int = 2
    files_skipped: int = 1
    files_duplicate: int = 0
    rows_read: int = 3
    rows_staged: int = 2
    rows_quarantined: int = 1
    rows_skipped_description: int = 0


def test_report_is_a_self_contained_escaped_page(tmp_path):
    ledger = [
        LedgerEntry(
            0, "shops.csv", tmp_path, "a" * 64, 10, "shops", None, "utf-8", "ingested", None, None, 1, 1
        )
    ]
    ledger.append(
        LedgerEntry(1, "S1/<odd>.csv", tmp_path, "b" * 64, 5, None, "S1", None, "skipped", "binary file")
    )
    validation = [
        (date(2026, 11, 27), "run", "orders", "S1/o.csv", "orders", "expect_column_values_to_not_be_null", "Order ID",
         False, 3, 1, "{}"),
        (date(2026, 11, 27), "run", "orders", "S1/o.csv", "orders", "expect_column_to_exist", "Order ID", True, 0, 0,
         "{}"),
    ]  # fmt: skip
    reasons = [
        ("expect_column_values_to_not_be_null", "expect_column_values_to_not_be_null: Order ID is empty", 1)
    ]
    sample = [("S1/o.csv", 3, "expect_column_values_to_not_be_null: Order ID is empty <script>")]
    path = write_validation_report(tmp_path / "reports", _Summary(), ledger, validation, reasons, sample)
    assert path.name == "ingest-validation-2026-11-27-run_1_x_.html"
    html = path.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "S1/&lt;odd&gt;.csv" in html and "1/2 passed" in html
    assert "<link" not in html and "src=" not in html  # no external assets
    # Rendering is separate from saving (ingestion renders while DuckDB writes): same page.
    rendered = render_validation_report(_Summary(), ledger, validation, reasons, sample)
    assert rendered == html
    again = save_validation_report(tmp_path / "reports", _Summary(), rendered)
    assert again == path and path.read_text(encoding="utf-8") == rendered
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # written in place, no temporary left


def _orders_frame(gate) -> pd.DataFrame:
    ks = gate.suite(KINDS["orders"])
    frame = pd.DataFrame({name: pd.Series([None] * 4, dtype="object") for name in ks.frame_sql})
    frame["Shop"] = "S1"
    frame["Order ID"] = ["O1", None, "O3", "O3"]
    frame["SKU ID"] = ["K1", "K1", "K1", "K1"]
    frame["Quantity"] = pd.Series([1, 2, -1, 3], dtype="int64")
    frame["Sku Quantity of return"] = pd.Series([0, 3, 0, 0], dtype="int64")
    frame["Order Amount"] = [10.0, 5.0, -1.0, 10.0]
    frame["Order Refund Amount"] = [0.0, 6.0, 0.0, 0.0]
    frame["Paid Time" + UNPARSED] = [None, None, "31/02/2026", None]
    frame["Taxes" + UNPARSED] = [None, "n/a", None, None]
    return frame.set_axis(pd.Index([101, 102, 103, 104]))


def test_parts_read_narrow_frames_and_agree_with_one_whole_frame(gate):
    kind = KINDS["orders"]
    frame = _orders_frame(gate)
    asked: list[tuple[str, ...]] = []

    def source(columns: tuple[str, ...]) -> pd.DataFrame:
        asked.append(columns)
        return frame[list(columns)]

    parts = gate.validate(kind, source)
    whole = gate.validate(kind, frame)
    assert [(o.gate.label, o.unexpected_ids.tolist(), o.success) for o in parts] == [
        (o.gate.label, o.unexpected_ids.tolist(), o.success) for o in whole
    ]
    failing = {(o.gate.type, o.gate.label): sorted(o.unexpected_ids.tolist()) for o in parts}
    assert failing[("expect_column_values_to_be_between", "Quantity")] == [103]
    assert failing[("expect_column_values_to_be_null", "Taxes")] == [102]
    # The null checks of the "(unparsed)" columns share one frame; every other frame holds only
    # the columns of the gates it serves (at most Shop + the order line key).
    (unparsed,) = [cols for cols in asked if any(c.endswith(UNPARSED) for c in cols)]
    assert all(c.endswith(UNPARSED) for c in unparsed) and len(unparsed) > 1
    assert max(len(cols) for cols in asked if cols != unparsed) == 3


def test_validated_frames_are_released(gate):
    kind = KINDS["orders"]
    frame = _orders_frame(gate)
    handed: list[weakref.ref] = []

    def source(columns: tuple[str, ...]) -> pd.DataFrame:
        part = frame[list(columns)].copy()
        handed.append(weakref.ref(part))
        return part

    gate.validate(kind, source)
    gc.collect()
    assert handed and all(ref() is None for ref in handed)


def test_gate_frames_are_not_fingerprinted(gate):
    """GX would md5 every batch frame for its batch markers (a third of the row gates' CPU on a
    default batch); a run's gate context skips it, and the validation itself is unchanged."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gate.context.suites.add(
        gx.ExpectationSuite(
            name="fingerprint probe", expectations=[gxe.ExpectColumnValuesToNotBeNull(column="a")]
        )
    )
    batch = gate.source.add_dataframe_asset("fingerprint probe").add_batch_definition_whole_dataframe("all")
    definition = gate.context.validation_definitions.add(
        gx.ValidationDefinition(name="fingerprint probe", data=batch, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": pd.DataFrame({"a": [1.0, None, 3.0]})},
        result_format={"result_format": "COMPLETE"},
    )
    markers = result.meta["batch_markers"]
    assert "ge_load_time" in markers
    assert "pandas_data_fingerprint" not in markers
    (check,) = result.results
    assert not check.success and check.result["unexpected_index_list"] == [1]
