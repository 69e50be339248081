"""`leap worker` on SIGTERM, and `leap server`'s dashboard, with real processes.

The worker test uses the session's deployed pipeline (tests/deployed.py) and a worker of
its own on a pool of its own, so the run it stops is certainly that worker's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest
from deployed import scores, tiny_spec
from helpers import free_port
from prefect_server import ROOT, TERMINAL, log_text, stop

import deployments.worker
from deployments.dashboard import reachable_url
from leap.runs.gpu import gpu_host, gpu_limit_name

POOL = "leap-sigterm"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _final(server, flow_run_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (run := server.get(f"/flow_runs/{flow_run_id}"))["state_type"] not in TERMINAL:
        assert time.monotonic() < deadline, f"flow run still {run['state_type']}"
        time.sleep(0.5)
    return run


def test_sigterm_stops_the_worker_at_once_and_its_run_resumes(deployed, single_run, tmp_path):
    server, store = deployed.server, deployed.store
    setup = server.leap("setup-pool", "--pool", POOL, "--gpus", "0")
    assert setup.returncode == 0, setup.stderr
    benchmark = deployed.deployment("leap-benchmark/benchmark")
    deployment = deployed.register_variant(tmp_path, "benchmark-sigterm", pool=POOL)
    assert deployment["work_pool_name"] == POOL
    assert deployment["job_variables"] == benchmark["job_variables"]
    worker = server.start(
        [sys.executable, "-m", "leap.console.cli", "worker", "--pool", POOL, "--name", "sigterm"],
        log_name="worker-sigterm",
        LEAP_GPU_LEASE_SECONDS="60",
    )
    try:
        spec = tiny_spec(store, "deployed-sigterm")
        flow_run = server.post(
            f"/deployments/{deployment['id']}/create_flow_run", {"parameters": {"spec": spec}}
        )
        first_round = store / "deployed-sigterm" / "problems" / "smoke-1" / "round-000.parquet"
        deadline = time.monotonic() + 600
        while not first_round.exists():
            assert worker.poll() is None, log_text(worker)[-4000:]
            assert time.monotonic() < deadline, "no round was stored in time"
            time.sleep(0.05)
        running = server.get(f"/flow_runs/{flow_run['id']}")
        engine = int(running["infrastructure_pid"].rsplit(":", 1)[-1])

        # As systemd or a container runtime stops a service: SIGTERM to the main process.
        signalled = time.monotonic()
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, log_text(worker)[-4000:]
        took = time.monotonic() - signalled
        assert not _running(engine), "the flow run's process outlived its worker"
    finally:
        stop(worker)
        server.delete(f"/deployments/{deployment['id']}")
        server.delete(f"/work_pools/{POOL}")
    print(f"worker exited {took:.1f} s after SIGTERM")

    # The run ended as on Ctrl-C: the flow heard the signal, marked itself crashed and gave
    # its GPU slot back (killed outright, it would stay Running and hold the slot).
    ended = _final(server, flow_run["id"])
    assert ended["state_type"] == "CRASHED", ended["state"]
    limit = gpu_limit_name("0", gpu_host())
    assert server.get(f"/v2/concurrency_limits/{limit}")["active_slots"] == 0
    assert "worker stopped on SIGTERM; 1 flow run(s) were asked to stop" in log_text(worker)
    assert len(list(store.glob("deployed-sigterm/problems/*/final.parquet"))) < 2
    stored = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in store.glob("deployed-sigterm/problems/*/round-*.parquet")
    }
    assert stored

    # A worker of the session's pool continues the run from the store.
    again = deployed.run("leap-benchmark/benchmark", {"spec": spec})
    assert again["state_type"] == "COMPLETED", again["state"]["message"]
    for path, identity in stored.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity, f"{path} was rewritten"
    assert scores(store, "deployed-sigterm") == scores(store, "deployed-one")


# A stand-in for Prefect's worker: one "flow run" in a session of its own that ignores SIGTERM.
STUBBORN_WORKER = """
import subprocess, sys, time
ignore = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
ignore += "open(sys.argv[1], 'w').close(); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", ignore, sys.argv[1]], start_new_session=True)
time.sleep(600)
"""


def test_a_flow_run_that_ignores_sigterm_is_killed_after_the_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(deployments.worker, "STOP_GRACE_SECONDS", 1.0)
    started = tmp_path / "started"
    said: list[str] = []

    def signal_when_started() -> None:
        while not started.exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=signal_when_started, daemon=True).start()
    begun = time.monotonic()
    command = [sys.executable, "-c", STUBBORN_WORKER, str(started)]
    code = deployments.worker.run_worker(command, say=said.append)
    assert code == 0
    assert time.monotonic() - begun < 30
    assert any("did not stop in time: killing it" in line for line in said), said
    assert said[-1] == "worker stopped on SIGTERM; 1 flow run(s) were asked to stop."
    # Nothing of it is left: the handlers are back and the "flow run" is gone.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    leftovers = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if str(started) in (process.info["cmdline"] or []):
            leftovers.append(process.info["status"])
    assert set(leftovers) <= {psutil.STATUS_ZOMBIE}


@pytest.mark.slow
def test_leap_server_hands_the_dashboard_its_own_api_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "leap.console.cli", "server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, "leap server did not start"
            time.sleep(0.5)
        # What the dashboard's JavaScript reads to find the API (prefect's create_ui_app).
        settings = httpx.get(f"{base}/ui-settings", timeout=10).json()
        assert settings["api_url"] == f"{base}/api"
        assert f"export PREFECT_API_URL={base}/api" in log.read_text()

        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then ends by the signal it got, as the convention is.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        print(f"server exited {time.monotonic() - signalled:.1f} s after SIGTERM")
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("host", "port", "given", "url"),
    [
        ("127.0.0.1", 4300, None, "http://127.0.0.1:4300"),
        ("::1", 4200, None, "http://[::1]:4200"),
        ("0.0.0.0", 4200, "https://leap.lab.example/", "https://leap.lab.example"),
        ("0.0.0.0", 4200, "http://head:4200/api", "http://head:4200"),
    ],
)
def test_the_dashboard_address(host, port, given, url):
    assert reachable_url(host, port, given) == url


def test_a_server_on_every_address_is_named_by_this_machine():
    import socket

    assert reachable_url("0.0.0.0", 4200) == f"http://{socket.getfqdn()}:4200"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--public-url", "head.lab:4200"],
            "--public-url 'head.lab:4200' is not an http(s) address",
        ),
        (["--port", "70000"], "--port 70000 is not a port number"),
    ],
)
def test_leap_server_refuses_a_mistake_in_one_sentence(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "leap.console.cli", "server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
