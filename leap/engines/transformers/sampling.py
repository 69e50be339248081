"""Drawing the next token for a batch of rows, each with its own random generator.

One `torch.Generator` per request makes a request's tokens depend only on its seed and its
logits, never on which other rows share the batch: that is what makes a resumed run
continue exactly as the uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from leap.engines.base import SamplingParams

# How many of the most likely tokens are ranked first. The nucleus (top-p) almost always
# lies within them; a row whose shortlist holds less than its top-p mass is ranked in full.
_SHORTLIST = 256
# Float sums over different orders differ in the last bits: a shortlist whose mass is this
# close to top-p is not trusted to contain the nucleus.
_MASS_MARGIN = 1e-4


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
        candidates = survivors(logits[sampled_rows], [params[r] for r in sampled_rows])
        for row, (token_ids, probs) in zip(sampled_rows, candidates, strict=True):
            pick = int(torch.multinomial(probs, 1, generator=generators[row]))
            chosen[row] = int(token_ids[pick])
    return [int(token) for token in chosen]  # type: ignore[arg-type]


def survivors(
    logits: torch.Tensor, params: Sequence[SamplingParams]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per row: the tokens left after temperature, top-k, top-p and min-p, most likely first,
    and their probabilities renormalised to sum to 1.

    Ranking the whole vocabulary (a sort of ~50K entries per row per step) cost more than
    the rest of a decode step's sampling together, so rows are first ranked over a
    shortlist of the most likely tokens; only a row whose shortlist may not hold its whole
    nucleus (a flat distribution, top-p of 1) is sorted in full.
    """
    temperature = torch.tensor([p.temperature for p in params]).unsqueeze(1)
    probs = torch.softmax(logits / temperature, dim=-1)
    vocab = probs.shape[-1]
    top_probs, top_ids = torch.topk(probs, min(_SHORTLIST, vocab), dim=-1)
    mass = top_probs.sum(dim=-1)
    full = [
        row
        for row, p in enumerate(params)
        if p.top_p >= 1.0 or float(mass[row]) < p.top_p + _MASS_MARGIN
    ]
    ranked: dict[int, tuple[torch.Tensor, torch.Tensor]] = {
        row: (top_ids[row], top_probs[row]) for row in range(len(params)) if row not in full
    }
    if full:
        sorted_probs, order = torch.sort(probs[full], dim=-1, descending=True)
        for i, row in enumerate(full):
            ranked[row] = (order[i], sorted_probs[i])
    out = []
    for row, p in enumerate(params):
        token_ids, ranked_probs = ranked[row]
        keep = _kept(ranked_probs, p)
        kept = ranked_probs[:keep]
        out.append((token_ids[:keep], kept / kept.sum()))
    return out


def _kept(ranked: torch.Tensor, p: SamplingParams) -> int:
    """How many of the ranked probabilities (descending) survive; every filter keeps a prefix."""
    keep = ranked.shape[0]
    if 0 < p.top_k < keep:
        keep = p.top_k
    # The smallest prefix whose mass reaches top_p: a token is dropped when the mass of
    # the tokens strictly before it already reaches top_p.
    mass_before = torch.cumsum(ranked, dim=0) - ranked
    keep = min(keep, int((mass_before < p.top_p).sum()))
    if p.min_p > 0:
        keep = min(keep, int((ranked >= p.min_p * ranked[0]).sum()))
    return max(keep, 1)  # the most likely token always survives
