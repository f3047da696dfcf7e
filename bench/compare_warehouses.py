"""Are two warehouses' published results identical? `python bench/compare_warehouses.py BEFORE AFTER`

The acceptance check of a refactor (issue #12): run the batch on the same inbox before and after,
then compare every published table (`aftersales.definitions.published_tables()`) and `runs`,
column by column, rows matched as multisets (order and duplicates both count). Columns that name
or time the run itself differ by construction and are left out: `run_id` everywhere; in `runs`
also the flow-run id, the start/finish instants, the stage timings and the inbox path. Either side
may be a DuckDB file or a DuckLake (opened by the one warehouse opener, read-only).

Prints one line per table (`equal`, or what differs with a few example rows) and exits 1 on any
difference, 0 when everything is equal, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from aftersales.definitions import published_tables
from aftersales.lakehouse.connect import open_warehouse
from aftersales.lakehouse.extensions import ExtensionMissing
from aftersales.lakehouse.location import LocationError

RUN_COLUMNS = frozenset({"run_id"})
RUNS_TABLE = "runs"
RUNS_CONTEXT_COLUMNS = frozenset({"flow_run_id", "started_at", "finished_at", "stage_timings", "inbox"})
EXAMPLES_SHOWN = 3


@dataclass
class TableComparison:
    table: str
    rows_before: int | None = None  # None: the table is missing on that side
    rows_after: int | None = None
    only_before: list[tuple] = field(default_factory=list)  # up to EXAMPLES_SHOWN examples
    only_after: list[tuple] = field(default_factory=list)
    count_only_before: int = 0
    count_only_after: int = 0
    schema_differences: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return (
            self.rows_before is not None
            and self.rows_after is not None
            and not self.schema_differences
            and self.count_only_before == 0
            and self.count_only_after == 0
        )

    def lines(self) -> list[str]:
        if self.rows_before is None or self.rows_after is None:
            side = "BEFORE" if self.rows_before is None else "AFTER"
            return [f"{self.table}: DIFFERENT: missing in {side}"]
        if self.equal:
            return [f"{self.table}: equal ({self.rows_before} rows, {len(self.columns)} columns compared)"]
        lines = [
            f"{self.table}: DIFFERENT ({self.rows_before} rows before, {self.rows_after} after; "
            f"{self.count_only_before} only before, {self.count_only_after} only after)"
        ]
        lines += [f"  schema: {problem}" for problem in self.schema_differences]
        if self.only_before or self.only_after:
            lines.append(f"  columns: {', '.join(self.columns)}")
        lines += [f"  only before: {row}" for row in self.only_before]
        lines += [f"  only after:  {row}" for row in self.only_after]
        return lines


def ignored_columns(table: str) -> frozenset[str]:
    return RUN_COLUMNS | (RUNS_CONTEXT_COLUMNS if table == RUNS_TABLE else frozenset())


def compared_tables() -> tuple[str, ...]:
    return (*published_tables(), RUNS_TABLE)


def read_table(con: duckdb.DuckDBPyConnection, table: str) -> pa.Table | None:
    """The whole table as Arrow, or None when this warehouse has no such table."""
    try:
        return con.execute(f'SELECT * FROM "{table}"').to_arrow_table()
    except duckdb.CatalogException:
        return None


def compare_table(table: str, before: pa.Table | None, after: pa.Table | None) -> TableComparison:
    """Rows of the compared columns as multisets: EXCEPT ALL both ways, in one DuckDB session."""
    result = TableComparison(
        table,
        None if before is None else before.num_rows,
        None if after is None else after.num_rows,
    )
    if before is None or after is None:
        return result
    skip = ignored_columns(table)
    types_before = {f.name: f.type for f in before.schema if f.name not in skip}
    types_after = {f.name: f.type for f in after.schema if f.name not in skip}
    for name in types_before.keys() - types_after.keys():
        result.schema_differences.append(f"column {name} only before")
    for name in types_after.keys() - types_before.keys():
        result.schema_differences.append(f"column {name} only after")
    result.columns = [c for c in types_before if c in types_after]
    for name in result.columns:
        if types_before[name] != types_after[name]:
            result.schema_differences.append(
                f"column {name}: {types_before[name]} before, {types_after[name]} after"
            )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("before_rows", before.select(result.columns))
        con.register("after_rows", after.select(result.columns))
        for side, first, second in (
            ("before", "before_rows", "after_rows"),
            ("after", "after_rows", "before_rows"),
        ):
            difference = f"SELECT * FROM {first} EXCEPT ALL SELECT * FROM {second}"
            count = con.execute(f"SELECT count(*) FROM ({difference})").fetchone()[0]
            examples = con.execute(f"{difference} LIMIT {EXAMPLES_SHOWN}").fetchall() if count else []
            setattr(result, f"count_only_{side}", count)
            setattr(result, f"only_{side}", examples)
    finally:
        con.close()
    return result


def compare_warehouses(before: str | Path, after: str | Path) -> list[TableComparison]:
    """Every compared table of the two warehouses; FileNotFoundError when one does not exist."""
    connections = [open_warehouse(before), open_warehouse(after)]
    try:
        return [compare_table(t, *(read_table(con, t) for con in connections)) for t in compared_tables()]
    finally:
        for con in connections:
            con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/compare_warehouses.py",
        description="Compare every published table of two warehouses (run ids and run timings aside).",
        epilog="Example: python bench/compare_warehouses.py before/aftersales.duckdb after/aftersales.duckdb",
    )
    parser.add_argument("before", help="warehouse of the reference run (DuckDB file or .ducklake)")
    parser.add_argument("after", help="warehouse of the run under test")
    args = parser.parse_args(argv)
    try:
        comparisons = compare_warehouses(args.before, args.after)
    except (FileNotFoundError, LocationError, ExtensionMissing, duckdb.Error, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    for comparison in comparisons:
        print("\n".join(comparison.lines()))
    different = [c.table for c in comparisons if not c.equal]
    if different:
        print(f"DIFFERENT: {len(different)} of {len(comparisons)} tables ({', '.join(different)})")
        return 1
    print(
        f"identical: all {len(comparisons)} tables equal (ignored: run_id; runs: {', '.join(sorted(RUNS_CONTEXT_COLUMNS))})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
