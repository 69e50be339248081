"""Routing: which peer summaries each path gets to read (the "route" step of a LeaP block).

Every active path (the receiver) is shown up to `k` summaries written by the OTHER active
paths of the same problem. Finished (inactive) paths are never senders nor receivers.

Routers:
- ``dispersed``: least similar summaries first (the paper's default).
- ``clustered``: most similar summaries first.
- ``hybrid``: ``k // 2`` least similar, then the remaining ``k - k // 2`` most similar among
  the peers not yet chosen, so no peer is shown twice.
- ``random``: a seeded sample without replacement, shown in path-index order.

Equal similarities are broken in favour of the lower path index. When fewer than `k` peers
are available, all of them are shown, ordered as the router would order them.

Similarity metrics (both in [0, 1], 1 meaning identical):
- ``levenshtein`` (the DEFAULT): ``1 - LevenshteinDistance(a, b) / max(len(a), len(b))``,
  the formula given in the paper.
- ``indel``: ``1 - IndelDistance(a, b) / (len(a) + len(b))``, where the Indel distance
  counts only insertions and deletions; this is what the original release computes.

Two empty strings are treated as identical (similarity 1.0); an empty string against a
non-empty one has similarity 0.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy
from rapidfuzz import process
from rapidfuzz.distance import Indel, Levenshtein

Router = Literal["dispersed", "clustered", "hybrid", "random"]
Similarity = Literal["levenshtein", "indel"]

DEFAULT_SIMILARITY: Similarity = "levenshtein"

_SCORERS = {
    "levenshtein": Levenshtein.normalized_similarity,
    "indel": Indel.normalized_similarity,
}


@dataclass(frozen=True)
class Route:
    """The peers one receiver is shown.

    `peers` are indices into the list of summaries passed to `route`, in display order;
    `similarities[j]` is the similarity of `peers[j]`'s summary to the receiver's summary.
    """

    peers: tuple[int, ...] = ()
    similarities: tuple[float, ...] = ()


def similarity_matrix(
    summaries: Sequence[str], metric: Similarity = DEFAULT_SIMILARITY
) -> numpy.ndarray:
    """Return the N x N matrix of pairwise normalized similarities (float64)."""
    scorer = _SCORERS.get(metric)
    if scorer is None:
        raise ValueError(f"unknown similarity {metric!r}; use one of {', '.join(_SCORERS)}")
    texts = list(summaries)
    return process.cdist(texts, texts, scorer=scorer, dtype=numpy.float64, workers=1)


def route(
    summaries: Sequence[str],
    active: Sequence[bool],
    k: int,
    router: Router,
    metric: Similarity = DEFAULT_SIMILARITY,
    seed: int = 0,
) -> list[Route | None]:
    """Choose up to `k` peers for every active path.

    Returns one entry per path: None for an inactive path, an empty `Route()` for an active
    path with no active peer (or when `k == 0`), otherwise the chosen peers.
    `seed` (non-negative) only matters for the ``random`` router; each receiver draws from
    its own generator seeded with ``(seed, receiver index)``.
    """
    _check_arguments(summaries, active, k, router)
    sims = similarity_matrix(summaries, metric)
    routes: list[Route | None] = []
    for receiver, is_active in enumerate(active):
        if not is_active:
            routes.append(None)
            continue
        pool = [j for j, on in enumerate(active) if on and j != receiver]
        row = sims[receiver]
        chosen = _choose(pool, row, k, router, seed, receiver)
        routes.append(Route(tuple(chosen), tuple(float(row[j]) for j in chosen)))
    return routes


def _check_arguments(summaries: Sequence[str], active: Sequence[bool], k: int, router: str) -> None:
    if len(summaries) != len(active):
        raise ValueError(
            f"got {len(summaries)} summaries but {len(active)} active flags; they must match"
        )
    if k < 0:
        raise ValueError(f"the number of peers k must be >= 0, got {k}")
    if router not in get_args(Router):
        raise ValueError(f"unknown router {router!r}; use one of {', '.join(get_args(Router))}")


def _choose(
    pool: list[int], row: numpy.ndarray, k: int, router: str, seed: int, receiver: int
) -> list[int]:
    if k == 0 or not pool:
        return []
    if router == "dispersed":
        return _least_similar(pool, row)[:k]
    if router == "clustered":
        return _most_similar(pool, row)[:k]
    if router == "hybrid":
        return _hybrid(pool, row, k)
    return _random_sample(pool, k, seed, receiver)


def _least_similar(pool: list[int], row: numpy.ndarray) -> list[int]:
    """Pool sorted by ascending similarity; ties keep the lower index first."""
    return sorted(pool, key=lambda j: (row[j], j))


def _most_similar(pool: list[int], row: numpy.ndarray) -> list[int]:
    """Pool sorted by descending similarity; ties keep the lower index first."""
    return sorted(pool, key=lambda j: (-row[j], j))


def _hybrid(pool: list[int], row: numpy.ndarray, k: int) -> list[int]:
    chosen = _least_similar(pool, row)[: k // 2]
    taken = set(chosen)
    rest = [j for j in _most_similar(pool, row) if j not in taken]
    return chosen + rest[: k - len(chosen)]


def _random_sample(pool: list[int], k: int, seed: int, receiver: int) -> list[int]:
    generator = numpy.random.default_rng([seed, receiver])
    picked = generator.choice(len(pool), size=min(k, len(pool)), replace=False)
    return sorted(pool[int(i)] for i in picked)
