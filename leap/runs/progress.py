"""Progress events from solvers to whoever displays them (the CLI's progress bars).

A process-wide list of listeners, so the library can report progress without knowing
whether a console, a dashboard or nothing at all is watching.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from leap.algorithm.records import RoundRecord


@dataclass(frozen=True)
class ProgressEvent:
    problem_id: str
    round: int  # the round just stored; -1 when the problem was already complete
    active_paths: int
    finished: bool  # the problem has its final answers


Listener = Callable[[ProgressEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add a listener; returns a function that removes it."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def emit(event: ProgressEvent) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(event)


def report_rounds(problem_id: str) -> Callable[[RoundRecord], None]:
    """A round listener for `solve_problem` that emits this problem's progress events."""

    def on_round(record: RoundRecord) -> None:
        active = sum(not row.finished for row in record.paths)
        emit(ProgressEvent(problem_id, record.round, active, finished=False))

    return on_round
