"""Run the per-kind suites with Great Expectations and return failing record ids per gate.

One ephemeral GX context per run. Each kind's gates are registered once: the header suite
(required columns) runs on a zero-row frame of a file's recognised columns (once per distinct
header set: the verdict depends on nothing else); the row suites run once per run over all
records of the kind (the frame carries the record id as its index, so COMPLETE results name
every failing record), each group of gates reading the same columns on a frame of just those
columns. The frames can be fetched one part at a time (`FrameSource`), so only one narrow frame
is in memory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aftersales.export_kinds import Kind
from aftersales.quality.suites import Gate, KindSuite, build_suite

log = logging.getLogger(__name__)

_NULL_CHECK = "expect_column_values_to_be_null"


# The frame of some columns of a kind's records, indexed by record id (columns as given).
FrameSource = Callable[[tuple[str, ...]], pd.DataFrame]


@dataclass
class GateOutcome:
    gate: Gate
    success: bool
    element_count: int
    unexpected_ids: np.ndarray  # record ids (frame index) that fail the gate
    error: str | None = None  # GX could not evaluate the expectation


class QualityGate:
    """A run's Great Expectations context with one registered suite per export kind."""

    def __init__(self, timezone_names: list[str]):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        self._gx = gx
        # GX fingerprints every batch frame below HASH_THRESHOLD bytes (md5 over a hash of every
        # row and the index) only to store it in the batch markers, which nothing reads; for the
        # row gates' million-row frames that was a third of their CPU. 0: no frame is fingerprinted.
        pandas_execution_engine.HASH_THRESHOLD = 0
        # This GX module sets its own logger to INFO on import; it only announces temp folders.
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("ingest")
        self.timezone_names = timezone_names
        self._suites: dict[str, tuple[KindSuite, dict]] = {}
        self._header_verdicts: dict[tuple[str, frozenset[str]], list[tuple[Gate, bool]]] = {}

    def suite(self, kind: Kind) -> KindSuite:
        return self._registered(kind)[0]

    def _registered(self, kind: Kind):
        """The kind's gates as GX suites: "<kind>.header" (required columns, judged on each
        file's header) and the row expectations, judged on all records of the kind: "<kind>"
        (single-column gates, one frame) plus one "<kind>.<columns>" suite per multi-column gate
        on a frame of just its columns (GX drops rows with missing values from the whole frame
        for each such metric: on a narrow frame that copy is small)."""
        if kind.name not in self._suites:
            gx = self._gx
            ks = build_suite(kind, self.timezone_names)
            parts = {}
            for name, gates in (
                (f"{kind.name}.header", ks.column_gates),
                *((part, gates) for part, (_, gates) in _row_parts(kind.name, ks.row_gates).items()),
            ):
                # Built in one go: adding expectations one by one re-serialises the suite each time.
                suite = self.context.suites.add(
                    gx.ExpectationSuite(name=name, expectations=[g.expectation for g in gates])
                )
                by_id = {exp.id: g for exp, g in zip(suite.expectations, gates, strict=True)}
                batch = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("records")
                definition = self.context.validation_definitions.add(
                    gx.ValidationDefinition(name=name, data=batch, suite=suite)
                )
                parts[name] = (definition, by_id)
            self._suites[kind.name] = (ks, parts)
        return self._suites[kind.name]

    def _run(self, kind: Kind, part: str, frame: pd.DataFrame, result_format: str):
        _, parts = self._registered(kind)
        definition, by_id = parts[part]
        try:
            result = definition.run(
                batch_parameters={"dataframe": frame}, result_format={"result_format": result_format}
            )
        finally:
            self._release_batches()
        return [(by_id[r.expectation_config.id], r) for r in result.results]

    def _release_batches(self) -> None:
        """Drop the frames GX keeps cached after a run (one per suite, until that suite runs
        again): with a frame per part, holding them all would keep every column of every kind in
        memory for the whole run."""
        batches = self.source.get_execution_engine().batch_manager
        batches.batch_data_cache.clear()
        batches.reset_batch_cache()

    def check_columns(self, kind: Kind, headers: list[str]) -> list[GateOutcome]:
        """Required-column gates judged on a file's recognised headers (zero-row frame).

        The verdict depends only on the set of recognised headers, so GX validates each distinct
        header set once per run; files sharing a layout reuse it (a run has a handful of layouts
        and thousands of files).
        """
        layout = (kind.name, frozenset(headers))
        if layout not in self._header_verdicts:
            frame = pd.DataFrame({h: pd.Series([], dtype="str") for h in headers})
            self._header_verdicts[layout] = [
                (gate, bool(r.success)) for gate, r in self._run(kind, f"{kind.name}.header", frame, "BASIC")
            ]
        return [
            GateOutcome(gate, success, 0, np.empty(0, dtype=np.int64))
            for gate, success in self._header_verdicts[layout]
        ]

    def validate(self, kind: Kind, frame: pd.DataFrame | FrameSource) -> list[GateOutcome]:
        """Row gates over records indexed by record id (outcomes in `row_gates` order).

        `frame` holds every column the gates read, or is a `FrameSource` called once per part
        with the columns that part needs. The suites of a kind are registered by `suite(kind)`;
        once every kind's are, `validate` may run on another thread than the one reading the
        data (one validating thread at a time: the GX context is not shared across threads).
        """
        ks = self.suite(kind)
        source: FrameSource = (
            (lambda columns: frame[list(columns)]) if isinstance(frame, pd.DataFrame) else frame
        )
        by_gate: dict[int, GateOutcome] = {}
        for part, (columns, gates) in _row_parts(kind.name, ks.row_gates).items():
            part_frame = source(columns)
            if part_frame.empty:
                outcomes = [GateOutcome(g, True, 0, np.empty(0, dtype=np.int64)) for g in gates]
            else:
                outcomes = self._validate_part(kind, part, part_frame)
            del part_frame
            for outcome in outcomes:
                by_gate[id(outcome.gate)] = outcome
        return [by_gate[id(g)] for g in ks.row_gates]

    def _validate_part(self, kind: Kind, part: str, frame: pd.DataFrame) -> list[GateOutcome]:
        outcomes = []
        for gate, r in self._run(kind, part, frame, "COMPLETE"):
            info = r.exception_info or {}
            raised = [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
            if info.get("raised_exception") or raised:
                message = (raised[0] if raised else info).get("exception_message") or "expectation raised"
                log.error("%s: %s could not be evaluated: %s", kind.name, gate.type, message)
                outcomes.append(GateOutcome(gate, False, len(frame), np.empty(0, dtype=np.int64), message))
                continue
            ids = np.asarray(r.result.get("unexpected_index_list") or [], dtype=np.int64)
            outcomes.append(
                GateOutcome(gate, bool(r.success), int(r.result.get("element_count", len(frame))), ids)
            )
        return outcomes


def _row_parts(kind_name: str, gates: list[Gate]) -> dict[str, tuple[tuple[str, ...], list[Gate]]]:
    """Row gates batched by the columns they read: (frame columns, gates) per GX suite name.

    Each suite validates a frame of just its columns. GX's pandas engine copies the whole batch
    frame for every expectation that skips missing values (and fingerprints every batch), so
    one wide frame for all single-column gates would cost O(gates x columns x rows); narrow
    frames make it O(gates x rows). The exception: columns checked only for being null (the
    "(unparsed)" columns, nearly all null) share one frame, since those expectations copy only
    their few failing rows and a validation run has a fixed cost of its own.
    """
    by_columns: dict[tuple[str, ...], list[Gate]] = {}
    for gate in gates:
        by_columns.setdefault(gate.columns, []).append(gate)
    parts: dict[str, tuple[tuple[str, ...], list[Gate]]] = {}
    null_checks = [cols for cols, gs in by_columns.items() if all(g.type == _NULL_CHECK for g in gs)]
    if len(null_checks) > 1:
        columns = tuple(c for cols in null_checks for c in cols)
        parts[f"{kind_name}.(null checks)"] = (
            columns,
            [g for cols in null_checks for g in by_columns.pop(cols)],
        )
    for columns, gs in by_columns.items():
        parts[f"{kind_name}.{'+'.join(columns)}"] = (columns, gs)
    return parts
