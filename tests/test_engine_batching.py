"""Continuous batching in the transformers engine: calls from several threads share one
running batch, and each row's tokens are exactly what the call would have produced alone."""

from __future__ import annotations

import threading

import pytest
import torch
from engine_contract import request

from leap.engines.base import GenerationResult
from leap.engines.transformers.kv_cache import RaggedCache

QUESTIONS = (
    "Count from one to twenty in words.",
    "Name five colours and one thing of each colour.",
    "What is 17 + 25? Think step by step.",
)
INJECTED = " A peer wrote: check each step twice before going on."


def workload(engine, caller: int) -> list[GenerationResult]:
    """Two calls of two rows each, the second continuing the first (KV reuse): rows of
    different lengths, so rows join and leave the shared batch at different steps."""
    prompt = engine.chat_prompt([{"role": "user", "content": QUESTIONS[caller]}])
    keys = [f"batching/{caller}/{row}" for row in range(2)]
    first = engine.generate(
        [
            request(prompt, n=20 + 6 * caller + 9 * row, seed=10 * caller + row, key=keys[row])
            for row in range(2)
        ]
    )
    injected = engine.encode(INJECTED)
    follow = [
        request(
            prompt + result.token_ids + injected,
            n=14 + 5 * row,
            seed=100 + 10 * caller + row,
            key=keys[row],
            stop=("\n\n",),
        )
        for row, result in enumerate(first)
    ]
    return first + engine.generate(follow)


def outcome(results: list[GenerationResult]) -> list[tuple]:
    return [(r.token_ids, r.finish_reason, r.stop_reason, r.prompt_tokens_reused) for r in results]


def test_concurrent_calls_share_the_batch_and_match_their_calls_alone(engine):
    callers = range(len(QUESTIONS))
    engine.reset_cache()
    engine.peak_batch = 0
    passes = engine.forward_passes
    alone = [outcome(workload(engine, caller)) for caller in callers]
    alone_passes = engine.forward_passes - passes
    assert engine.peak_batch == 2  # one call at a time: two rows at most

    engine.reset_cache()
    engine.peak_batch = 0
    passes = engine.forward_passes
    together: list[list[tuple] | None] = [None] * len(callers)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(callers))

    def run(caller: int) -> None:
        try:
            barrier.wait(timeout=60)
            together[caller] = outcome(workload(engine, caller))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(caller,)) for caller in callers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    if errors:
        raise errors[0]
    # Batched for real: rows of several callers were sampled in one step, and the
    # callers together needed fewer forward passes than one after the other.
    assert engine.peak_batch >= 4
    assert engine.forward_passes - passes < 0.75 * alone_passes
    for caller in callers:
        assert together[caller] == alone[caller], f"caller {caller}"
    # Every continuation was served from its path's cache.
    assert all(reused > 0 for row in together for *_, reused in row[2:])  # type: ignore[index]


def test_a_failing_step_fails_every_call_in_the_batch_and_the_engine_goes_on(
    engine, monkeypatch: pytest.MonkeyPatch
):
    prompt = engine.chat_prompt([{"role": "user", "content": QUESTIONS[0]}])
    engine.reset_cache()
    started = threading.Barrier(3)
    failures: list[BaseException] = []
    sample = engine._decode_step

    def failing_step() -> None:
        if len(engine._admitted) == 2:  # both callers' rows are in the batch
            raise RuntimeError("step failed")
        sample()

    monkeypatch.setattr(engine, "_decode_step", failing_step)

    def run(seed: int) -> None:
        started.wait(timeout=60)
        try:
            engine.generate([request(prompt, n=40, seed=seed, key=f"fail/{seed}", ignore_eos=True)])
        except RuntimeError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    started.wait(timeout=60)
    for thread in threads:
        thread.join(timeout=600)
    assert [str(exc) for exc in failures] == ["step failed", "step failed"]
    monkeypatch.undo()
    result = engine.generate([request(prompt, n=5, seed=3, key="fail/1", ignore_eos=True)])[0]
    assert len(result.token_ids) == 5 and result.prompt_tokens_reused == 0


def test_cache_rows_join_move_and_take_part_in_a_forward_alone() -> None:
    cache = RaggedCache(layers=1, rows=2)
    cache.starts = torch.tensor([0, 0])
    cache.update(torch.ones(2, 1, 3, 1), torch.ones(2, 1, 3, 1), 0)  # two rows of 3
    # a third row joins with 2 cached tokens; the buffers grow to hold it
    cache.reserve(3)
    joined = torch.full((1, 1, 2, 1), 7.0)
    cache.put_row(2, [(joined, -joined)])
    # a forward over the joining row alone: the two rows before it are untouched
    cache.starts, cache.first_row = torch.tensor([2]), 2
    keys, values = cache.update(torch.full((1, 1, 2, 1), 8.0), torch.zeros(1, 1, 2, 1), 0)
    assert keys.shape[0] == 1 and keys[0, 0, :4, 0].tolist() == [7.0, 7.0, 8.0, 8.0]
    layer = cache.layers[0]
    assert layer.row(0, 5)[0][0, 0, :, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    # row 1 leaves: the last row moves into its slot
    cache.move_row(2, 1, 4)
    assert layer.row(1, 4)[0][0, 0, :, 0].tolist() == [7.0, 7.0, 8.0, 8.0]
    assert layer.row(1, 2)[1][0, 0, :, 0].tolist() == [-7.0, -7.0]
