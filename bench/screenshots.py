"""Screenshots of what a reviewer sees in the Prefect dashboard, taken in headless Chromium.

Starts `leap server` on a free port (its own PREFECT_HOME), the `gpu` pool, the
deployments and two workers, runs a two-cell nightly matrix (leap and independent on one
smoke problem, tiny sizes) for two nights, then shoots:

- the flow run page of the second night's LeaP cell (task runs with their messages),
- the nightly summary artifact (`leap-nightly-summary`: deltas against the first night)
  and its history (one version per night),
- the nightly results table artifact.

    make screenshots            # installs Debian's chromium when it is missing
    .venv/bin/python bench/screenshots.py --out docs/screenshots

Takes a few minutes on two cores (each cell is a flow run that loads the CPU model).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "n_paths": 2,
    "tokens_per_round": 16,
    "max_tokens": 32,
    "summary_max_tokens": 8,
    "answer_max_tokens": 6,
    "top_k": 1,
    "seed": 3,
}
NIGHTS = ("20261201", "20261202")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dashboard:
    """A `leap server` with a pool, the deployments and workers, all in one temp folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/api"
        self.processes: list[subprocess.Popen] = []

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PREFECT_HOME": str(self.home / "prefect"),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
        }

    def leap(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "leap.console.cli", *args],
            cwd=ROOT,
            env=self.env(),
            check=True,
            capture_output=True,
        )

    def start(self, *args: str, name: str) -> None:
        log = open(self.home / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "leap.console.cli", *args],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def up(self) -> None:
        self.start("server", "--port", str(self.port), name="server")
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"leap server did not start: see {self.home / 'server.log'}")
            time.sleep(1)
        self.leap("setup-pool", "--pool", "gpu", "--gpus", "0")
        self.leap("deploy")
        # The nightly flow run holds one worker while its cells run on the other.
        for name in ("worker-1", "worker-2"):
            self.start("worker", "--pool", "gpu", "--name", name, "--limit", "1", name=name)

    def down(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def request(self, method: str, path: str, body: dict | None = None):
        # The SQLite-backed server may not answer for a while on two busy cores: reads are
        # asked again (only reads: a POST that reached it must not create a run twice).
        for attempt in range(5):
            try:
                response = httpx.request(method, f"{self.api}{path}", json=body, timeout=60)
                break
            except httpx.TransportError:
                if attempt == 4 or (method == "POST" and "filter" not in path):
                    raise
                time.sleep(2)
        response.raise_for_status()
        return response.json()

    def run(self, deployment: str, parameters: dict) -> dict:
        found = self.request("GET", f"/deployments/name/{deployment}")
        flow_run = self.request(
            "POST", f"/deployments/{found['id']}/create_flow_run", {"parameters": parameters}
        )
        deadline = time.monotonic() + 1800
        while True:
            flow_run = self.request("GET", f"/flow_runs/{flow_run['id']}")
            if flow_run["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                return flow_run
            if time.monotonic() > deadline:
                raise SystemExit(f"flow run {flow_run['name']} did not finish in 30 minutes")
            time.sleep(2)


def shoot(url: str, out: Path, size: str = "1400,1600") -> None:
    profile = tempfile.mkdtemp(prefix="chromium-")
    subprocess.run(
        [
            "chromium",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            "--virtual-time-budget=20000",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    shutil.rmtree(profile, ignore_errors=True)
    print(f"{out}  <-  {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit(
            "chromium is not installed: run `make screenshots`, which installs Debian's "
            "package, or `apt-get install -y chromium`."
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="leap-screens-") as folder:
        home = Path(folder)
        matrix = home / "matrix.yaml"
        matrix.write_text(
            yaml.safe_dump(
                {
                    "benchmarks": [{"name": "smoke", "limit": 1}],
                    "methods": ["leap", "independent"],
                    "models": ["smollm2-135m"],
                    "configs": {"tiny": TINY},
                    "dtype": "float32",
                    "store": str(home / "store"),
                }
            )
        )
        dashboard = Dashboard(home)
        try:
            dashboard.up()
            nights = [
                dashboard.run("leap-nightly/nightly", {"matrix": str(matrix), "night": night})
                for night in NIGHTS
            ]
            for night in nights:
                if night["state_type"] != "COMPLETED":
                    raise SystemExit(f"{night['name']}: {night['state']['message']}")
            run_id = f"nightly-{NIGHTS[1]}-smoke-leap-smollm2-135m-tiny"
            tagged = {"flow_runs": {"tags": {"all_": [f"run:{run_id}"]}}}
            [cell] = dashboard.request("POST", "/flow_runs/filter", tagged)
            shoot(f"{dashboard.url}/runs/flow-run/{cell['id']}", args.out / "flow-run.png")
            shoot(
                f"{dashboard.url}/artifacts/key/leap-nightly-summary",
                args.out / "nightly-summary-history.png",
            )
            by_key = {
                "artifacts": {"key": {"any_": ["leap-nightly-summary"]}},
                "sort": "CREATED_DESC",
            }
            latest = dashboard.request("POST", "/artifacts/filter", by_key)[0]
            shoot(
                f"{dashboard.url}/artifacts/artifact/{latest['id']}",
                args.out / "nightly-summary.png",
            )
            shoot(
                f"{dashboard.url}/artifacts/key/leap-nightly-results",
                args.out / "nightly-results.png",
            )
            shoot(f"{dashboard.url}/runs/flow-run/{nights[1]['id']}", args.out / "nightly.png")
        finally:
            dashboard.down()


if __name__ == "__main__":
    main()
