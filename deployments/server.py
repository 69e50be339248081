"""The Prefect server the deployment commands talk to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.settings import PREFECT_API_URL

from leap.errors import LeapError


def api_url() -> str:
    """The configured API; deployments need a real server, not the ephemeral one."""
    url = PREFECT_API_URL.value()
    if not url:
        raise LeapError(
            "PREFECT_API_URL is not set: start a server with `prefect server start` and "
            "set PREFECT_API_URL=http://127.0.0.1:4200/api (see docs/operations.md)."
        )
    return url


@contextmanager
def server_client() -> Iterator[SyncPrefectClient]:
    """A client of the configured server; an unreachable server is one clear error."""
    url = api_url()
    try:
        with get_client(sync_client=True) as client:
            yield client
    except (httpx.ConnectError, httpx.ConnectTimeout):
        raise LeapError(
            f"cannot reach the Prefect server at {url}: start it with `prefect server start` "
            "or fix PREFECT_API_URL."
        ) from None
