"""Task: start one shard of a run as its own flow run of a deployment and wait for it."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from leap.runs import RunSpec
from tasks.dashboard import flow_run_name


@task(name="start-shard", cache_policy=NO_CACHE)
def start_shard(
    deployment: str,
    spec: RunSpec,
    shards: int,
    shard: int,
    tags: list[str],
    job_variables: dict[str, Any] | None = None,
) -> FlowRun:
    """Run shard `shard` of `spec` on whichever worker of the pool takes it; wait for it.

    The flow run is named when it is created, with the name it keeps once it starts.
    """
    return run_deployment(
        name=deployment,
        parameters={"spec": spec.model_dump(mode="json"), "shards": shards, "shard": shard},
        flow_run_name=flow_run_name(spec, shards, shard),
        tags=tags,
        job_variables=job_variables,
        timeout=None,
        poll_interval=3,
        as_subflow=True,
    )
