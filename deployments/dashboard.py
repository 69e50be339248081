"""`leap server`: Prefect's server with a dashboard that reaches its API.

The dashboard's JavaScript calls the API at the URL the server hands it (`GET
/ui-settings`), which is `PREFECT_UI_API_URL`, else `PREFECT_API_URL`, else
127.0.0.1:4200, whatever `--host` and `--port` were: on another port or seen from another
machine, a plain `prefect server start` serves a dashboard that cannot load anything.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

from leap.errors import LeapError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
# Addresses a server listens on but a browser cannot open.
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def reachable_url(host: str, port: int, given: str | None = None) -> str:
    """Where browsers and workers reach the server, e.g. `http://head.lab:4200`.

    `given` wins (a trailing /api is dropped); a server on every address is named by
    this machine's host name.
    """
    if given:
        parts = urlsplit(given)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LeapError(
                f"--public-url {given!r} is not an http(s) address: give the address "
                f"browsers open, e.g. http://{socket.gethostname()}:{port}."
            )
        return given.rstrip("/").removesuffix("/api")
    name = socket.getfqdn() if host in _ANY_ADDRESS else host
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return f"http://{name}:{port}"


def server_command(host: str, port: int) -> list[str]:
    """`prefect server start` on `host` and `port`."""
    if not 0 < port < 65536:
        raise LeapError(f"--port {port} is not a port number: give one from 1 to 65535.")
    return [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]


def server_environment(url: str) -> dict[str, str]:
    """This environment, with the API URL the dashboard must call."""
    return {**os.environ, "PREFECT_UI_API_URL": f"{url}/api"}
