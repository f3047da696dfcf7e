"""Validate phase: a typed kind -> the outcome of each of its Great Expectations row gates.

Before its gates run, a kind is finished in SQL: each file's first record is flagged when it
reads as a row of field explanations, and caps taken from the orders export are filled in. The
gates read narrow frames (just the columns a suite part needs), never the kind as one wide frame.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from aftersales.export_kinds import KINDS, Kind
from aftersales.ingest.export_admission import DecodedExport
from aftersales.ingest.scratch_db import typed_table
from aftersales.ingest.typing_sql import description_row_condition
from aftersales.quality.suites import KindSuite
from aftersales.quality.validate import GateOutcome, QualityGate
from aftersales.sql_quoting import sql_ident


def finish_kind(con, kind: Kind, reads: Iterable[DecodedExport]) -> None:
    """Description rows flagged and order amounts for caps filled in: the kind is ready for its gates."""
    mark_description_rows(con, kind, reads)
    if any(cap.cap_from_orders for cap in kind.caps):
        con.execute(
            f"""UPDATE {typed_table(kind)} AS t SET __order_amount = o.amount
                FROM (SELECT shop_id, order_id, max(order_amount) AS amount
                      FROM {typed_table(KINDS["orders"])} WHERE NOT __description
                      GROUP BY shop_id, order_id) AS o
                WHERE t.shop_id = o.shop_id AND t.order_id = o.order_id"""
        )


def mark_description_rows(con, kind: Kind, reads: Iterable[DecodedExport]) -> None:
    """Flag each file's first record when it reads as a row of field explanations."""
    firsts = pd.DataFrame(
        [
            (r.entry.index, int(r.numbered.record_lines[0]))
            for r in reads
            if r.recognition.kind is kind and r.entry.status == "ingested" and r.numbered.records
        ],
        columns=["file", "line"],
    ).astype("int64")
    if firsts.empty:
        return
    con.register("first_records", firsts)
    con.execute(
        f"""UPDATE {typed_table(kind)} SET __description = TRUE FROM first_records AS f
            WHERE __file = f.file AND __line = f.line AND ({description_row_condition(kind)})"""
    )
    con.unregister("first_records")


def gate_outcomes(con, quality: QualityGate, kind: Kind) -> list[GateOutcome]:
    """The kind's row gates run by GX on narrow frames read through `con`."""
    suite = quality.suite(kind)
    try:
        return quality.validate(kind, lambda columns: gate_frame(con, kind, suite, columns))
    finally:
        pa.default_memory_pool().release_unused()  # hand the frames' Arrow buffers back to the OS


def gate_frame(con, kind: Kind, suite: KindSuite, columns: tuple[str, ...]) -> pd.DataFrame:
    """The named gate columns of a kind's records (description rows excluded), indexed by record id.

    Through Arrow, text columns arrive as pandas' string dtype (an all-NULL "(unparsed)" column
    is a null bitmap, not a million Python None objects).
    """
    cols = ", ".join(f"{suite.frame_sql[c]} AS {sql_ident(c)}" for c in columns)
    return (
        con.sql(f"SELECT t.__rid, {cols} FROM {typed_table(kind)} AS t WHERE NOT t.__description")
        .to_arrow_table()
        .to_pandas(self_destruct=True, split_blocks=True)
        .set_index("__rid")
        .rename_axis(None)  # an unnamed index makes GX list failing ids as plain values
    )
