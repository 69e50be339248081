"""Math checks in worker processes that can be killed: a hard bound in time and memory.

sympy's big-number work holds the GIL and ignores every interruption a thread could
send, so a check that runs too long can only be stopped by ending its process. Checks
run in a few persistent worker processes (``python -m leap.scoring.worker``), one
request at a time each, over a pipe. A check that outlives its timeout gets its worker
killed and answered `timeout`; the next check starts a fresh worker. A worker also runs
under a memory limit (`MEMORY_BUDGET` above what it uses after start-up), so a check that
would need more fails inside the worker and is answered `timeout` too.

Workers start lazily, import math-verify before they take a request (start-up time
never counts against a check's timeout), ignore Ctrl-C (the parent decides) and exit
when their parent goes away.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

from leap.errors import LeapError
from leap.scoring import mathverify

Outcome = Literal["equal", "different", "timeout"]

MEMORY_BUDGET = 1 << 30  # bytes a worker may add to its size after start-up
STARTUP_TIMEOUT_S = 180.0  # importing sympy on a busy machine can take a while
_READY = "ready"


class WorkerPool:
    """A fixed number of lazily started worker processes; safe to use from any thread.

    A caller waits for a free worker, so at most `size` checks run at once.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, not {size}")
        self._free: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all = [_Worker() for _ in range(size)]
        for worker in self._all:
            self._free.put(worker)

    def check(self, gold: str, predicted: str, timeout_s: float) -> Outcome:
        """Compare two answers with math-verify in a worker, within `timeout_s` seconds.

        Errors inside math-verify count as "different". Raises LeapError only when a
        worker cannot be started at all.
        """
        worker = self._free.get()
        try:
            return worker.check(gold, predicted, timeout_s)
        finally:
            self._free.put(worker)

    def close(self) -> None:
        """Stop every worker process (idle ones at once; a busy one is killed)."""
        for worker in self._all:
            worker.stop()


class _Worker:
    """One worker process and its pipe; restarted after a timeout or a crash."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pending = b""

    def check(self, gold: str, predicted: str, timeout_s: float) -> Outcome:
        process = self._running()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps([gold, predicted]).encode() + b"\n")
            process.stdin.flush()
            line = self._read_line(timeout_s)
        except (OSError, ValueError):
            line = None
        if line not in ('"equal"', '"different"', '"timeout"'):
            self.stop()  # out of time, out of memory, or crashed: start afresh next time
            return "timeout"
        return json.loads(line)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "leap.scoring.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_environment(),
        )
        line = self._read_line(STARTUP_TIMEOUT_S)
        if line != json.dumps(_READY):
            self.stop()
            reason = "it did not answer" if line is None else json.loads(line)
            raise LeapError(
                f"the math answer checker could not start ({reason}); "
                "check that math-verify is installed in this Python environment."
            )
        return self._process

    def _read_line(self, timeout_s: float) -> str | None:
        """The worker's next line, or None when none arrives within `timeout_s`."""
        assert self._process is not None and self._process.stdout is not None
        handle = self._process.stdout.fileno()  # read unbuffered: select() sees what is left
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([handle], [], [], remaining)[0]:
                return None
            chunk = os.read(handle, 65536)
            if not chunk:
                return None  # the worker ended
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode()

    def stop(self) -> None:
        process, self._process, self._pending = self._process, None, b""
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _child_environment() -> dict[str, str]:
    """The parent's environment, with this copy of `leap` first on the import path."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process-wide pool: up to two workers (the checks are short; memory is not)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool(min(2, os.cpu_count() or 1))
            atexit.register(_pool.close)
        return _pool


# ---- the worker process side ----


def _serve() -> None:
    """Answer one JSON line [gold, predicted] with one JSON line outcome, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol owns the real stdout; anything a library prints goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        mathverify.check("1", "1")  # loads math-verify now, not during the first timed check
    except Exception as exc:  # reported to the parent, which names it in its error
        replies.write(json.dumps(f"{type(exc).__name__}: {exc}") + "\n")
        return
    _limit_memory()
    _exit_with_parent()
    replies.write(json.dumps(_READY) + "\n")
    for line in sys.stdin:
        gold, predicted = json.loads(line)
        replies.write(json.dumps(outcome_of(gold, predicted)) + "\n")


def outcome_of(gold: str, predicted: str) -> Outcome:
    """Run one check (in the worker): an error is "different", running out of memory is
    "timeout" (the check could not be done within its bounds)."""
    try:
        return "equal" if mathverify.check(gold, predicted) else "different"
    except MemoryError:
        return "timeout"
    except Exception:  # math-verify or sympy choked on the input: not a match
        return "different"


def _limit_memory() -> None:
    """Cap the address space at the current size plus MEMORY_BUDGET (Linux only)."""
    try:
        import resource

        pages = int(Path("/proc/self/statm").read_text().split()[0])
        limit = pages * os.sysconf("SC_PAGE_SIZE") + MEMORY_BUDGET
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no limits here: the timeout still bounds the check


def _exit_with_parent() -> None:
    """End this worker soon after its parent dies, even in the middle of a check."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="leap-parent-watch", daemon=True).start()


if __name__ == "__main__":
    _serve()
