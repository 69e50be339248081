"""What the Prefect dashboard shows about a run besides its artifacts: its flow run's name
and tags, artifact keys, and the summary of an earlier run of the same spec."""

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
from leap.runs.matrix import model_slug
from leap.runs.shards import shard_label
from leap.scoring.summary import RunSummary

RUN_TAG = "run:"
SHARD_TAG = "shard:"
NIGHT_TAG = "nightly:"
NAME_SEPARATOR = " · "  # never part of a run id, so the name's first part can be copied


def flow_run_name(spec: RunSpec, shards: int = 1, shard: int | None = None) -> str:
    """The flow run's name: the run id (else the spec's short name), the model unless the
    run id already names it, and the shard, e.g. `deployed-one · smollm2-135m · shard-1of2`.

    Given when a run is created (`run_deployment`) and again when it starts, so a reviewer
    never sees a random name; only a run started without a run id is renamed, once it has
    one. Nightly cells are their run id alone: it names the date, benchmark, method, model
    and config.
    """
    first = spec.run_id or spec.display_name()
    model = model_slug(spec.model)
    named = spec.run_id is not None and f"-{model}-" in f"-{spec.run_id}-"
    parts = [first] if named else [first, model]
    if shard is not None:
        parts.append(shard_label(shards, shard))
    return NAME_SEPARATOR.join(parts)


def artifact_key(text: str) -> str:
    """`text` as an artifact key (lowercase letters, digits and single dashes, at most 60
    characters): the same run id always gives the same key, so an artifact's history
    collects every version of it."""
    cleaned = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60] or "run"


def progress_key(run_id: str, shard: str = "") -> str:
    """The key of a run's progress artifact (one per shard label, e.g. `shard-1of2`)."""
    parts = [artifact_key(run_id), artifact_key(shard) if shard else "", "progress"]
    return "-".join(p for p in parts if p)


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


def label_this_flow_run(name: str, tags: Iterable[str]) -> None:
    """Name the running flow run `name` and add `tags` to it (deployment tags stay)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(run_id).tags
        client.update_flow_run(run_id, name=name, tags=sorted(set(current) | set(tags)))


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
