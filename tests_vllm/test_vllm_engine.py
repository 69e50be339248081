"""The vLLM engine on the real default model: the engine contract, batching, bad input."""

from __future__ import annotations

import threading

import pytest
from lane import BLOCK

from leap.engines.base import GenerationRequest, SamplingParams
from leap.errors import LeapError

GREEDY = SamplingParams(temperature=0.0)


@pytest.fixture(scope="module")
def prompt(vllm_engine) -> list[int]:
    return vllm_engine.chat_prompt(
        [{"role": "user", "content": "Count from one to twenty in words, one per line."}]
    )


def request(prompt, n=24, seed=1, key=None, **extra) -> GenerationRequest:
    return GenerationRequest(
        prompt_ids=list(prompt), max_new_tokens=n, seed=seed, cache_key=key, **extra
    )


def whole_blocks(tokens: int) -> int:
    """What a prefix cache of BLOCK-token blocks can serve of `tokens` computed tokens."""
    return (tokens // BLOCK) * BLOCK


def test_continuation_is_served_from_the_prefix_cache(vllm_engine, prompt):
    vllm_engine.reset_prefix_cache()
    first = vllm_engine.generate(
        [request(prompt, n=200, key=f"k/{i}", seed=i, ignore_eos=True) for i in range(3)]
    )
    # The three share the prompt: at most its whole blocks are reused by the later ones.
    assert all(r.prompt_tokens_reused + r.prompt_tokens_computed == len(prompt) for r in first)
    assert all(r.prompt_tokens_reused <= whole_blocks(len(prompt)) for r in first)
    injected = vllm_engine.encode("\n\nA note from a peer: check the last step.\n\n")
    follow = [
        request(list(prompt) + r.token_ids + injected, key=f"k/{i}", seed=10 + i)
        for i, r in enumerate(first)
    ]
    second = vllm_engine.generate(follow)
    for earlier, result, asked in zip(first, second, follow, strict=True):
        seen = len(prompt) + len(earlier.token_ids) - 1  # the last sampled token was never fed
        assert result.prompt_tokens_reused == whole_blocks(seen)
        assert result.prompt_tokens_reused >= 0.9 * seen
        assert result.prompt_tokens_computed == len(asked.prompt_ids) - whole_blocks(seen)


def test_cached_and_fresh_continuations_are_identical(vllm_engine, prompt):
    vllm_engine.reset_prefix_cache()
    first = vllm_engine.generate(
        [request(prompt, n=40, key=f"c/{i}", seed=i, ignore_eos=True) for i in range(2)]
    )
    follow = [
        request(list(prompt) + r.token_ids + vllm_engine.encode(" Next:"), key=f"c/{i}", seed=5 + i)
        for i, r in enumerate(first)
    ]
    cached = vllm_engine.generate(follow)
    assert all(r.prompt_tokens_reused > 0 for r in cached)
    vllm_engine.reset_prefix_cache()
    fresh = vllm_engine.generate(follow)
    # After the reset only the question they share can be served from the cache.
    assert all(r.prompt_tokens_reused <= whole_blocks(len(prompt)) for r in fresh)
    assert [r.token_ids for r in cached] == [r.token_ids for r in fresh]


def test_seed_decides_the_sample_not_the_batch(vllm_engine, prompt):
    alone = vllm_engine.generate([request(prompt, seed=7)])[0]
    batch = vllm_engine.generate(
        [request(prompt, seed=3), request(prompt, seed=7), request(prompt, seed=9)]
    )
    assert batch[1].token_ids == alone.token_ids
    assert batch[0].token_ids != batch[1].token_ids or batch[2].token_ids != batch[1].token_ids


def test_concurrent_callers_are_batched_together_and_get_their_own_results(vllm_engine, prompt):
    asked = {
        caller: [request(prompt, n=48, seed=100 + 2 * caller + j, ignore_eos=True) for j in (0, 1)]
        for caller in range(4)
    }
    alone = {caller: vllm_engine.generate(reqs) for caller, reqs in asked.items()}
    vllm_engine.peak_batch = 0
    start = threading.Barrier(4)
    together: dict[int, list] = {}

    def call(caller: int) -> None:
        start.wait()
        together[caller] = vllm_engine.generate(asked[caller])

    threads = [threading.Thread(target=call, args=(c,)) for c in asked]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # All four callers' requests ran in one vLLM batch, and each got exactly its own tokens.
    assert vllm_engine.peak_batch == 8
    for caller in asked:
        assert [r.token_ids for r in together[caller]] == [r.token_ids for r in alone[caller]]


def test_length_limit(vllm_engine, prompt):
    result = vllm_engine.generate([request(prompt, n=5, ignore_eos=True)])[0]
    assert result.finish_reason == "length" and result.stop_reason is None
    assert len(result.token_ids) == 5
    nothing = vllm_engine.generate([request(prompt, n=0)])[0]
    assert nothing.token_ids == [] and nothing.finish_reason == "length"


def test_end_of_sequence_is_a_stop_with_its_token(vllm_engine):
    short = vllm_engine.chat_prompt([{"role": "user", "content": "Say only the word yes."}])
    result = vllm_engine.generate([request(short, n=60, sampling=GREEDY)])[0]
    assert result.finish_reason == "stop", result.text
    assert result.stop_reason in vllm_engine.eos_token_ids
    assert result.token_ids[-1] == result.stop_reason
    assert vllm_engine.decode(result.token_ids).strip() == result.text.strip()


def test_stop_string_ends_generation_and_is_kept(vllm_engine, prompt):
    full = vllm_engine.generate([request(prompt, n=40, sampling=GREEDY, ignore_eos=True)])[0]
    words = full.text.split()
    assert len(words) > 4, full.text
    stop = words[3]
    result = vllm_engine.generate([request(prompt, n=40, sampling=GREEDY, stop=(stop,))])[0]
    assert result.finish_reason == "stop" and result.stop_reason == stop
    assert stop in result.text[-len(stop) - 4 :]
    assert len(result.token_ids) < len(full.token_ids)
    assert result.token_ids == full.token_ids[: len(result.token_ids)]


def test_stop_token_ends_generation(vllm_engine, prompt):
    full = vllm_engine.generate([request(prompt, n=20, sampling=GREEDY, ignore_eos=True)])[0]
    stop_id = full.token_ids[4]
    cut = full.token_ids.index(stop_id)
    result = vllm_engine.generate(
        [request(prompt, n=20, sampling=GREEDY, stop_token_ids=(stop_id,))]
    )[0]
    assert result.finish_reason == "stop" and result.stop_reason == stop_id
    assert result.token_ids == full.token_ids[: cut + 1]


def test_too_long_prompt_is_a_clear_error_and_the_engine_goes_on(vllm_engine, prompt):
    with pytest.raises(LeapError, match="vLLM refused a request"):
        vllm_engine.generate([request([int(prompt[-1])] * 5000, n=4)])
    assert len(vllm_engine.generate([request(prompt, n=3, ignore_eos=True)])[0].token_ids) == 3


def test_missing_model_folder_is_a_clear_error(tmp_path):
    from leap.engines.vllm_engine import VllmEngine

    with pytest.raises(LeapError, match="does not exist"):
        VllmEngine(str(tmp_path / "missing"))


def test_model_vllm_cannot_load_is_one_clear_error(tmp_path, model_folder):
    from leap.engines.vllm_engine import VllmEngine

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_text((model_folder / name).read_text())
    (broken / "model.safetensors").write_bytes(b"not really weights")
    with pytest.raises(LeapError, match="vLLM could not load model"):
        VllmEngine(str(broken), dtype="float32")
