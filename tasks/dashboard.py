"""What the Prefect dashboard shows about a run beyond its artifacts: tags, earlier runs."""

from __future__ import annotations

from collections.abc import Iterable

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runtime import deployment, flow_run

from leap.runs import RunSpec, RunStore
from leap.scoring.summary import RunSummary

RUN_TAG = "run:"
SHARD_TAG = "shard:"


def run_tags(spec: RunSpec, run_id: str, extra: Iterable[str] = ()) -> list[str]:
    """Tags that let the dashboard filter runs by what they computed."""
    return [
        f"benchmark:{spec.benchmark}",
        f"method:{spec.leap.method}",
        f"model:{spec.model}",
        f"spec:{spec.content_hash()}",
        f"{RUN_TAG}{run_id}",
        *extra,
    ]


def tag_this_flow_run(tags: Iterable[str]) -> None:
    """Add `tags` to the running flow run (deployment tags stay)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(run_id).tags
        client.update_flow_run(run_id, tags=sorted(set(current) | set(tags)))


def previous_summary(spec: RunSpec, run_id: str) -> RunSummary | None:
    """The summary of the latest earlier completed run with the same spec.

    Looked up among the flow runs of this deployment (of any deployment for a local run)
    tagged with the same spec hash; the summary itself is read from the store, which
    stays the record of what a run computed.
    """
    this_run = flow_run.get_id()
    filters = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[f"spec:{spec.content_hash()}"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
        id=FlowRunFilterId(not_any_=[this_run]) if this_run else None,
    )
    deployment_id = deployment.get_id()
    by_deployment = (
        DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])) if deployment_id else None
    )
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=filters,
                deployment_filter=by_deployment,
                sort=FlowRunSort.START_TIME_DESC,
                limit=20,
            )
        for run in runs:
            if any(t.startswith(SHARD_TAG) for t in run.tags):
                continue
            earlier = [t[len(RUN_TAG) :] for t in run.tags if t.startswith(RUN_TAG)]
            if not earlier or earlier[0] == run_id:
                continue
            data = RunStore.open(spec.store, earlier[0]).read_result("summary.json")
            if data is not None:
                return RunSummary.from_json(data)
    except Exception as exc:  # noqa: BLE001 - the comparison is a nicety, never a failure
        get_run_logger().warning("could not read an earlier run's summary: %s", exc)
    return None
