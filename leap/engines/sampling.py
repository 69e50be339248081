"""Drawing the next token for a batch of rows, each with its own random generator.

One `torch.Generator` per request makes a request's tokens depend only on its seed and its
logits, never on which other rows share the batch: that is what makes a resumed run
continue exactly as the uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from leap.engines.base import SamplingParams


def sample_next(
    logits: torch.Tensor,
    params: Sequence[SamplingParams],
    generators: Sequence[torch.Generator],
) -> list[int]:
    """One token per row of `logits` ([rows, vocab]), drawn with that row's params and generator."""
    logits = logits.float()
    chosen: list[int | None] = [None] * len(params)
    for row, p in enumerate(params):
        if p.temperature == 0:
            chosen[row] = int(torch.argmax(logits[row]))
    sampled_rows = [row for row, token in enumerate(chosen) if token is None]
    if sampled_rows:
        probs = _filtered_probs(logits[sampled_rows], [params[r] for r in sampled_rows])
        for i, row in enumerate(sampled_rows):
            chosen[row] = int(torch.multinomial(probs[i], 1, generator=generators[row]))
    return [int(token) for token in chosen]  # type: ignore[arg-type]


def _filtered_probs(logits: torch.Tensor, params: Sequence[SamplingParams]) -> torch.Tensor:
    """Probabilities after temperature, top-k, top-p and min-p, computed for all rows at once."""
    temperature = torch.tensor([p.temperature for p in params]).unsqueeze(1)
    logits = logits / temperature
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    sorted_probs = torch.softmax(sorted_logits, dim=-1)
    drop = torch.zeros_like(sorted_probs, dtype=torch.bool)
    vocab = logits.shape[-1]
    for row, p in enumerate(params):
        if 0 < p.top_k < vocab:
            drop[row, p.top_k :] = True
    top_p = torch.tensor([p.top_p for p in params]).unsqueeze(1)
    # Keep the smallest prefix whose mass reaches top_p: a token is dropped when the mass
    # of the tokens strictly before it already reaches top_p.
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    drop |= mass_before >= top_p
    min_p = torch.tensor([p.min_p for p in params]).unsqueeze(1)
    drop |= sorted_probs < min_p * sorted_probs[:, :1]
    drop[:, 0] = False  # the most likely token always survives
    sorted_probs = sorted_probs.masked_fill(drop, 0.0)
    probs = torch.zeros_like(sorted_probs).scatter_(-1, order, sorted_probs)
    return probs / probs.sum(dim=-1, keepdim=True)
