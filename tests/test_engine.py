"""The transformers engine on the real default model: the engine contract, its KV cache, close."""

from __future__ import annotations

import pytest
from engine_contract import CacheTraits, EngineContract, request

from leap.engines.base import GenerationRequest
from leap.errors import LeapError


class TestTransformersEngine(EngineContract):
    """Per-key KV caches: a continuation reuses every token computed before, exactly."""

    continuation_tokens = 12

    @pytest.fixture(scope="class")
    @classmethod
    def subject(cls, engine):
        return engine

    @pytest.fixture(scope="class")
    @classmethod
    def cache_traits(cls) -> CacheTraits:
        return CacheTraits()


@pytest.mark.slow
def test_rows_of_unequal_length_leave_no_gaps_and_results_match_fresh_ones(engine):
    # Row "a" stops after 4 tokens while row "b" generates 120, so "a" gets a padding slot
    # per step in a shared-column cache. Then "a" receives a long injection and becomes the
    # longest row: that padding must not end up inside it.
    prompt = engine.chat_prompt([{"role": "user", "content": "Count from one to twenty in words."}])
    engine.reset_cache()
    keys = ("d/a", "d/b")
    first = engine.generate(
        [
            request(prompt, n=4, key=keys[0], seed=1, ignore_eos=True),
            request(prompt, n=120, key=keys[1], seed=2, ignore_eos=True),
        ]
    )
    injection = engine.encode(" A peer wrote: count the odd numbers first, then the even." * 12)
    then = engine.encode(" Then:")
    follow = [
        request(prompt + first[0].token_ids + injection, 16, 7, keys[0], ignore_eos=True),
        request(prompt + first[1].token_ids + then, 16, 8, keys[1], ignore_eos=True),
    ]
    cached = engine.generate(follow)
    assert [r.prompt_tokens_computed for r in cached] == [len(injection) + 1, len(then) + 1]
    # every row continues from its own end: the cache is as wide as its longest row, not
    # the longest row plus the other row's 116 padding slots
    assert engine._batch.cache.layers[0].keys.shape[-2] == max(map(len, engine._batch.tokens))
    engine.reset_cache()
    fresh = engine.generate(follow)
    assert [r.token_ids for r in cached] == [r.token_ids for r in fresh]


@pytest.mark.slow
def test_a_closed_engine_refuses_to_generate(model_folder):
    from leap.engines.transformers.engine import TransformersEngine

    closing = TransformersEngine(str(model_folder))
    prompt = closing.encode("Hello")
    assert len(closing.generate([request(prompt, n=2, ignore_eos=True)])[0].token_ids) == 2
    closing.close()
    closing.close()  # closing twice is fine
    assert closing.model is None
    with pytest.raises(LeapError, match="was closed: create a new one"):
        closing.generate([request(prompt, n=2)])


def test_a_request_without_prompt_tokens_is_refused_when_built():
    with pytest.raises(ValueError, match="at least one prompt token"):
        GenerationRequest(prompt_ids=[], max_new_tokens=1, seed=0)


def test_unknown_model_folder_is_a_clear_error(tmp_path):
    from leap.engines.transformers.engine import TransformersEngine

    with pytest.raises(LeapError, match="does not exist"):
        TransformersEngine(str(tmp_path / "missing"))


@pytest.mark.slow
def test_corrupt_model_folder_is_a_clear_error(tmp_path, model_folder):
    from leap.engines.transformers.engine import TransformersEngine

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((model_folder / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"not really weights")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_text((model_folder / name).read_text())
    with pytest.raises(LeapError, match="could not load model"):
        TransformersEngine(str(broken))
    (broken / "config.json").write_text("{ not json")
    with pytest.raises(LeapError, match="config.json"):
        TransformersEngine(str(broken))
