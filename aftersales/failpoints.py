"""Named points where a test can freeze, fail or kill the nightly run at a precise stage.

Set AFTERSALES_FAILPOINT=<name> and the process prints `FAILPOINT <name>` on stderr and, by
AFTERSALES_FAILPOINT_ACTION:
- `sleep` (default): sleeps there, so a kill test can SIGKILL it;
- `raise`: raises FailpointHit (a stage that fails);
- `kill`: SIGKILLs its own process (a Dask worker lost under a shard).
AFTERSALES_FAILPOINT_UNIT=<shard name> limits it to that shard's run of the point, and
AFTERSALES_FAILPOINT_ONCE=<marker file> to the first time it is reached (the marker is created
then: a task Dask re-runs after its worker was killed goes through). Unset (production), a
failpoint costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
import sys
import time

POINTS = (
    "after-ingest",  # work database holds staging tables; nothing published
    "after-scoring",  # rulings computed in the work database
    "publish-between-tables",  # lake: first table rewritten inside the open transaction
    "publish-before-commit",  # warehouse copy (or lake transaction) written, transaction open
    "publish-before-swap",  # copy committed and checkpointed, not yet swapped in
    "publish-after-swap",  # new warehouse in place; journal not yet cleared
    "publish-after-commit",  # lake: snapshot committed; journal not yet cleared
)


class FailpointHit(RuntimeError):
    """A failpoint set to `raise` was reached."""


def failpoint(name: str, unit: str | None = None) -> None:
    if os.environ.get("AFTERSALES_FAILPOINT") != name:
        return
    wanted = os.environ.get("AFTERSALES_FAILPOINT_UNIT")
    if wanted and wanted != unit:
        return
    if once := os.environ.get("AFTERSALES_FAILPOINT_ONCE"):
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    print(f"FAILPOINT {name}" + (f" {unit}" if unit else ""), file=sys.stderr, flush=True)
    action = os.environ.get("AFTERSALES_FAILPOINT_ACTION", "sleep")
    if action == "raise":
        raise FailpointHit(f"failpoint {name} reached" + (f" in {unit}" if unit else ""))
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("AFTERSALES_FAILPOINT_SLEEP", "120")))
