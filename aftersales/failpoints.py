"""Named points where a test can freeze the nightly run to kill it there.

Set AFTERSALES_FAILPOINT=<name> and the process prints `FAILPOINT <name>` on stderr and sleeps
at that point, so a kill test can SIGKILL it at a precise stage. Unset (production), a
failpoint costs one environment lookup.
"""

from __future__ import annotations

import os
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


def failpoint(name: str) -> None:
    if os.environ.get("AFTERSALES_FAILPOINT") == name:
        print(f"FAILPOINT {name}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("AFTERSALES_FAILPOINT_SLEEP", "120")))
