"""Scale benchmark of the nightly batch (tracker issue #7): `python -m aftersales.bench --scale S`.

Generates (or reuses) an inbox at a named scale, runs the real Prefect flow against an already
started loopback Prefect server, and measures it against two references on the same files: the
DuckDB read floor (`floor.py`) and a per-case Python rules engine (`bench/per_case_baseline/`,
outside the package, loaded by `reference.py`). Results go to
bench/results/<date>-<scale>.json and .md; docs/BENCHMARK.md explains the figures.
"""

from aftersales.bench.scales import SCALES, ensure_inbox

__all__ = ["SCALES", "ensure_inbox"]
