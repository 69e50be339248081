"""The process of `leap run`'s temporary Prefect API server, guarded to never outlive the run.

`python -m flows.api_server ARGS` runs uvicorn with ARGS (the command Prefect builds for
its temporary server), with two differences:
- it leaves the run's process group, so a Ctrl-C in the terminal (or a scheduler's signal
  to the group) reaches only `leap run`, which then stops this server itself; before,
  the server died first and the run retried a dead API for minutes;
- it exits when its parent is gone (`leap run` killed with SIGKILL, or crashed), instead
  of holding its port for good.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

# How often the server checks that `leap run` is still there.
_PARENT_CHECK_SECONDS = 0.5
# How long uvicorn may take to shut down after SIGTERM before the process just ends.
_SHUTDOWN_GRACE_SECONDS = 5.0


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own graceful shutdown
    time.sleep(_SHUTDOWN_GRACE_SECONDS)
    os._exit(0)


def main(argv: list[str]) -> None:
    os.setsid()
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    sys.argv = ["uvicorn", *argv]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
