"""Engine options: each engine's own, refused when they are another's, never in the spec hash."""

from __future__ import annotations

import json

import pytest

from leap.console.settings import parse_engine_options
from leap.engines.factory import create_engine
from leap.engines.options import OpenAIOptions, VllmOptions
from leap.errors import LeapError
from leap.runs import parse_spec


def test_engine_options_do_not_change_the_spec_hash():
    plain = parse_spec({"engine": "openai"})
    moved = parse_spec(
        {"engine": "openai", "engine_options": {"base_url": "http://10.0.0.2:8000/v1"}}
    )
    assert moved.engine_options == OpenAIOptions(base_url="http://10.0.0.2:8000/v1")
    assert plain.content_hash() == moved.content_hash()
    assert parse_spec({"engine": "vllm"}).content_hash() != plain.content_hash()


def test_each_engine_gets_its_own_options_type():
    vllm = parse_spec({"engine": "vllm", "engine_options": {"tensor_parallel_size": 2}})
    assert vllm.engine_options == VllmOptions(tensor_parallel_size=2)
    assert parse_spec({"engine": "openai", "engine_options": {}}).engine_options == OpenAIOptions()
    assert parse_spec({"engine": "transformers", "engine_options": {}}).engine_options is None
    # A spec written to run.json reads back the same, options and all.
    again = parse_spec(json.loads(json.dumps(vllm.model_dump(mode="json"))))
    assert again == vllm


def test_bad_engine_options_in_a_spec_are_one_clear_error():
    with pytest.raises(LeapError, match="engine_options.gpu_memory_utilization"):
        parse_spec({"engine": "vllm", "engine_options": {"gpu_memory_utilization": 2}})
    with pytest.raises(LeapError, match="engine_options.api_key"):
        parse_spec({"engine": "openai", "engine_options": {"api_key": "sk-no"}})


@pytest.mark.parametrize(
    ("engine", "option", "owner"),
    [
        ("vllm", {"base_url": "http://10.0.0.2:8000/v1"}, "openai"),
        ("openai", {"tensor_parallel_size": 2}, "vllm"),
        ("transformers", {"max_concurrency": 4}, "openai"),
    ],
)
def test_an_option_of_another_engine_is_refused_in_one_sentence(engine, option, owner):
    (name,) = option
    expected = (
        rf"{name}.*belongs to the {owner} engine, not {engine}: "
        rf"remove it or use --engine {owner}\.$"
    )
    with pytest.raises(LeapError, match=expected) as caught:
        parse_spec({"engine": engine, "engine_options": option}, source="run.yaml")
    assert str(caught.value).startswith("run.yaml: ") and str(caught.value).count(". ") == 0
    pair = f"{name}={next(iter(option.values()))}"
    with pytest.raises(LeapError, match=expected) as caught:
        parse_engine_options(engine, [pair])
    assert str(caught.value).startswith("--engine-option: ")


def test_the_transformers_engine_takes_no_options():
    with pytest.raises(LeapError, match="the transformers engine takes no engine options"):
        parse_engine_options("transformers", ["threads=2"])
    assert parse_engine_options("transformers", []) is None


def test_resume_options_go_over_the_stored_ones():
    stored = VllmOptions(tensor_parallel_size=2, block_size=32)
    merged = parse_engine_options("vllm", ["block_size=16"], stored)
    assert merged == VllmOptions(tensor_parallel_size=2, block_size=16)


def test_a_run_json_from_before_the_split_still_reads():
    # run.json files stored every option of both engines, at its default when unset.
    every = {
        **VllmOptions().model_dump(),
        **OpenAIOptions(base_url="http://10.0.0.2:8000/v1").model_dump(),
    }
    assert parse_spec({"engine": "openai", "engine_options": every}).engine_options == (
        OpenAIOptions(base_url="http://10.0.0.2:8000/v1")
    )
    assert parse_spec({"engine": "transformers", "engine_options": every}).engine_options is None


def test_unknown_engine_kind_is_a_clear_error():
    with pytest.raises(LeapError, match="unknown engine 'tgi'"):
        create_engine("tgi", "smollm2-135m")


def test_create_engine_refuses_options_of_another_engine():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="belongs to the vllm engine, not openai"):
        create_engine("openai", "smollm2-135m", options=VllmOptions(block_size=32))


def test_openai_server_address_comes_from_the_environment(monkeypatch):
    from leap.engines.openai_engine import server_base_url

    monkeypatch.delenv("LEAP_OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    assert server_base_url(OpenAIOptions()) == "http://127.0.0.1:8000/v1"
    monkeypatch.setenv("LEAP_OPENAI_BASE_URL", "http://127.0.0.1:9000/v1")
    assert server_base_url(OpenAIOptions()) == "http://127.0.0.1:9000/v1"
    assert server_base_url(OpenAIOptions(base_url="https://x/v1")) == "https://x/v1"
    with pytest.raises(LeapError, match="not an http"):
        server_base_url(OpenAIOptions(base_url="127.0.0.1:8000"))
