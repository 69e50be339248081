"""The transformers engine on the real default model: cache reuse, seeds, stops."""

from __future__ import annotations

import pytest

from leap.engines.base import GenerationRequest, SamplingParams
from leap.errors import LeapError

GREEDY = SamplingParams(temperature=0.0)


@pytest.fixture(scope="module")
def prompt(engine) -> list[int]:
    return engine.chat_prompt([{"role": "user", "content": "Count from one to twenty in words."}])


def request(prompt, n=12, seed=1, key=None, **extra) -> GenerationRequest:
    return GenerationRequest(
        prompt_ids=list(prompt), max_new_tokens=n, seed=seed, cache_key=key, **extra
    )


def test_continuation_reuses_every_earlier_token(engine, prompt):
    engine.close()
    first = engine.generate(
        [request(prompt, key=f"k/{i}", seed=i, ignore_eos=True) for i in range(3)]
    )
    assert [r.prompt_tokens_reused for r in first] == [0, 0, 0]
    assert all(r.prompt_tokens_computed == len(prompt) for r in first)
    injected = engine.encode("\n\nA note from a peer: check the last step.\n\n")
    follow = [
        request(list(prompt) + r.token_ids + injected, key=f"k/{i}", seed=10 + i)
        for i, r in enumerate(first)
    ]
    second = engine.generate(follow)
    for earlier, result in zip(first, second, strict=True):
        # Everything before the injection was cached; only the injection and the last
        # sampled token (never fed back during its own call) are computed.
        assert result.prompt_tokens_reused == len(prompt) + len(earlier.token_ids) - 1
        assert result.prompt_tokens_computed == len(injected) + 1


def test_cached_and_fresh_continuations_are_identical(engine, prompt):
    engine.close()
    first = engine.generate(
        [request(prompt, key=f"c/{i}", seed=i, ignore_eos=True) for i in range(2)]
    )
    follow = [
        request(list(prompt) + r.token_ids + engine.encode(" Next:"), key=f"c/{i}", seed=5 + i)
        for i, r in enumerate(first)
    ]
    cached = engine.generate(follow)
    engine.close()
    fresh = engine.generate(follow)
    assert [r.prompt_tokens_reused for r in fresh] == [0, 0]
    assert [r.token_ids for r in cached] == [r.token_ids for r in fresh]


def test_rows_of_unequal_length_leave_no_gaps_and_results_match_fresh_ones(engine, prompt):
    # Row "a" stops after 4 tokens while row "b" generates 120, so "a" gets a padding slot
    # per step in a shared-column cache. Then "a" receives a long injection and becomes the
    # longest row: that padding must not end up inside it.
    engine.close()
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
    engine.close()
    fresh = engine.generate(follow)
    assert [r.token_ids for r in cached] == [r.token_ids for r in fresh]


def test_seed_decides_the_sample_not_the_batch(engine, prompt):
    engine.close()
    alone = engine.generate([request(prompt, seed=7)])[0]
    batch = engine.generate(
        [request(prompt, seed=3), request(prompt, seed=7), request(prompt, seed=9)]
    )
    assert batch[1].token_ids == alone.token_ids
    assert batch[0].token_ids != batch[1].token_ids or batch[2].token_ids != batch[1].token_ids


def test_different_key_order_and_subsets_keep_caches(engine, prompt):
    engine.close()
    keys = ["o/0", "o/1", "o/2"]
    first = engine.generate([request(prompt, key=k, seed=i) for i, k in enumerate(keys)])
    # Ask for two of them in the reverse order: both still continue from their caches.
    follow = [request(list(prompt) + first[i].token_ids, key=keys[i], seed=20) for i in (2, 0)]
    results = engine.generate(follow)
    for i, result in zip((2, 0), results, strict=True):
        assert result.prompt_tokens_reused == len(prompt) + len(first[i].token_ids) - 1


def test_prompt_that_drops_cached_text_reuses_only_the_shared_prefix(engine, prompt):
    engine.close()
    first = engine.generate([request(prompt, key="t/0", n=16, ignore_eos=True)])[0]
    kept = list(prompt) + first.token_ids[:6]
    edited = kept + engine.encode(" instead,")
    result = engine.generate([request(edited, key="t/0", seed=4)])[0]
    assert result.prompt_tokens_reused == len(kept)
    engine.close()
    fresh = engine.generate([request(edited, key="t/0", seed=4)])[0]
    assert fresh.token_ids == result.token_ids


def test_length_limit(engine, prompt):
    result = engine.generate([request(prompt, n=5, ignore_eos=True)])[0]
    assert result.finish_reason == "length" and result.stop_reason is None
    assert len(result.token_ids) == 5


def test_stop_string_ends_generation_and_is_kept(engine, prompt):
    full = engine.generate([request(prompt, n=40, sampling=GREEDY, ignore_eos=True)])[0]
    words = full.text.split()
    assert len(words) > 4, full.text
    stop = words[3]
    result = engine.generate([request(prompt, n=40, sampling=GREEDY, stop=(stop,))])[0]
    assert result.finish_reason == "stop" and result.stop_reason == stop
    assert result.text.endswith(stop) or stop in result.text[-len(stop) - 4 :]
    assert len(result.token_ids) < len(full.token_ids)


def test_stop_token_ends_generation(engine, prompt):
    full = engine.generate([request(prompt, n=20, sampling=GREEDY, ignore_eos=True)])[0]
    stop_id = full.token_ids[4]
    cut = full.token_ids.index(stop_id)
    result = engine.generate([request(prompt, n=20, sampling=GREEDY, stop_token_ids=(stop_id,))])[0]
    assert result.finish_reason == "stop" and result.stop_reason == stop_id
    assert result.token_ids == full.token_ids[: cut + 1]


def test_unknown_model_folder_is_a_clear_error(tmp_path):
    from leap.engines.transformers.engine import TransformersEngine

    with pytest.raises(LeapError, match="does not exist"):
        TransformersEngine(str(tmp_path / "missing"))


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
