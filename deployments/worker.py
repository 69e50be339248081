"""`leap worker`: a process worker that stops within seconds on SIGTERM or Ctrl-C.

`prefect worker start` answers SIGTERM and Ctrl-C by cancelling itself, which kills the
flow runs it started with SIGKILL: the flow never hears it, so its run stays `Running` on
the server and its GPU slot stays taken until the lease ends. `leap worker` runs Prefect's
worker as a child in its own process group and stops it in this order:

1. freeze the worker (SIGSTOP), so it takes no new flow run while its runs end;
2. send SIGTERM to every flow run it started (each leads a process group of its own):
   the flow ends as it does on Ctrl-C in `leap run`, the rounds in flight are dropped,
   every stored round stays, the GPU slot is given back and the run ends `Crashed`;
3. wait up to `STOP_GRACE_SECONDS` for them (a second signal cuts the wait short), then
   SIGKILL whatever is left and the frozen worker.

Finding the flow runs reads /proc, so this is Linux only; elsewhere `leap worker` becomes
`prefect worker start` and stops as Prefect does.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Docker's default stop timeout is 10 s: the flow runs get most of it.
STOP_GRACE_SECONDS = 8.0
_PR_SET_PDEATHSIG = 1


def worker_command(pool: str, name: str | None, limit: int | None) -> list[str]:
    """`prefect worker start` for a process worker of `pool`."""
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    command += ["--type", "process"]
    if name:
        command += ["--name", name]
    if limit is not None:
        command += ["--limit", str(limit)]
    return command


def run_worker(command: list[str], say: Callable[[str], None]) -> int:
    """Run the worker `command` until it exits or a stop is asked for; the exit code.

    A stop asked for with SIGTERM or SIGINT returns 0 once the worker is gone.
    """
    if sys.platform != "linux":
        os.execv(command[0], command)
    signals: list[int] = []

    def note(signum: int, frame: object) -> None:
        signals.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        # Its own process group: a Ctrl-C in the terminal reaches `leap worker` only,
        # which then stops the flow runs before the worker.
        worker = subprocess.Popen(command, process_group=0, preexec_fn=_end_with_parent())
        while worker.poll() is None and not signals:
            time.sleep(0.1)
        if worker.returncode is not None:
            return worker.returncode
        name = signal.Signals(signals[0]).name
        runs = _stop(worker, signals, say, name)
        say(f"worker stopped on {name}; {runs} flow run(s) were asked to stop.")
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(
    worker: subprocess.Popen, signals: list[int], say: Callable[[str], None], name: str
) -> int:
    # Frozen, the worker no longer reads its runs' output either: a run that writes more
    # than a pipe holds while it ends waits there until the SIGKILL below.
    os.kill(worker.pid, signal.SIGSTOP)
    runs = _children(worker.pid)
    if runs:
        say(f"{name}: stopping {len(runs)} flow run(s), then the worker.")
    for pid in runs:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    # Another signal means "now": skip the rest of the wait.
    while time.monotonic() < deadline and len(signals) < 2:
        if not any(_running(pid) for pid in runs):
            break
        time.sleep(0.1)
    for pid in runs:
        if _running(pid):
            say(f"flow run process {pid} did not stop in time: killing it.")
            _signal_group(pid, signal.SIGKILL)
    worker.kill()  # SIGKILL also ends a stopped process
    worker.wait()
    return len(runs)


def _end_with_parent() -> Callable[[], None]:
    """A preexec function: the worker is killed when `leap worker` dies in any way.

    Killing `leap worker` outright (SIGKILL, the OOM killer) thus kills the worker outright,
    as before `leap worker` ran it as a child; its flow runs are left as after a crash.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def arrange() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return arrange


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid`: a process worker's children are its flow runs."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if fields is not None and fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a child of the frozen worker stays a zombie until it ends)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _signal_group(pid: int, signum: int) -> None:
    """Signal the process group `pid` leads, or the process alone if it leads none."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass
