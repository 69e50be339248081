"""`leap run` in real processes: killed mid-problem and resumed; against a real Prefect server.

The server is the session's `prefect_server` (tests/prefect_server.py).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import TINY_LEAP, comparable

pytestmark = pytest.mark.slow  # `leap run` subprocesses on the real model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    # Three rounds per problem, so there is a moment to kill a problem halfway.
    path.write_text(yaml.safe_dump({**TINY_LEAP, "tokens_per_round": 24, "max_tokens": 72}))
    return path


def run_args(store: Path, run_id: str, config: Path, limit: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "leap.console.cli",
        "run",
        "--benchmark",
        "smoke",
        "--limit",
        str(limit),
        "--store",
        str(store),
        "--run-id",
        run_id,
        "--config",
        str(config),
        "--dtype",
        "float32",
    ]


def start(args: list[str], env: dict | None = None) -> subprocess.Popen:
    # Output goes to a file, not a pipe: a pipe nobody drains while the test polls the
    # store would block the child once it fills.
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    return process


def output(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]


def finish(process: subprocess.Popen, timeout: int = 1800) -> str:
    process.wait(timeout=timeout)
    assert process.returncode == 0, output(process)[-4000:]
    return output(process)


def scores(store: Path, run_id: str) -> list[dict]:
    table = pq.read_table(io.BytesIO((store / run_id / "results" / "scores.parquet").read_bytes()))
    return comparable(table.to_pylist())


@pytest.fixture(scope="module")
def whole(tmp_path_factory, config_file, prefect_server) -> tuple[Path, str]:
    """One uninterrupted `leap run` against the session's real Prefect server: the
    reference the interrupted runs are compared with. Its store and output."""
    store = tmp_path_factory.mktemp("whole") / "runs"
    env = {"PREFECT_API_URL": prefect_server.api}
    return store, finish(start(run_args(store, "whole", config_file), env=env))


def test_killed_run_resumes_to_the_same_scores(tmp_path, config_file, whole):
    store = tmp_path / "runs"

    process = start(run_args(store, "killed", config_file))
    first_round = store / "killed" / "problems" / "smoke-1" / "round-000.parquet"
    deadline = time.monotonic() + 600
    while not first_round.exists():
        assert process.poll() is None, output(process)[-4000:]
        assert time.monotonic() < deadline, "no round was stored in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole process group, like a lost machine
    process.wait()
    assert not (store / "killed" / "problems" / "smoke-1" / "final.parquet").exists()
    stored = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in store.glob("killed/problems/*/round-*.parquet")
    }
    assert stored

    finish(start(run_args(store, "killed", config_file)))
    for path, identity in stored.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity, f"{path} was rewritten"
    assert scores(store, "killed") == scores(whole[0], "whole")


# Each method with a policy class of its own, three rounds on one problem; killed once its
# first round is stored (moa: during its second layer; leap-s: after its group
# communication). The PeerGroup methods (leap, leap-t, single, independent, self-correct)
# share one class and one replay: `test_killed_run_resumes_to_the_same_scores` covers them.
METHOD_CONFIGS = {
    "moa": {"method": "moa", "layers": 3, "max_tokens": 24},
    "leap-s": {
        "method": "leap-s",
        "group_size": 2,
        "first_tokens": 24,
        "tokens_per_round": 24,
        "max_tokens": 72,
    },
}


@pytest.mark.parametrize("method", sorted(METHOD_CONFIGS))
def test_a_killed_run_of_each_method_resumes_to_the_same_tokens(tmp_path, method):
    config = tmp_path / f"{method}.yaml"
    config.write_text(yaml.safe_dump({**TINY_LEAP, **METHOD_CONFIGS[method]}))
    store = tmp_path / "runs"
    finish(start(run_args(store, "whole", config, limit=1)))

    process = start(run_args(store, "killed", config, limit=1))
    problem = store / "killed" / "problems" / "smoke-1"
    deadline = time.monotonic() + 600
    while not (problem / "round-000.parquet").exists():
        assert process.poll() is None, output(process)[-4000:]
        assert time.monotonic() < deadline, "no round was stored in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (problem / "final.parquet").exists()
    assert not (problem / "round-002.parquet").exists()

    finish(start(run_args(store, "killed", config, limit=1)))
    rounds = sorted(p.name for p in problem.glob("round-*.parquet"))
    assert rounds == ["round-000.parquet", "round-001.parquet", "round-002.parquet"]
    killed = scores(store, "killed")
    assert killed == scores(store, "whole")  # sequence_sha256: the same tokens, path by path
    assert len(killed) == (1 if method == "moa" else TINY_LEAP["n_paths"])


def session_members(session: int) -> list[str]:
    """Command lines of the live processes in this session (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):
            continue  # the process ended while we looked
        # after the command name: state, ppid, pgrp, session, ...
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(cmdline.decode(errors="replace"))
    return members


def test_sigterm_stops_a_run_at_once_and_it_resumes(tmp_path, config_file, whole):
    """SIGTERM (a scheduler, `kill`) ends `leap run` mid-problem instead of after it."""
    store = tmp_path / "runs"
    process = start(run_args(store, "stopped", config_file))
    # smoke-2 is solved by a flow task (smoke-1 got the head start), so the signal lands
    # while the flow runs and Prefect's own SIGTERM handler is in place.
    problem = store / "stopped" / "problems" / "smoke-2"
    deadline = time.monotonic() + 600
    while not (problem / "round-000.parquet").exists():
        assert process.poll() is None, output(process)[-4000:]
        assert time.monotonic() < deadline, "no round was stored in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    # Without the prompt exit, the solve thread would first finish the problem's last two
    # rounds and store its final answers.
    assert process.wait(timeout=120) != 0
    assert not (problem / "final.parquet").exists()
    assert "leap resume stopped" in output(process)
    # Prefect's temporary API server (a child in the run's session) is stopped too.
    left = session_members(process.pid)
    if left:
        os.killpg(process.pid, signal.SIGKILL)  # do not leak it into later tests
    assert left == []
    finish(start(run_args(store, "stopped", config_file)))
    assert (problem / "final.parquet").exists()
    assert scores(store, "stopped") == scores(whole[0], "whole")


def test_artifacts_are_readable_through_a_real_prefect_server(whole, prefect_server):
    out = whole[1]
    assert "report:" in out
    # The server is shared by the session: look only at this run's flow runs.
    mine = {"flow_runs": {"tags": {"all_": ["run:whole"]}}}
    runs = prefect_server.post("/flow_runs/filter", mine)
    assert [r["name"] for r in runs] == ["whole · smollm2-135m"]
    assert runs[0]["state_type"] == "COMPLETED"
    assert {"benchmark:smoke", "method:leap", "model:smollm2-135m"} <= set(runs[0]["tags"])
    artifacts = prefect_server.post("/artifacts/filter", mine)
    kinds = {a["type"] for a in artifacts}
    assert {"progress", "table", "markdown"} <= kinds
    progress = next(a for a in artifacts if a["type"] == "progress")
    assert progress["data"] == 100.0
    by_key = {a["key"]: a for a in artifacts if a["key"]}
    assert "Pass@1" in by_key["whole-summary"]["data"]
    assert "report.html" in by_key["whole-report"]["data"]
    tasks = prefect_server.post("/task_runs/filter", mine)
    assert {"problem-smoke-1", "problem-smoke-2"} <= {t["name"] for t in tasks}


def api_servers_of(pid: int) -> list[int]:
    """Pids of the temporary Prefect API servers that process `pid` started (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[1]) == pid and b"flows.api_server" in cmdline:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for_flow_task(process: subprocess.Popen, store: Path, run_id: str) -> list[int]:
    """Wait until the flow's own task stores a round (smoke-1 had the head start); the
    run's API server pids."""
    round_file = store / run_id / "problems" / "smoke-2" / "round-000.parquet"
    deadline = time.monotonic() + 600
    while not round_file.exists():
        assert process.poll() is None, output(process)[-4000:]
        assert time.monotonic() < deadline, "no round was stored in time"
        time.sleep(0.05)
    servers = api_servers_of(process.pid)
    assert servers, "leap run started no temporary API server of its own"
    return servers


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_process_group_stops_the_run_cleanly(tmp_path, config_file, signum):
    """A terminal's Ctrl-C and most schedulers signal the whole group, server included."""
    store = tmp_path / "runs"
    process = start(run_args(store, "grouped", config_file))
    servers = wait_for_flow_task(process, store, "grouped")
    os.killpg(process.pid, signum)
    try:
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = output(process)
    assert process.returncode != 0
    assert f"leap resume grouped --store {store}" in text.replace("\n", "")
    assert "Traceback" not in text, text[-4000:]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in servers), "the temporary API server outlived the run"


def test_a_killed_run_leaves_no_api_server_behind(tmp_path, config_file):
    store = tmp_path / "runs"
    process = start(run_args(store, "sigkilled", config_file))
    servers = wait_for_flow_task(process, store, "sigkilled")
    process.kill()  # SIGKILL to `leap run` alone: no handler of ours runs
    process.wait()
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in servers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # do not leak it into later tests
    assert left == []
