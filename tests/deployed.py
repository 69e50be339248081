"""The deployed pipeline for tests: a real Prefect server, the `gpu` process pool, workers.

Fixture `deployed` (once per test session): `leap setup-pool`, `leap deploy`
(deployments/prefect.yaml), three process workers of one flow run each (a sharded run's
parent takes one, its two shards take the other two). Every flow run solves with the real
default model on the CPU. `single_run` is one small completed run of the benchmark
deployment that other tests compare with.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import TINY_LEAP, comparable
from prefect_server import ROOT, PrefectServer, log_text, stop

PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
WORKERS = ("worker-a", "worker-b", "worker-c")


class Deployed:
    def __init__(self, server: PrefectServer, store: Path, workers: dict, refused) -> None:
        self.server = server
        self.store = store
        self.workers = workers
        self.refused_before_setup = refused

    def deployment(self, name: str) -> dict:
        return self.server.get(f"/deployments/name/{name}")

    def trigger(self, name: str, parameters: dict) -> str:
        deployment_id = self.deployment(name)["id"]
        run = self.server.post(
            f"/deployments/{deployment_id}/create_flow_run", {"parameters": parameters}
        )
        return run["id"]

    def run(self, name: str, parameters: dict) -> dict:
        return self.server.wait_for(self.trigger(name, parameters))

    def flow_runs(self, *tags: str) -> list[dict]:
        return self.server.post("/flow_runs/filter", {"flow_runs": {"tags": {"all_": list(tags)}}})

    def _artifacts(self, flow_run_id: str) -> list[dict]:
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
        return self.server.post("/artifacts/filter", body)

    def artifacts(self, flow_run_id: str) -> dict[str, dict]:
        """The flow run's artifacts by type, where each type occurs once."""
        found = self._artifacts(flow_run_id)
        types = [a["type"] for a in found]
        assert len(set(types)) == len(types), f"several artifacts of one type: {types}"
        return {a["type"]: a for a in found}

    def by_key(self, flow_run_id: str) -> dict[str, dict]:
        """The flow run's keyed artifacts by key."""
        return {a["key"]: a for a in self._artifacts(flow_run_id) if a["key"]}

    def ran_on(self, flow_run_id: str) -> list[str]:
        """The workers whose output holds the flow run's own start line.

        (Several workers may try to submit a run; only the one that runs it prints this.)
        """
        return [w for w, p in self.workers.items() if f"flow-run/{flow_run_id}" in log_text(p)]

    def register_variant(self, folder: Path, name: str, pool: str | None = None, **changes) -> dict:
        """The `benchmark` deployment of deployments/prefect.yaml registered as `name`.

        `changes` replace keys of its declaration (schedules, parameters, ...) and `pool`
        its work pool's name, in a copy of the file that declares only it, registered with
        `leap deploy --file`. Returns the deployment as the server has it.
        """
        document = yaml.safe_load(PREFECT_FILE.read_text())
        [benchmark] = [d for d in document["deployments"] if d["name"] == "benchmark"]
        variant = {**benchmark, "name": name, **changes}
        if pool is not None:
            variant["work_pool"] = {**benchmark["work_pool"], "name": pool}
        document["deployments"] = [variant]
        path = folder / "prefect.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        done = self.server.leap("deploy", "--file", str(path))
        assert done.returncode == 0, done.stdout + done.stderr
        [deployment] = self.server.post(
            "/deployments/filter", {"deployments": {"name": {"any_": [name]}}}
        )
        return deployment

    def logs(self, flow_run_id: str) -> list[dict]:
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"}
        return self.server.post("/logs/filter", body)


@pytest.fixture(scope="session")
def deployed(prefect_server: PrefectServer, tmp_path_factory) -> Deployed:
    server = prefect_server
    # Deploying before the pool exists is refused, and registers nothing.
    refused = server.leap("deploy")
    setup = server.leap("setup-pool", "--pool", "gpu", "--gpus", "0")
    assert setup.returncode == 0, setup.stderr
    done = server.leap("deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    # The server's scheduler works: keep the real nightly (01:30 Berlin) from starting the
    # shipped matrix on these workers if a session runs past it. Its schedule stays as
    # declared, and a paused deployment still runs what a test starts by hand.
    nightly = server.get("/deployments/name/leap-nightly/nightly")
    server.patch(f"/deployments/{nightly['id']}", {"paused": True})
    workers = {
        name: server.start(
            [
                sys.executable,
                "-m",
                "leap.console.cli",
                "worker",
                "--pool",
                "gpu",
                "--name",
                name,
                "--limit",
                "1",
            ],
            log_name=name,
            # Short GPU leases, so a killed worker's slot comes free within the test.
            LEAP_GPU_LEASE_SECONDS="60",
        )
        for name in WORKERS
    }
    yield Deployed(server, tmp_path_factory.mktemp("deployed-store"), workers, refused)
    for process in workers.values():
        stop(process)


def tiny_spec(store: Path, run_id: str, **extra) -> dict:
    """A partial spec, as users pass with `--params`: the benchmark (smoke), the model and
    the concurrency come from the deployment's default spec."""
    return {
        "run_id": run_id,
        "limit": 2,
        "dtype": "float32",
        "leap": TINY_LEAP,
        "store": str(store),
        **extra,
    }


def scores(store: Path, run_id: str) -> list[dict]:
    data = (store / run_id / "results" / "scores.parquet").read_bytes()
    return comparable(pq.read_table(io.BytesIO(data)).to_pylist())


def slot_windows(logs: list[dict]) -> tuple[datetime, datetime]:
    """When a flow run took and released its GPU slot, from its own log."""
    took = [e["timestamp"] for e in logs if e["message"].startswith("holding GPU slot")]
    left = [e["timestamp"] for e in logs if e["message"].startswith("releasing GPU slot")]
    assert len(took) == 1 and len(left) == 1, [e["message"] for e in logs]
    return datetime.fromisoformat(took[0]), datetime.fromisoformat(left[0])


@pytest.fixture(scope="session")
def single_run(deployed: Deployed) -> dict:
    spec = tiny_spec(deployed.store, "deployed-one")
    return deployed.run("leap-benchmark/benchmark", {"spec": spec})
