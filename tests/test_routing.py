"""Tests for leap.algorithm.routing: similarity metrics and the four routers."""

from __future__ import annotations

import pytest

from leap.algorithm.routing import DEFAULT_SIMILARITY, Route, route, similarity_matrix

# (a, b, levenshtein similarity, indel similarity), all worked out by hand:
PAIRS = [
    # Levenshtein: k->s, e->i, insert g = 3 edits, max len 7 -> 1 - 3/7 = 4/7.
    # Indel: LCS "ittn" has 4 chars, distance 6 + 7 - 2*4 = 5, total len 13 -> 8/13.
    ("kitten", "sitting", 4 / 7, 8 / 13),
    # Levenshtein: one substitution k->m, max len 6 -> 5/6.
    # Indel: LCS "itten" (5), distance 12 - 10 = 2, total 12 -> 1 - 2/12 = 5/6.
    ("kitten", "mitten", 5 / 6, 5 / 6),
    # Levenshtein: two substitutions over max len 2 -> 0.
    # Indel: LCS "a" (1), distance 4 - 2 = 2, total 4 -> 1/2.
    ("ab", "ba", 0.0, 1 / 2),
    # Levenshtein: delete f, append n = 2 edits over 4 -> 1/2.
    # Indel: LCS "law" (3), distance 8 - 6 = 2, total 8 -> 3/4.
    ("flaw", "lawn", 1 / 2, 3 / 4),
    ("same", "same", 1.0, 1.0),
    ("abc", "", 0.0, 0.0),
    # Two empty strings count as identical (documented in the module).
    ("", "", 1.0, 1.0),
]


@pytest.mark.parametrize(("a", "b", "lev", "indel"), PAIRS)
def test_pairwise_similarity_by_hand(a: str, b: str, lev: float, indel: float) -> None:
    for metric, expected in (("levenshtein", lev), ("indel", indel)):
        matrix = similarity_matrix([a, b], metric)
        assert matrix.shape == (2, 2)
        assert matrix[0, 1] == pytest.approx(expected)
        assert matrix[1, 0] == pytest.approx(expected)
        assert matrix[0, 0] == pytest.approx(1.0)


def test_default_similarity_is_the_papers_levenshtein() -> None:
    assert DEFAULT_SIMILARITY == "levenshtein"
    assert similarity_matrix(["ab", "ba"])[0, 1] == pytest.approx(0.0)


def test_unknown_metric_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown similarity"):
        similarity_matrix(["a", "b"], "cosine")  # type: ignore[arg-type]


# Receiver 0 is "aaaa". Against it, by hand (same values for both metrics here):
#   1 "bbbb": Levenshtein 4 edits / 4 -> 0;    Indel LCS 0 -> 8/8 -> 0
#   2 "aabb": Levenshtein 2 / 4 -> 1/2;        Indel LCS 2 -> distance 4/8 -> 1/2
#   3 "aaab": Levenshtein 1 / 4 -> 3/4;        Indel LCS 3 -> distance 2/8 -> 3/4
#   4 "abbb": Levenshtein 3 / 4 -> 1/4;        Indel LCS 1 -> distance 6/8 -> 1/4
GRADED = ["aaaa", "bbbb", "aabb", "aaab", "abbb"]
GRADED_SIM = {1: 0.0, 2: 0.5, 3: 0.75, 4: 0.25}

ROUTER_CASES = [
    ("dispersed", 2, (1, 4)),
    ("dispersed", 4, (1, 4, 2, 3)),
    ("dispersed", 10, (1, 4, 2, 3)),  # fewer peers than k: all of them
    ("clustered", 2, (3, 2)),
    ("clustered", 10, (3, 2, 4, 1)),
    ("hybrid", 1, (3,)),  # 0 least similar, then 1 most similar
    ("hybrid", 2, (1, 3)),
    ("hybrid", 3, (1, 3, 2)),  # odd k: 1 least, then 2 most similar
    ("hybrid", 4, (1, 4, 3, 2)),
    ("hybrid", 5, (1, 4, 3, 2)),  # 2 least, then the 2 left (of 3 wanted), no repeat
    ("hybrid", 10, (1, 4, 2, 3)),  # k // 2 = 5 >= pool: all, least similar first
    ("random", 10, (1, 2, 3, 4)),  # a sample of everything, shown in index order
]


@pytest.mark.parametrize("metric", ["levenshtein", "indel"])
@pytest.mark.parametrize(("router", "k", "expected"), ROUTER_CASES)
def test_router_order_for_receiver_zero(router: str, k: int, expected: tuple, metric: str) -> None:
    routes = route(GRADED, [True] * 5, k, router, metric)  # type: ignore[arg-type]
    first = routes[0]
    assert first is not None
    assert first.peers == expected
    assert first.similarities == pytest.approx(tuple(GRADED_SIM[j] for j in expected))
    assert len(set(first.peers)) == len(first.peers)


@pytest.mark.parametrize("router", ["dispersed", "clustered", "hybrid", "random"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_every_receiver_gets_distinct_other_peers(router: str, k: int) -> None:
    routes = route(GRADED, [True] * 5, k, router, "levenshtein", seed=3)  # type: ignore[arg-type]
    matrix = similarity_matrix(GRADED, "levenshtein")
    for receiver, chosen in enumerate(routes):
        assert chosen is not None
        assert receiver not in chosen.peers
        assert len(chosen.peers) == min(k, 4)
        assert len(set(chosen.peers)) == len(chosen.peers)
        assert chosen.similarities == pytest.approx(
            tuple(matrix[receiver, j] for j in chosen.peers)
        )


def test_own_summary_is_never_routed_even_when_identical() -> None:
    # Every summary is identical, so the receiver's own summary would be the "most similar".
    routes = route(["same"] * 3, [True] * 3, 1, "clustered", "levenshtein")
    assert routes == [Route((1,), (1.0,)), Route((0,), (1.0,)), Route((0,), (1.0,))]


def test_inactive_paths_neither_send_nor_receive() -> None:
    active = [True, False, True, False, True]
    routes = route(GRADED, active, 4, "dispersed", "levenshtein")
    assert routes[1] is None and routes[3] is None
    assert routes[0] == Route((4, 2), (0.25, 0.5))
    for chosen in (routes[0], routes[2], routes[4]):
        assert chosen is not None
        assert not {1, 3} & set(chosen.peers)


@pytest.mark.parametrize(
    ("active", "k", "expected"),
    [
        ([True, False, False], 2, [Route(), None, None]),  # no active peer
        ([False, False, False], 2, [None, None, None]),
        ([True, True, True], 0, [Route(), Route(), Route()]),  # k == 0
        ([], 3, []),
    ],
)
def test_empty_routes(active: list[bool], k: int, expected: list) -> None:
    summaries = ["x", "y", "z"][: len(active)]
    for router in ("dispersed", "clustered", "hybrid", "random"):
        assert route(summaries, active, k, router, "indel") == expected  # type: ignore[arg-type]


# Receiver 0 "aaaa"; peers 1 "aaab" and 3 "baaa" both score 3/4 (one edit, or Indel LCS 3),
# peers 2 and 4 ("bbbb") both score 0: every ordering below is decided by the lower index.
TIED = ["aaaa", "aaab", "bbbb", "baaa", "bbbb"]


@pytest.mark.parametrize(
    ("router", "k", "expected"),
    [
        ("dispersed", 1, (2,)),
        ("dispersed", 4, (2, 4, 1, 3)),
        ("clustered", 1, (1,)),
        ("clustered", 4, (1, 3, 2, 4)),
        ("hybrid", 2, (2, 1)),
        ("hybrid", 4, (2, 4, 1, 3)),
    ],
)
@pytest.mark.parametrize("metric", ["levenshtein", "indel"])
def test_ties_go_to_the_lower_index(router: str, k: int, expected: tuple, metric: str) -> None:
    first = route(TIED, [True] * 5, k, router, metric)[0]  # type: ignore[arg-type]
    assert first is not None
    assert first.peers == expected


def test_random_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    summaries = [f"summary {i}" for i in range(8)]
    active = [True] * 8

    def peers(seed: int) -> list[tuple[int, ...]]:
        return [r.peers for r in route(summaries, active, 2, "random", "levenshtein", seed)]

    assert peers(7) == peers(7)
    # 7 candidates choose 2 = 21 possible picks per receiver: ten seeds cannot all agree
    # unless the seed is ignored.
    assert len({tuple(peers(seed)) for seed in range(10)}) > 1
    for picked in peers(11):
        assert list(picked) == sorted(picked)
        assert len(picked) == 2


def test_random_receivers_draw_independently() -> None:
    # With one shared draw, receivers far from the chosen indices would all get the same
    # peers; seeding per receiver makes the picks differ between receivers.
    summaries = [str(i) for i in range(10)]
    routes = route(summaries, [True] * 10, 3, "random", "indel", seed=0)
    assert len({r.peers for r in routes if r is not None}) > 1


@pytest.mark.parametrize(
    ("summaries", "active", "k", "router", "message"),
    [
        (["a", "b"], [True], 1, "dispersed", "must match"),
        (["a", "b"], [True, True], -1, "dispersed", "k must be >= 0"),
        (["a", "b"], [True, True], 1, "nearest", "unknown router"),
    ],
)
def test_bad_arguments(
    summaries: list[str], active: list[bool], k: int, router: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        route(summaries, active, k, router, "levenshtein")  # type: ignore[arg-type]
