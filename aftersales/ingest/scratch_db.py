"""The run's scratch DuckDB: one typed table per export kind and the quarantine rows (`q_rows`).

Every ingest phase works on this one in-memory connection; the write phase copies its final
state into the work database in one transaction. It holds no personal data (pseudonyms and
derived message facts only; quarantine `raw` is masked before it is stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from aftersales.database import current_task_budget, duckdb_config, parse_bytes
from aftersales.export_kinds import KINDS, Kind
from aftersales.ingest.pseudonyms import install_pseudonym_key
from aftersales.ingest.typing_sql import install_macros, typed_table_ddl
from aftersales.quality.validate import QualityGate
from aftersales.settings import Settings
from aftersales.sql_quoting import sql_literal

# DuckDB working memory for ingestion; beyond it, intermediate tables spill to the temp folder.
MEMORY_LIMIT = "768MB"
Q_ROW_COLUMNS = ("file", "line", "rid", "scope", "expectation", "reason", "raw")


def typed_table(kind: Kind) -> str:
    """The run's typed table of a kind, in the scratch database."""
    return f"scratch.typed_{kind.name}"


class QuarantineRows:
    """Quarantine rows of the reading pass, queued and inserted into `q_rows` in one bulk insert
    (a registered frame per file is slow)."""

    def __init__(self, con) -> None:
        self.con = con
        self.pending: list[tuple] = []

    def add(self, rows: list[tuple]) -> None:
        self.pending.extend(rows)

    def forget_file(self, file: int) -> None:
        """Drop a file's queued and inserted rows (its scan failed: the file is skipped)."""
        self.con.execute(f"DELETE FROM q_rows WHERE file = {file}")
        self.pending = [r for r in self.pending if r[0] != file]

    def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        frame = pd.DataFrame(rows, columns=list(Q_ROW_COLUMNS)).astype(
            {"file": "int32", "line": "Int64", "rid": "Int64"}
        )
        self.con.register("new_q_rows", frame)
        self.con.execute("INSERT INTO q_rows SELECT * FROM new_q_rows")
        self.con.unregister("new_q_rows")


@dataclass(frozen=True)
class Scratch:
    """What every phase shares: the scratch connection, the numbered copies' folder, the run's
    Great Expectations suites and the queue of quarantine rows."""

    con: duckdb.DuckDBPyConnection
    tmp: Path
    quality: QualityGate
    quarantine: QuarantineRows


def scratch_memory_limit() -> str:
    """MEMORY_LIMIT, or the running task's DuckDB budget when that is smaller (a shard on a worker)."""
    budget = current_task_budget()
    wanted = parse_bytes(budget[0]) if budget is not None else None
    return budget[0] if wanted is not None and wanted < parse_bytes(MEMORY_LIMIT) else MEMORY_LIMIT


def open_scratch(settings: Settings, tmp: Path, key: bytes) -> Scratch:
    """A fresh scratch database with the typing macros, the pseudonym key and empty typed tables;
    the caller closes `Scratch.con`."""
    # The batch's DuckDB options (threads), with ingestion's own tighter memory bound.
    con = duckdb.connect(
        ":memory:", config={**duckdb_config(settings), "memory_limit": scratch_memory_limit()}
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET temp_directory = {sql_literal(str(tmp / 'spill'))}")
        con.execute("SET preserve_insertion_order = false")
        # Typed tables live in a compressed in-memory scratch database: compressed like a database
        # file (a few hundred MiB for a default batch) and, like any buffer-managed block, spilled
        # to the temp folder beyond the memory limit, but without a file's write-ahead log and
        # checkpoints (typing ~10% cheaper than into a scratch file).
        con.execute("ATTACH ':memory:' AS scratch (COMPRESS)")
        install_macros(con)
        install_pseudonym_key(con, key)
        for kind in KINDS.values():
            con.execute(typed_table_ddl(kind, typed_table(kind)))
        con.execute(
            """CREATE TEMP TABLE q_rows (file INTEGER, line BIGINT, rid BIGINT, scope VARCHAR,
                   expectation VARCHAR, reason VARCHAR, raw VARCHAR)"""
        )
        names = [r[0] for r in con.execute("SELECT name FROM pg_timezone_names() ORDER BY name").fetchall()]
        quality = QualityGate(names)
        for kind in KINDS.values():
            # Registered up front: from the first background validation on, only the validating
            # thread touches the GX context.
            quality.suite(kind)
    except BaseException:
        con.close()
        raise
    return Scratch(con, tmp, quality, QuarantineRows(con))
