"""Run the per-kind suites with Great Expectations and return failing record ids per gate.

One ephemeral GX context per run. Each kind's gates are registered once: the header suite
(required columns) runs on a zero-row frame of a file's recognised columns (once per distinct
header set: the verdict depends on nothing else); the row suites run once per run over all
records of the kind (the frame carries the record id as its index, so COMPLETE results name
every failing record) -- single-column gates on one frame, each multi-column gate on a frame of
just its columns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aftersales.ingest.kinds import Kind
from aftersales.quality.suites import Gate, KindSuite, build_suite

log = logging.getLogger(__name__)


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

        self._gx = gx
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
        result = definition.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": result_format}
        )
        return [(by_id[r.expectation_config.id], r) for r in result.results]

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

    def validate(self, kind: Kind, frame: pd.DataFrame) -> list[GateOutcome]:
        """Row gates over a frame indexed by record id (outcomes in `row_gates` order)."""
        ks = self.suite(kind)
        if frame.empty:
            return [GateOutcome(g, True, 0, np.empty(0, dtype=np.int64)) for g in ks.row_gates]
        by_gate: dict[int, GateOutcome] = {}
        for part, (columns, _) in _row_parts(kind.name, ks.row_gates).items():
            for outcome in self._validate_part(kind, part, frame[list(columns)]):
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
    """Row gates batched by the frame they need: (frame columns, gates) per GX suite name."""
    single = [g for g in gates if len(g.columns) == 1]
    columns = tuple(dict.fromkeys(c for g in single for c in g.columns))
    parts: dict[str, tuple[tuple[str, ...], list[Gate]]] = {kind_name: (columns, single)} if single else {}
    for gate in gates:
        if len(gate.columns) > 1:
            name = f"{kind_name}.{'+'.join(gate.columns)}"
            parts.setdefault(name, (gate.columns, []))[1].append(gate)
    return parts
