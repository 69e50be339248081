"""A real `prefect server start` on 127.0.0.1 for tests, and process workers on its pools.

Fixture `prefect_server` (one server per test session, with its own PREFECT_HOME in a
temporary folder) yields a `PrefectServer`. Processes started here run from the project
folder with the worktree's Python and the project-local LEAP_HOME (from conftest), so the
default model is not converted again; they are stopped by their process ids.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group of `process`, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class PrefectServer:
    api: str
    home: Path
    process: subprocess.Popen
    log: Path  # the server's own output

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a client process of this server."""
        return {
            **os.environ,
            "PREFECT_API_URL": self.api,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # Workers look for work every 2 s instead of 10 s.
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            **extra,
        }

    def start(self, args: list[str], log_name: str, **extra: str) -> subprocess.Popen:
        """A child process (output to a log file, never a pipe nobody reads)."""
        log = tempfile.NamedTemporaryFile("w+", prefix=f"{log_name}-", suffix=".log", delete=False)
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env(**extra),
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        return process

    def leap(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        """`leap ARGS` against this server, to completion."""
        return subprocess.run(
            [sys.executable, "-m", "leap.console.cli", *args],
            cwd=ROOT,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=600,
        )

    def get(self, path: str) -> dict | list:
        return self._request("GET", path)

    def post(self, path: str, body: dict | None = None) -> dict | list:
        return self._request("POST", path, body or {})

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def patch(self, path: str, body: dict) -> None:
        self._request("PATCH", path, body)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict | list:
        # On two busy cores the SQLite-backed server may answer 503 or not answer for a
        # while (workers loading models beside it); the Prefect client retries too. A POST
        # is sent again only when it never reached the server, so nothing is created twice.
        retried = httpx.TransportError if method == "GET" else httpx.ConnectError
        for attempt in range(10):
            try:
                response = httpx.request(method, f"{self.api}{path}", json=body, timeout=30)
            except retried:
                if attempt == 9:
                    raise
                time.sleep(2)
                continue
            if response.status_code != 503:
                break
            time.sleep(1)
        response.raise_for_status()
        return response.json() if response.content else {}

    def wait_for(self, flow_run_id: str, timeout: float = 900) -> dict:
        """The flow run once it reached a final state."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/flow_runs/{flow_run_id}")
            if run["state_type"] in TERMINAL:
                return run
            assert time.monotonic() < deadline, f"flow run {run['name']} still {run['state_type']}"
            time.sleep(1)


def log_text(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]


def start_server(home: Path) -> PrefectServer:
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The scheduler goes over every deployment each 5 s instead of each minute (as it
        # does anyway for deployments registered in the last seconds).
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    }
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"prefect server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return PrefectServer(api=api, home=home, process=process, log=log)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> PrefectServer:
    server = start_server(tmp_path_factory.mktemp("prefect-home"))
    yield server
    stop(server.process)
