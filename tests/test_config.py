"""Config validation: every bad value is one sentence naming its field."""

from __future__ import annotations

import pytest

from leap.algorithm.config import LeapConfig, load_config, parse_config
from leap.errors import LeapError


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"tokens_per_round": 0}, "tokens_per_round"),
        ({"n_paths": 0}, "n_paths"),
        ({"top_k": -1}, "top_k"),
        ({"router": "nearest"}, "router"),
        ({"similarity": "cosine"}, "similarity"),
        ({"method": "debate"}, "method"),
        ({"sampling": {"temperature": -0.1}}, "sampling.temperature"),
        ({"sampling": {"top_p": 0}}, "sampling.top_p"),
        ({"summary_max_tokens": 0}, "summary_max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"method": "single"}, "communicate_at"),
        ({"method": "single", "communicate_at": [0]}, "communicate_at"),
        ({"paths": 4}, "paths"),
    ],
)
def test_invalid_values_name_the_field(settings, field):
    with pytest.raises(LeapError) as caught:
        parse_config(settings)
    message = str(caught.value)
    assert field in message
    assert "\n" not in message


def test_defaults_follow_the_paper():
    config = LeapConfig()
    assert (config.summary_max_tokens, config.top_k, config.router) == (256, 4, "dispersed")
    assert config.similarity == "levenshtein"
    assert (config.sampling.temperature, config.sampling.top_p) == (0.6, 0.95)


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "leap.yaml"
    path.write_text("n_paths: 8\nrouter: hybrid\nsampling:\n  temperature: 0.7\n")
    config = load_config(path)
    assert (config.n_paths, config.router, config.sampling.temperature) == (8, "hybrid", 0.7)


@pytest.mark.parametrize("text", ["n_paths: [1", "- 1\n- 2\n"])
def test_bad_yaml_is_a_clear_error(tmp_path, text):
    path = tmp_path / "leap.yaml"
    path.write_text(text)
    with pytest.raises(LeapError, match=str(path)):
        load_config(path)


def test_schedule():
    assert all(LeapConfig().communicates_after(r) for r in range(3))
    assert not any(LeapConfig(method="independent").communicates_after(r) for r in range(3))
    single = LeapConfig(method="single", tokens_per_round=100, communicate_at=(300,))
    assert [single.communicates_after(r) for r in range(4)] == [False, False, True, False]


@pytest.mark.parametrize(
    ("given", "sentence"),
    [
        ({"communicate_at": (250,)}, "250 is not a multiple of tokens_per_round"),
        ({"communicate_at": (1000,)}, "1000 is not below max_tokens"),
    ],
)
def test_single_positions_that_no_round_ends_at_are_refused(given, sentence):
    data = {"method": "single", "tokens_per_round": 100, "max_tokens": 1000, **given}
    with pytest.raises(LeapError, match=sentence):
        parse_config(data)


def test_release_preset_fills_only_what_the_config_leaves_out():
    release = LeapConfig(preset="release")
    assert (release.top_k, release.similarity) == (2, "indel")
    assert (release.sampling.top_k, release.sampling.min_p) == (40, 0.05)
    assert release.sampling.temperature == LeapConfig().sampling.temperature
    own = LeapConfig(preset="release", top_k=3, sampling={"min_p": 0.1})
    assert (own.top_k, own.sampling.top_k, own.sampling.min_p) == (3, 40, 0.1)
    paper = LeapConfig()
    assert (paper.top_k, paper.similarity, paper.sampling.top_k) == (4, "levenshtein", 0)


def test_run_spec_file_loads_a_whole_spec(tmp_path):
    from leap.console.settings import load_spec_file
    from leap.errors import LeapError

    path = tmp_path / "run.yaml"
    path.write_text(
        "benchmark: smoke\nlimit: 2\nstore: /tmp/elsewhere\nconcurrency: 2\n"
        "leap: {n_paths: 2, tokens_per_round: 64, router: hybrid}\n"
    )
    spec = load_spec_file(path, run_id="from-flag")
    assert (spec.run_id, spec.limit, spec.store, spec.concurrency) == (
        "from-flag",
        2,
        "/tmp/elsewhere",
        2,
    )
    assert (spec.leap.n_paths, spec.leap.tokens_per_round, spec.leap.router) == (2, 64, "hybrid")
    path.write_text("benchmark: smoke\nleap: {n_pathz: 2}\n")
    with pytest.raises(LeapError, match=r"run\.yaml: invalid leap\.n_pathz"):
        load_spec_file(path)


def test_the_config_sampling_is_what_engines_receive():
    from pydantic import ValidationError

    from leap.engines.base import SamplingParams

    config = parse_config({"sampling": {"temperature": 0.7, "top_k": 40, "min_p": 0.05}})
    assert config.sampling == SamplingParams(temperature=0.7, top_k=40, min_p=0.05)
    assert config.model_dump()["sampling"] == {
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.05,
    }
    with pytest.raises(LeapError, match="sampling.top_q"):
        parse_config({"sampling": {"top_q": 0.5}})
    # Built directly (as engines and tests do), a bad value is refused all the same.
    with pytest.raises(ValidationError, match="top_p"):
        SamplingParams(top_p=1.5)


def test_every_method_a_config_accepts_has_a_policy():
    from typing import get_args

    from leap.algorithm.config import Method
    from leap.methods import METHODS

    assert set(get_args(Method)) == set(METHODS)
