"""Task: run one experiment cell as a flow run of the benchmark deployment, so the cells
of an experiment spread over the pool's workers."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment

from leap.runs import RunSpec
from tasks.dashboard import flow_run_name, run_tags


@task(name="run-experiment-cell", cache_policy=NO_CACHE)
def run_cell_on_pool(deployment: str, spec: RunSpec) -> str:
    """Start the cell's run as a flow run of `deployment`, wait for it; its final state."""
    child = run_deployment(
        name=deployment,
        parameters={"spec": spec.model_dump(mode="json")},
        flow_run_name=flow_run_name(spec),
        tags=run_tags(spec, spec.run_id or "", []),
        timeout=None,
        poll_interval=3,
        as_subflow=True,
    )
    return child.state.name if child.state else "unknown"
