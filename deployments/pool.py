"""`leap setup-pool`: the process work pool and one concurrency limit per GPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
from prefect.exceptions import ObjectNotFound

from deployments.server import server_client
from leap.errors import LeapError
from leap.runs.gpu import gpu_host, gpu_limit_name

POOL_TYPE = "process"


@dataclass(frozen=True)
class PoolSetup:
    pool: str
    pool_created: bool
    limits_created: list[str]
    limits_present: list[str]


def setup_pool(pool: str, devices: Sequence[str], host: str | None = None) -> PoolSetup:
    """Create the pool and a limit of one slot per device of this machine (kept if present)."""
    from prefect.workers.process import ProcessWorker

    host = host or gpu_host()
    with server_client() as client:
        created = False
        try:
            existing = client.read_work_pool(pool)
            if existing.type != POOL_TYPE:
                raise LeapError(
                    f"work pool {pool!r} exists with type {existing.type!r}, not {POOL_TYPE!r}: "
                    "choose another --pool name or delete it with `prefect work-pool delete`."
                )
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(
                WorkPoolCreate(name=pool, type=POOL_TYPE, base_job_template=template)
            )
            created = True
        made, present = [], []
        for device in devices:
            name = gpu_limit_name(device, host)
            try:
                client.read_global_concurrency_limit_by_name(name)
                present.append(name)
            except ObjectNotFound:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
                made.append(name)
    return PoolSetup(pool, created, made, present)


def require_pools(names: Sequence[str]) -> None:
    """Refuse to go on when a work pool does not exist on the server."""
    with server_client() as client:
        for name in names:
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                raise LeapError(
                    f"work pool {name!r} does not exist on the Prefect server: create it with "
                    f"`leap setup-pool --pool {name}` and deploy again."
                ) from None
