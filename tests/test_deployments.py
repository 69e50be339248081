"""Deployments end to end, on the session's deployed pipeline (tests/deployed.py).

Two nights of the nightly and its summary: tests/test_nightly_dashboard.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import datetime
from operator import itemgetter

import pyarrow.parquet as pq
import pytest
import yaml
from deployed import PREFECT_FILE, scores, slot_windows, tiny_spec
from helpers import TINY_LEAP
from prefect_server import ROOT

from leap.benchmarks.problem import Problem
from leap.runs.gpu import gpu_host, gpu_limit_name
from leap.scoring.outcome import problem_outcome

pytestmark = pytest.mark.slow


def test_deploying_to_a_missing_work_pool_is_refused_and_registers_nothing(deployed):
    refused = deployed.refused_before_setup
    assert refused.returncode == 2
    assert "work pool 'gpu' does not exist" in refused.stderr
    assert "leap setup-pool --pool gpu" in refused.stderr
    assert "Traceback" not in refused.stderr
    # A worker refuses an unknown pool the same way instead of creating it.
    worker = deployed.server.leap("worker", "--pool", "no-such-pool")
    assert worker.returncode == 2
    assert "work pool 'no-such-pool' does not exist" in worker.stderr
    pools = {p["name"] for p in deployed.server.post("/work_pools/filter")}
    assert "no-such-pool" not in pools
    # Deployments need a real server: without one configured, one line says so.
    unset = deployed.server.leap("setup-pool", PREFECT_API_URL="")
    assert unset.returncode == 2
    assert "PREFECT_API_URL is not set" in unset.stderr


def test_nightly_schedule_and_job_variables_read_back_from_the_server(deployed):
    declared = {d["name"]: d for d in yaml.safe_load(PREFECT_FILE.read_text())["deployments"]}
    nightly = deployed.deployment("leap-nightly/nightly")
    [schedule] = nightly["schedules"]
    expected = declared["nightly"]["schedules"][0]
    assert schedule["schedule"]["cron"] == expected["cron"]
    assert schedule["schedule"]["timezone"] == expected["timezone"]
    assert schedule["active"] is True
    benchmark = deployed.deployment("leap-benchmark/benchmark")
    assert benchmark["work_pool_name"] == "gpu"
    assert benchmark["job_variables"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    [pull] = benchmark["pull_steps"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
    pool = deployed.server.get("/work_pools/gpu")
    assert pool["type"] == "process"
    # Fine-tuning takes the GPU like a benchmark run; an experiment only starts runs.
    finetune = deployed.deployment("leap-finetune/finetune")
    assert finetune["work_pool_name"] == "gpu"
    assert finetune["parameters"] == declared["finetune"]["parameters"]
    assert finetune["job_variables"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    experiment = deployed.deployment("leap-experiment/experiment")
    assert experiment["parameters"] == declared["experiment"]["parameters"]
    assert experiment["job_variables"]["env"]["CUDA_VISIBLE_DEVICES"] == ""


def test_deployed_run_completes_and_fills_the_dashboard(deployed, single_run):
    run = single_run
    assert run["state_type"] == "COMPLETED", run["state"]["message"]
    assert run["name"] == "deployed-one · smollm2-135m"
    assert {"benchmark:smoke", "method:leap", "model:smollm2-135m", "run:deployed-one"} <= set(
        run["tags"]
    )
    by_key = deployed.by_key(run["id"])
    assert by_key["deployed-one-progress"]["data"] == 100.0
    table = json.loads(by_key["deployed-one-scores"]["data"])
    assert sorted((r["problem_id"], r["path"]) for r in table) == [
        ("smoke-1", 0),
        ("smoke-1", 1),
        ("smoke-2", 0),
        ("smoke-2", 1),
    ]
    # Two markdown artifacts: the summary, and the link to the report (Prefect stores a
    # link artifact as markdown); each is found by its key.
    assert "Pass@1" in by_key["deployed-one-summary"]["data"]
    results = deployed.store / "deployed-one" / "results"
    link = by_key["deployed-one-report"]
    assert link["type"] == "markdown"
    assert link["data"] == f"[Report of run deployed-one]({(results / 'report.html').as_uri()})"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["n_scored"] == 2
    # Each solve task run ends with its problem's answers in one line, the line the scored
    # results give for that problem.
    task_runs = deployed.server.post(
        "/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}}
    )
    solved = {t["name"]: t["state"] for t in task_runs if t["name"].startswith("problem-")}
    assert {name: state["type"] for name, state in solved.items()} == {
        "problem-smoke-1": "COMPLETED",
        "problem-smoke-2": "COMPLETED",
    }
    rows = pq.read_table(results / "scores.parquet").to_pylist()
    for name, state in solved.items():
        mine = sorted(
            (r for r in rows if f"problem-{r['problem_id']}" == name), key=itemgetter("path")
        )
        problem = Problem(id=mine[0]["problem_id"], question="?", answer=mine[0]["gold"])
        outcome = problem_outcome(
            problem, [r["answer"] for r in mine], [r["correct"] for r in mine]
        )
        assert state["message"] == outcome.message()
        assert re.fullmatch(
            r"[0-2]/2 correct, (majority .+|no path gave an answer) \(gold .+\)", state["message"]
        )
        # The summary puts the problem in the group its message tells.
        groups = {p: "wrong" for p in summary["wrong_problems"]}
        groups |= {p: "unanswered" for p in summary["unanswered_problems"]}
        assert groups.get(problem.id, "correct") == outcome.verdict
    # The summary and the report name the flow run, with its page on this server's UI.
    ui = deployed.server.api.removesuffix("/api")
    origin = {
        "flow_run_id": run["id"],
        "flow_run_name": run["name"],
        "dashboard_url": f"{ui}/runs/flow-run/{run['id']}",
    }
    assert summary["origin"] == origin
    assert summary["failed_problems"] == [] and summary["dtype"] == "float32"
    assert {"leap-pipeline", "torch", "transformers", "math-verify"} <= set(summary["versions"])
    report = (results / "report.html").read_text()
    assert f'<a href="{origin["dashboard_url"]}">' in report and summary["spec_hash"] in report
    # Elapsed time lies within the flow run's own span; the solve time is counted apart.
    started, ended = (datetime.fromisoformat(run[k]) for k in ("start_time", "end_time"))
    assert 0 < summary["elapsed_seconds"] <= (ended - started).total_seconds() + 1
    assert summary["solve_seconds"] > 0
    # It held this machine's GPU-0 limit while it solved, and gave it back.
    limit = gpu_limit_name("0", gpu_host())
    messages = [e["message"] for e in deployed.logs(run["id"])]
    assert f"holding GPU slot(s) {limit}" in messages
    state = deployed.server.get(f"/v2/concurrency_limits/{limit}")
    assert state["limit"] == 1 and state["active_slots"] == 0


def test_a_partial_spec_keeps_the_deployment_defaults_it_leaves_out(deployed, single_run):
    # Before, a partial spec replaced the default whole: the benchmark fell back to
    # RunSpec's, concurrency to 1 and the LeaP sizes to the paper's (16K tokens a path).
    stored = json.loads((deployed.store / "deployed-one" / "run.json").read_text())["spec"]
    declared = deployed.deployment("leap-benchmark/benchmark")["parameters"]["spec"]
    given = tiny_spec(deployed.store, "deployed-one")
    assert "benchmark" not in given and "concurrency" not in given
    assert stored["concurrency"] == declared["concurrency"] > 1
    assert (stored["benchmark"], stored["model"]) == (declared["benchmark"], declared["model"])
    assert {k: stored["leap"][k] for k in given["leap"]} == given["leap"]


def test_two_shards_on_two_workers_merge_into_one_run(deployed, single_run):
    spec = tiny_spec(deployed.store, "deployed-sharded")
    parent = deployed.run("leap-benchmark/benchmark", {"spec": spec, "shards": 2})
    assert parent["state_type"] == "COMPLETED", parent["state"]["message"]
    shards = {
        r["name"]: r
        for r in deployed.flow_runs("run:deployed-sharded")
        if any(t.startswith("shard:") for t in r["tags"])
    }
    names = [
        "deployed-sharded · smollm2-135m · shard-1of2",
        "deployed-sharded · smollm2-135m · shard-2of2",
    ]
    assert sorted(shards) == names
    assert all(r["state_type"] == "COMPLETED" for r in shards.values())
    assert all(r["parent_task_run_id"] for r in shards.values())
    # Each shard ran on its own worker (the parent holds the third).
    ran_on = {name: deployed.ran_on(r["id"]) for name, r in shards.items()}
    assert all(len(w) == 1 for w in ran_on.values()), ran_on
    assert ran_on[names[0]] != ran_on[names[1]]
    # Both use GPU 0 of this machine: the limit let one engine at a time use it.
    first, second = sorted(slot_windows(deployed.logs(r["id"])) for r in shards.values())
    assert first[1] <= second[0]
    # One run id, one store: the merged scores are those of the unsharded run.
    assert scores(deployed.store, "deployed-sharded") == scores(deployed.store, "deployed-one")
    assert {p.name for p in (deployed.store / "deployed-sharded" / "problems").iterdir()} == {
        "smoke-1",
        "smoke-2",
    }
    # The summary compares with the previous run of the same spec on this deployment.
    markdown = deployed.by_key(parent["id"])["deployed-sharded-summary"]["data"]
    assert "Δ vs deployed-one" in markdown
    assert re.search(r"\| Pass@1 \| [\d.]+% \| [+-]?0\.0 pts \|", markdown), markdown


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"limit": 0}, "invalid limit"),
        ({"benchmark": "no-such-benchmark"}, "unknown benchmark 'no-such-benchmark'"),
    ],
)
def test_a_run_with_invalid_parameters_fails_clearly_and_writes_nothing(deployed, spec, message):
    run_id = f"bad-{len(message)}"
    bad = {**tiny_spec(deployed.store, run_id), **spec}
    run = deployed.run("leap-benchmark/benchmark", {"spec": bad})
    assert run["state_type"] == "FAILED"
    assert message in run["state"]["message"]
    assert "Traceback" not in run["state"]["message"]
    assert not (deployed.store / run_id).exists()


def test_an_invalid_matrix_fails_the_nightly_clearly_and_writes_nothing(deployed, tmp_path):
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        yaml.safe_dump(
            {
                "benchmarks": ["smoke"],
                "methods": ["leap", "telepathy"],
                "models": ["smollm2-135m"],
                "configs": {"tiny": TINY_LEAP},
            }
        )
    )
    store = tmp_path / "nightly-store"
    params = {"matrix": str(matrix), "store": str(store)}
    run = deployed.run("leap-nightly/nightly", params)
    assert run["state_type"] == "FAILED"
    assert f"matrix file {matrix}: invalid methods.1" in run["state"]["message"]
    assert not store.exists()
    children = deployed.server.post(
        "/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}}
    )
    assert children == []


def test_a_dead_workers_run_is_finished_by_another_worker(deployed, single_run):
    """Runs last: it kills one of the module's workers (and its flow run) mid-run."""
    store = deployed.store
    flow_run_id = deployed.trigger(
        "leap-benchmark/benchmark", {"spec": tiny_spec(store, "deployed-killed")}
    )
    first_round = store / "deployed-killed" / "problems" / "smoke-1" / "round-000.parquet"
    deadline = time.monotonic() + 600
    while not first_round.exists():
        assert time.monotonic() < deadline, "no round was stored in time"
        time.sleep(0.05)
    run = deployed.server.get(f"/flow_runs/{flow_run_id}")
    [name] = deployed.ran_on(flow_run_id)
    # Like a lost machine: the worker and the flow run it started die at once.
    os.killpg(deployed.workers[name].pid, signal.SIGKILL)
    os.kill(int(run["infrastructure_pid"].rsplit(":", 1)[-1]), signal.SIGKILL)
    deployed.workers[name].wait()
    finals = list(store.glob("deployed-killed/problems/*/final.parquet"))
    assert len(finals) < 2
    stored = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in store.glob("deployed-killed/problems/*/round-*.parquet")
    }
    # Any other worker continues the run from the store (the GPU slot frees with its lease).
    again = deployed.run("leap-benchmark/benchmark", {"spec": tiny_spec(store, "deployed-killed")})
    assert again["state_type"] == "COMPLETED", again["state"]["message"]
    for path, identity in stored.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity, f"{path} was rewritten"
    assert scores(store, "deployed-killed") == scores(store, "deployed-one")
