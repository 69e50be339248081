"""A process-wide request to stop generating, for a prompt exit on Ctrl-C or SIGTERM.

Solve work runs on threads (flow tasks, head starts) that a signal never reaches: only the
main thread sees it. Whoever handles the signal calls `request_stop()`; the engines check
`stop_requested()` between decode steps and raise `StopRequested`, so every thread ends
within a step and the round in flight is dropped, never stored half done.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


class StopRequested(Exception):
    """Generation was stopped on request (Ctrl-C, SIGTERM); the run resumes later."""


def request_stop() -> None:
    _requested.set()


def stop_requested() -> bool:
    return _requested.is_set()


def check_stop() -> None:
    """Raise `StopRequested` if a stop was requested."""
    if _requested.is_set():
        raise StopRequested("stopped on request; resume the run to continue")
