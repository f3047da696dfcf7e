"""Prefect tasks: thin wrappers over the plain stage functions in aftersales.pipeline.

No task receives a DuckDB connection: every stage takes paths and opens its own. Caching is
off (a nightly stage must run each time) and results are not persisted (they are small
summaries; the real output is the work database).
"""
