"""Task: run one cell of the nightly matrix as a flow run of the benchmark deployment."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment

from leap.runs import RunStore
from leap.runs.matrix import MatrixCell
from leap.scoring.summary import RunSummary
from tasks.dashboard import run_tags


@task(name="run-matrix-cell", cache_policy=NO_CACHE)
def run_cell(deployment: str, cell: MatrixCell) -> dict:
    """Start the cell's run on the pool, wait for it, and return what it achieved."""
    spec = cell.spec
    child = run_deployment(
        name=deployment,
        parameters={"spec": spec.model_dump(mode="json"), "shards": cell.shards},
        tags=run_tags(spec, spec.run_id or "", [f"config:{cell.config_name}"]),
        timeout=None,
        poll_interval=3,
        as_subflow=True,
    )
    row = {
        "run_id": spec.run_id,
        "benchmark": spec.benchmark,
        "method": spec.leap.method,
        "model": spec.model,
        "config": cell.config_name,
        "state": child.state.name if child.state else "unknown",
        "pass_at_1": None,
        "cons_at_n": None,
    }
    data = RunStore.open(spec.store, spec.run_id or "").read_result("summary.json")
    if data is not None:
        summary = RunSummary.from_json(data)
        row["pass_at_1"] = summary.pass_at_1
        row["cons_at_n"] = summary.cons_at_n
    return row
