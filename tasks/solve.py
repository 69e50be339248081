"""Task: solve one problem of a prepared run; retried on transient store errors.

A solved problem's task run ends with one line on its answers, e.g.
`2/4 correct, majority 121.20 (gold 35)`, so the dashboard tells problems apart at a glance.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, State

from leap.benchmarks.problem import Problem
from leap.errors import LeapError, StoreError
from leap.runs import PreparedRun
from leap.runs.solve import solve_in_run
from leap.scoring.outcome import final_outcome


def _transient(task, task_run, state) -> bool:
    """Retry when the store failed for a while (a server restart, a network blip), not on
    user errors, a full disk or a refused permission."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, StoreError) and error.transient


@task(
    name="solve-problem",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def solve(run: PreparedRun, problem: Problem) -> State:
    try:
        final = solve_in_run(run, problem)
    except LeapError as exc:
        if isinstance(exc, StoreError) and exc.transient:
            raise  # retried (see _transient)
        # A full disk, a refused permission, a problem that cannot resume: one sentence
        # in the dashboard and the run's message, not a traceback in the log.
        return Failed(message=str(exc))
    outcome = final_outcome(problem, final)
    return Completed(
        message=outcome.message(),
        data={"problem_id": problem.id, "paths": outcome.paths, "verdict": outcome.verdict},
    )
