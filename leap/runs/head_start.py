"""A head start: solve a run's first problems while the orchestrator is still starting.

Between loading the model and the flow's first solve task, `leap run` and `leap resume`
wait several seconds for Prefect: its import, its temporary API server, the flow run.
With the engine ready, the CLI starts the first unfinished problems (as many as the run
solves at once) on background threads during that wait. When the flow's solve task for
one of them starts, it takes over that thread's result instead of starting the problem
again. The threads store rounds exactly as a task does, so a run interrupted during the
head start resumes from the store like any other, and the flow never runs more problems
at once than the run allows: a task that takes over holds its slot until the thread ends.

A `HeadStart` belongs to one prepared run (`PreparedRun.head_start`), so nothing here is
shared between runs or read from module state.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from leap.algorithm.records import FinalRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.runs.progress import report_rounds
from leap.runs.solve import solve_problem

if TYPE_CHECKING:
    from leap.runs.prepared import PreparedRun


class HeadStart:
    """Problems of one run being solved ahead of their flow tasks, handed over once each."""

    def __init__(self) -> None:
        self._started: dict[str, Future[FinalRecord]] = {}
        self._lock = threading.Lock()

    def start(self, engine: Engine, run: PreparedRun) -> list[str]:
        """Begin solving the run's first unfinished problems, as many as it solves at once.

        Returns their ids.
        """
        chosen: list[Problem] = []
        for problem in run.problems:
            if len(chosen) >= run.spec.concurrency:
                break
            # Existence is enough here: the task itself still reads (or sets aside) the final.
            if not run.store.store.exists(run.store.final_key(problem.id)):
                chosen.append(problem)
        for problem in chosen:
            future: Future[FinalRecord] = Future()
            with self._lock:
                self._started[problem.id] = future
            threading.Thread(
                target=_solve,
                args=(future, engine, run, problem),
                name=f"head-start-{problem.id}",
                daemon=True,  # a failed flow start must not keep the process alive
            ).start()
        return [problem.id for problem in chosen]

    def take(self, problem_id: str) -> Future[FinalRecord] | None:
        """The head-started solve of this problem, handed over once; None if there is none."""
        with self._lock:
            return self._started.pop(problem_id, None)


def _solve(future: Future[FinalRecord], engine: Engine, run: PreparedRun, problem: Problem) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        final = solve_problem(
            engine,
            run.spec,
            problem,
            run.store,
            on_round=report_rounds(problem.id),
            unsaved=run.unsaved_work(problem.id),
            beginnings=run.beginnings.get(problem.id),
            target_tokens=run.targets.get(problem.id),
        )
    except BaseException as exc:  # noqa: BLE001 - handed to the task that takes over
        future.set_exception(exc)
    else:
        future.set_result(final)
