"""Orchestration around the nightly flow: schedule, local Prefect server, backfill and what-if replay.

The nightly flow itself (flows/nightly.py) adjudicates one batch date; this package holds the
plain functions the scheduling, backfill and replay flows (flows/deployment.py, flows/backfill.py,
flows/replay.py) and the `aftersales serve|backfill|replay` commands are built from.
"""
