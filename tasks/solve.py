"""Task: solve one problem, checkpointing each round; retried on transient store errors."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from leap.benchmarks.problem import Problem
from leap.engines.factory import shared_engine
from leap.errors import ObjectExistsError, StoreError
from leap.runs import RunSpec, RunStore, head_start
from leap.runs.progress import ProgressEvent, emit, report_rounds
from leap.runs.solve import solve_problem


def _transient(task, task_run, state) -> bool:
    """Retry when the store failed (a server restart, a network blip), not on user errors."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, StoreError) and not isinstance(error, ObjectExistsError)


@task(
    name="solve-problem",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def solve(spec: RunSpec, run_id: str, problem: Problem) -> dict:
    started = head_start.take(run_id, problem.id)
    if started is not None:
        final = started.result()  # its error, if any, fails this try; a retry starts afresh
    else:
        engine = shared_engine(spec.engine, spec.model, spec.dtype, spec.engine_options)
        run = RunStore.open(spec.store, run_id)
        final = solve_problem(engine, spec, problem, run, on_round=report_rounds(problem.id))
    emit(ProgressEvent(problem.id, -1, 0, finished=True))
    return {"problem_id": problem.id, "paths": len(final.answers)}
