"""One Prefect task per pipeline stage. Retries only where a retry can help."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from aftersales import pipeline

_common = {"cache_policy": NO_CACHE, "persist_result": False}

preflight = task(name="preflight", **_common)(pipeline.preflight)
ingest = task(name="ingest", **_common)(pipeline.stage_ingest)
score = task(name="score", **_common)(pipeline.stage_score)
sla = task(name="sla", **_common)(pipeline.stage_sla)
health = task(name="health", **_common)(pipeline.stage_health)
action_queue = task(name="action_queue", **_common)(pipeline.stage_action_queue)
# Publishing waits for a lock held by another run and touches the file system: worth a retry.
publish = task(name="publish", retries=2, retry_delay_seconds=5, **_common)(pipeline.stage_publish)
report = task(name="report", **_common)(pipeline.stage_report)
