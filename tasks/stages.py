"""One Prefect task per declared stage (`aftersales.definitions.STAGES`), named after it, and the
`shard` task that runs a shard's stages (`definitions.run_shard`) on any task runner.

Retries come from the declaration (only where a retry can help: publish). `TASKS[name]`, or the
module attribute of the same name (`stages.score`), is the task. A shard is not retried by
Prefect: it fails the batch (or, by setting, is left out and named); Dask itself re-runs a shard
whose worker died, which is safe because a shard rebuilds its own work database from the inbox.
"""

from __future__ import annotations

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

from aftersales.definitions import STAGES, run_shard

TASKS: dict[str, Task] = {
    stage.name: task(
        stage.run,
        name=stage.name,
        retries=stage.retries,
        retry_delay_seconds=stage.retry_delay_seconds,
        cache_policy=NO_CACHE,
        persist_result=False,
    )
    for stage in STAGES
}


SHARD_TASK: Task = task(run_shard, name="shard", cache_policy=NO_CACHE, persist_result=False)


def __getattr__(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
