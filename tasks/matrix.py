"""Task: run one cell of the nightly matrix as a flow run of the benchmark deployment."""

from __future__ import annotations

from dataclasses import replace

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment

from leap.errors import LeapError
from leap.runs.matrix import MatrixCell
from leap.runs.nightly import CellOutcome, find_previous_cell, read_outcome
from tasks.dashboard import NIGHT_TAG, flow_run_name, run_tags


@task(name="run-matrix-cell", cache_policy=NO_CACHE)
def run_cell(deployment: str, cell: MatrixCell) -> CellOutcome:
    """Start the cell's run on the pool, wait for it, and return what it achieved, with
    the same cell of the previous night (read from the store) for the nightly summary."""
    spec = cell.spec
    run_id = spec.run_id or ""
    child = run_deployment(
        name=deployment,
        parameters={"spec": spec.model_dump(mode="json"), "shards": cell.shards},
        flow_run_name=flow_run_name(spec),
        tags=run_tags(spec, run_id, [f"config:{cell.config_name}", f"{NIGHT_TAG}{cell.night}"]),
        timeout=None,
        poll_interval=3,
        as_subflow=True,
    )
    state = child.state.name if child.state else "unknown"
    logger = get_run_logger()
    try:
        outcome = read_outcome(cell, state)
    except (LeapError, ValueError) as exc:  # ValueError: a damaged summary.json
        logger.warning("could not read the results of run %s: %s", run_id, exc)
        return CellOutcome.of(cell, state)
    try:
        previous = find_previous_cell(cell)
    except (LeapError, ValueError) as exc:  # the comparison is a nicety, never a failure
        logger.warning("could not read an earlier night's run of %s: %s", run_id, exc)
        return outcome
    return replace(outcome, previous=previous)
