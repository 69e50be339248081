"""The sampler's filters: the shortlist ranking keeps exactly what a full ranking keeps."""

from __future__ import annotations

import pytest
import torch

from leap.engines.base import SamplingParams
from leap.engines.transformers.sampling import _SHORTLIST, sample_next, survivors


def full_ranking(logits: torch.Tensor, p: SamplingParams) -> tuple[list[int], torch.Tensor]:
    """Reference: sort the whole vocabulary and apply each filter by its definition."""
    probs = torch.softmax(logits / p.temperature, dim=-1)
    ranked, order = torch.sort(probs, descending=True)
    kept = []
    mass = 0.0
    for i, (prob, token) in enumerate(zip(ranked.tolist(), order.tolist(), strict=True)):
        dropped = (0 < p.top_k <= i) or mass >= p.top_p or prob < p.min_p * float(ranked[0])
        if dropped and i > 0:
            break
        kept.append(token)
        mass += prob
    chosen = ranked[: len(kept)]
    return kept, chosen / chosen.sum()


def peaked(vocab: int, seed: int) -> torch.Tensor:
    """Logits like a language model's: a few likely tokens, a long flat tail."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(vocab, generator=g)
    logits[torch.randperm(vocab, generator=g)[:20]] += 8.0
    return logits


SETTINGS = [
    SamplingParams(temperature=0.6, top_p=0.95),
    SamplingParams(temperature=1.0, top_p=0.9, top_k=5),
    SamplingParams(temperature=0.7, top_p=0.95, min_p=0.05),
    SamplingParams(temperature=1.0, top_p=1.0),  # no nucleus: ranked in full
    SamplingParams(temperature=2.0, top_p=0.99),  # flat: the shortlist is not enough
]


@pytest.mark.parametrize("params", SETTINGS)
def test_survivors_match_a_full_ranking(params):
    vocab = 4 * _SHORTLIST + 17
    rows = torch.stack([peaked(vocab, seed) for seed in range(3)] + [torch.zeros(vocab)])
    for row, (token_ids, probs) in enumerate(survivors(rows, [params] * len(rows))):
        expected_ids, expected_probs = full_ranking(rows[row], params)
        # Equal probabilities (the all-zero row) may come in any order; the set may not.
        assert sorted(token_ids.tolist()) == sorted(expected_ids)
        assert torch.allclose(probs.sort().values, expected_probs.sort().values, atol=1e-6)
        assert abs(float(probs.sum()) - 1.0) < 1e-5


def test_a_flat_row_is_ranked_beyond_the_shortlist():
    vocab = 4 * _SHORTLIST
    ((token_ids, _),) = survivors(torch.zeros(1, vocab), [SamplingParams(top_p=0.95)])
    assert len(token_ids) > _SHORTLIST  # 95% of a uniform vocabulary


def test_draws_depend_on_each_row_seed_alone():
    logits = torch.stack([peaked(1000, 1), peaked(1000, 2)])
    params = [SamplingParams(temperature=1.0, top_p=0.99)] * 2

    def draw(seeds: list[int], rows: torch.Tensor) -> list[int]:
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        return [t for _ in range(20) for t in sample_next(rows, params[: len(rows)], gens)]

    together = draw([5, 6], logits)
    assert together == draw([5, 6], logits)
    alone = draw([6], logits[1:])
    assert together[1::2] == alone  # row 1's tokens do not depend on row 0 sharing the batch
    assert len(set(together[::2])) > 1  # it does sample, not always the top token


def test_temperature_zero_is_greedy_and_tiny_top_p_keeps_the_top_token():
    logits = torch.stack([peaked(500, 3), peaked(500, 4)])
    gens = [torch.Generator().manual_seed(0) for _ in range(2)]
    params = [SamplingParams(temperature=0.0), SamplingParams(temperature=1.0, top_p=1e-6)]
    assert sample_next(logits, params, gens) == [int(logits[0].argmax()), int(logits[1].argmax())]
