"""A head start: solve a run's first problems while the orchestrator is still starting.

Between loading the model and the flow's first solve task, `leap run` and `leap resume`
wait several seconds for Prefect: its import, its temporary API server, the flow run.
With the engine ready, the CLI starts the first unfinished problems (as many as the run
solves at once) on background threads during that wait. When the flow's solve task for
one of them starts, it takes over that thread's result instead of starting the problem
again. The threads store rounds exactly as a task does, so a run interrupted during the
head start resumes from the store like any other, and the flow never runs more problems
at once than the run allows: a task that takes over holds its slot until the thread ends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

from leap.algorithm.records import FinalRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.runs import RunSpec, RunStore
from leap.runs.progress import report_rounds
from leap.runs.solve import solve_problem

_started: dict[tuple[str, str], Future[FinalRecord]] = {}
_lock = threading.Lock()


def start(
    engine: Engine, spec: RunSpec, problems: Sequence[Problem], run: RunStore, count: int
) -> list[str]:
    """Begin solving up to `count` of `problems` that have no final answers; their ids."""
    chosen: list[Problem] = []
    for problem in problems:
        if len(chosen) >= count:
            break
        # Existence is enough here: the task itself still reads (or sets aside) the final.
        if not run.store.exists(run.final_key(problem.id)):
            chosen.append(problem)
    for problem in chosen:
        future: Future[FinalRecord] = Future()
        with _lock:
            _started[(run.run_id, problem.id)] = future
        threading.Thread(
            target=_solve,
            args=(future, engine, spec, problem, run),
            name=f"head-start-{problem.id}",
            daemon=True,  # a failed flow start must not keep the process alive
        ).start()
    return [problem.id for problem in chosen]


def take(run_id: str, problem_id: str) -> Future[FinalRecord] | None:
    """The head-started solve of this problem, handed over once; None if there is none."""
    with _lock:
        return _started.pop((run_id, problem_id), None)


def _solve(
    future: Future[FinalRecord], engine: Engine, spec: RunSpec, problem: Problem, run: RunStore
) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        final = solve_problem(engine, spec, problem, run, on_round=report_rounds(problem.id))
    except BaseException as exc:  # noqa: BLE001 - handed to the task that takes over
        future.set_exception(exc)
    else:
        future.set_result(final)
