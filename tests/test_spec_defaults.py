"""A partial run spec is completed the same way everywhere: deployment defaults, then the
model's LeaP defaults (the CPU sizes for the default model), then the paper's sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leap.algorithm.config import LeapConfig
from leap.console.settings import leap_settings, load_spec_file
from leap.defaults import CPU_PRESET, DEFAULT_MODEL
from leap.errors import LeapError
from leap.runs import spec_with_defaults

ROOT = Path(__file__).resolve().parents[1]


def deployment_default_spec(name: str = "benchmark") -> dict:
    declared = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    [deployment] = [d for d in declared["deployments"] if d["name"] == name]
    return deployment["parameters"]["spec"]


def test_the_benchmark_deployment_defaults_are_the_sizes_of_leap_run():
    spec = spec_with_defaults({}, deployment_default_spec())
    assert spec.model == DEFAULT_MODEL
    assert spec.leap == leap_settings(DEFAULT_MODEL)
    assert spec.leap.max_tokens == CPU_PRESET["max_tokens"] < LeapConfig().max_tokens


def test_a_partial_spec_keeps_the_deployment_defaults_it_does_not_name():
    defaults = {**deployment_default_spec(), "leap": {"top_k": 1, "sampling": {"top_p": 0.9}}}
    given = {"limit": 1, "leap": {"n_paths": 2, "sampling": {"temperature": 0.5}}}
    spec = spec_with_defaults(given, defaults)
    assert spec.concurrency == defaults["concurrency"] > 1
    assert spec.limit == 1
    assert (spec.leap.n_paths, spec.leap.top_k) == (2, 1)
    assert spec.leap.tokens_per_round == CPU_PRESET["tokens_per_round"]
    assert (spec.leap.sampling.temperature, spec.leap.sampling.top_p) == (0.5, 0.9)


def test_other_models_keep_the_paper_sizes():
    spec = spec_with_defaults({"model": "/models/qwq-32b", "leap": {"n_paths": 8}})
    assert spec.leap == LeapConfig(n_paths=8)


def test_given_fields_win_and_other_fields_are_replaced_whole():
    defaults = {"columns": {"question": "q", "answer": "a"}, "concurrency": 4}
    spec = spec_with_defaults({"columns": {"question": "prompt"}, "concurrency": 2}, defaults)
    assert spec.columns == {"question": "prompt"}
    assert spec.concurrency == 2


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("smoke", "deployment spec must be a mapping of run spec fields"),
        ({"leap": {"n_paths": 0}}, "deployment spec: invalid leap.n_paths"),
        ({"leap": "big"}, "deployment spec: invalid leap"),
    ],
)
def test_a_bad_partial_spec_is_refused_in_one_sentence(given, message):
    with pytest.raises(LeapError, match=message):
        spec_with_defaults(given, deployment_default_spec(), source="deployment spec")


def test_a_spec_file_takes_the_same_defaults(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("benchmark: smoke\nleap:\n  method: independent\n")
    spec = load_spec_file(path)
    assert spec.leap == leap_settings(DEFAULT_MODEL, method="independent")
