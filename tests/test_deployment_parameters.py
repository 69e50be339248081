"""A partial `spec` given to the benchmark deployment keeps the deployment's defaults."""

from __future__ import annotations

import json

import pytest

from leap.defaults import CPU_PRESET

pytestmark = pytest.mark.slow


def test_a_partial_spec_runs_with_the_deployment_defaults_it_leaves_out(deployed):
    small = {"n_paths": 2, "top_k": 1, "tokens_per_round": 16, "max_tokens": 32}
    given = {
        "run_id": "deployed-partial",
        "limit": 1,
        "store": str(deployed.store),
        "dtype": "float32",
        "leap": small,
    }
    run = deployed.run("leap-benchmark/benchmark", {"spec": given})
    assert run["state_type"] == "COMPLETED", run["state"]["message"]
    stored = json.loads((deployed.store / "deployed-partial" / "run.json").read_text())["spec"]
    declared = deployed.deployment("leap-benchmark/benchmark")["parameters"]["spec"]
    # Before, a partial spec replaced the default whole: concurrency fell back to 1 and
    # the LeaP sizes to the paper's (16K tokens per path).
    assert stored["concurrency"] == declared["concurrency"] > 1
    assert stored["benchmark"] == declared["benchmark"]
    assert stored["leap"]["summary_max_tokens"] == CPU_PRESET["summary_max_tokens"]
    assert stored["leap"]["answer_max_tokens"] == CPU_PRESET["answer_max_tokens"]
    assert {k: stored["leap"][k] for k in small} == small
