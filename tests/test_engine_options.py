"""Engine options in the run spec: where and how fast, never part of what a run computes."""

from __future__ import annotations

import pytest

from leap.engines.factory import create_engine
from leap.engines.options import EngineOptions
from leap.errors import LeapError
from leap.runs import parse_spec


def test_engine_options_do_not_change_the_spec_hash():
    plain = parse_spec({"engine": "openai"})
    moved = parse_spec(
        {"engine": "openai", "engine_options": {"base_url": "http://10.0.0.2:8000/v1"}}
    )
    assert moved.engine_options.base_url == "http://10.0.0.2:8000/v1"
    assert plain.content_hash() == moved.content_hash()
    assert parse_spec({"engine": "vllm"}).content_hash() != plain.content_hash()


def test_bad_engine_options_in_a_spec_are_one_clear_error():
    with pytest.raises(LeapError, match="engine_options.gpu_memory_utilization"):
        parse_spec({"engine": "vllm", "engine_options": {"gpu_memory_utilization": 2}})
    with pytest.raises(LeapError, match="engine_options.api_key"):
        parse_spec({"engine": "openai", "engine_options": {"api_key": "sk-no"}})


def test_unknown_engine_kind_is_a_clear_error():
    with pytest.raises(LeapError, match="unknown engine 'tgi'"):
        create_engine("tgi", "smollm2-135m", options=EngineOptions())


def test_openai_server_address_comes_from_the_environment(monkeypatch):
    from leap.engines.openai_engine import server_base_url

    monkeypatch.delenv("LEAP_OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    assert server_base_url(EngineOptions()) == "http://127.0.0.1:8000/v1"
    monkeypatch.setenv("LEAP_OPENAI_BASE_URL", "http://127.0.0.1:9000/v1")
    assert server_base_url(EngineOptions()) == "http://127.0.0.1:9000/v1"
    assert server_base_url(EngineOptions(base_url="https://x/v1")) == "https://x/v1"
    with pytest.raises(LeapError, match="not an http"):
        server_base_url(EngineOptions(base_url="127.0.0.1:8000"))
