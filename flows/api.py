"""Prefect's ephemeral API, started early so its start overlaps other start-up work."""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any


def start_ephemeral_api() -> threading.Thread | None:
    """Start Prefect's temporary local API server in the background, if this run needs one.

    With no `PREFECT_API_URL`, the first Prefect client starts a server subprocess and
    waits for it to answer (several seconds). Starting it here, in a thread, lets that
    subprocess boot on another core while this process loads the model. The returned
    thread ends when the server answers (or failed to start: the flow's own client then
    starts it again and reports the error). Returns None when a server URL is set.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None

    def start() -> None:
        import prefect.server.api.server as server_module

        # Prefect's client looks up the same (portless) instance and finds it running.
        server = server_module.SubprocessASGIServer()
        real = server_module.subprocess
        server_module.subprocess = _GuardedSubprocess(real)
        try:
            server.start()
        except Exception:  # noqa: BLE001 - the flow's client retries and reports it
            pass
        finally:
            server_module.subprocess = real

    thread = threading.Thread(target=start, name="prefect-api-start", daemon=True)
    thread.start()
    return thread


class _GuardedSubprocess:
    """The `subprocess` module as Prefect's server starter sees it while `leap run` starts
    the server: its `python -m uvicorn ...` becomes `python -m flows.api_server ...`, which
    runs the same uvicorn outside the run's process group and ends with its parent."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def Popen(self, args: list[str], **kwargs: Any) -> Any:  # noqa: N802 - the module's name
        if list(args[1:3]) == ["-m", "uvicorn"]:
            args = [args[0], "-m", "flows.api_server", *args[3:]]
        return self._real.Popen(args, **kwargs)


def stop_ephemeral_api() -> None:
    """Stop the temporary API server this process started, if any.

    Prefect stops it at interpreter exit; an immediate exit (`os._exit`, after Ctrl-C or
    SIGTERM) skips that, and the server process would outlive the run.
    """
    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is None:
        return  # Prefect's server was never imported here, so none was started
    for server in list(server_module.SubprocessASGIServer._instances.values()):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - exiting anyway; nothing more to do for it
            pass
