"""The vLLM engine on the real default model: the engine contract, batching, bad input."""

from __future__ import annotations

import threading

import pytest
from engine_contract import QUESTION, CacheTraits, EngineContract, request
from lane import BLOCK

from leap.errors import LeapError


class TestVllmEngine(EngineContract):
    """vLLM's prefix cache: whole blocks, shared by every request with the same prefix."""

    @pytest.fixture(scope="class")
    @classmethod
    def subject(cls, vllm_engine):
        return vllm_engine

    @pytest.fixture(scope="class")
    @classmethod
    def cache_traits(cls) -> CacheTraits:
        return CacheTraits(block=BLOCK, shared=True)


@pytest.fixture(scope="module")
def prompt(vllm_engine) -> list[int]:
    return vllm_engine.chat_prompt([{"role": "user", "content": QUESTION}])


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
