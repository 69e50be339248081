"""Tests for leap.scoring.metrics: Pass@k, Pass@1, majority voting, Cons@N, token totals."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from leap.algorithm.records import PathAnswer, PathRound
from leap.scoring.answers import answers_equivalent
from leap.scoring.metrics import (
    TokenTotals,
    cons_at_n,
    cons_correct,
    majority_answer,
    mean_pass_at_k,
    pass_at_1,
    pass_at_k,
)


def brute_force_pass_at_k(paths: list[bool], k: int) -> Fraction:
    """Share of all k-subsets of the paths that contain at least one correct path."""
    subsets = list(itertools.combinations(paths, k))
    return Fraction(sum(any(subset) for subset in subsets), len(subsets))


PATH_LISTS = [
    [False],
    [True],
    [True, False],
    [False, False, True],
    [True, True, False, False],
    [False, True, False, False, True],
    [False, False, False, False, False, True],
    [True, False, True, False, True, False, False],
    [False] * 8,
    [True] * 8,
]


@pytest.mark.parametrize("paths", PATH_LISTS)
def test_pass_at_k_matches_brute_force(paths: list[bool]) -> None:
    n, c = len(paths), sum(paths)
    for k in range(1, n + 1):
        expected = brute_force_pass_at_k(paths, k)
        assert pass_at_k(n, c, k) == pytest.approx(float(expected), abs=1e-12), (n, c, k)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),  # nothing correct
        (5, 0, 5, 0.0),
        (5, 5, 1, 1.0),  # everything correct
        (5, 1, 5, 1.0),  # k == n: the only draw holds the correct path
        (4, 1, 1, 0.25),
        (4, 2, 2, 5 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6
        (10, 3, 4, 1 - 35 / 210),  # C(7,4) = 35, C(10,4) = 210
    ],
)
def test_pass_at_k_edges(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # C(1000, 500) has ~300 digits; the product form stays a plain float in [0, 1].
    value = pass_at_k(1000, 1, 500)
    assert value == pytest.approx(0.5)
    assert 0.0 <= pass_at_k(2000, 3, 1000) <= 1.0


@pytest.mark.parametrize(
    ("n", "c", "k"),
    [(3, 1, 4), (3, 1, 0), (3, 4, 1), (3, -1, 1), (0, 0, 1)],
)
def test_pass_at_k_rejects_bad_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_pass_at_k_averages_over_problems() -> None:
    correct = [[True, False], [False, False], [True, True]]
    # Problem by problem for k = 1: 1/2, 0, 1 -> mean 1/2; for k = 2: 1, 0, 1 -> mean 2/3.
    assert mean_pass_at_k(correct, 1) == pytest.approx(0.5)
    assert mean_pass_at_k(correct, 2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        mean_pass_at_k(correct, 3)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)


@pytest.mark.parametrize(
    ("correct", "expected"),
    [
        ([[True, False, False, False]], 0.25),
        ([[True, True], [False, False, False]], 0.5),
        ([[True, False, True], [True]], (2 / 3 + 1) / 2),  # problems weigh the same
        ([[False], [False]], 0.0),
    ],
)
def test_pass_at_1(correct: list[list[bool]], expected: float) -> None:
    assert pass_at_1(correct) == pytest.approx(expected)
    assert pass_at_1(correct) == pytest.approx(mean_pass_at_k(correct, 1))


def test_pass_at_1_rejects_empty_input() -> None:
    with pytest.raises(ValueError):
        pass_at_1([])
    with pytest.raises(ValueError):
        pass_at_1([[True], []])


def same(a: str, b: str) -> bool:
    return a == b


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["3", "4", "3"], "3"),
        (["4", "3", "3"], "3"),
        (["3", "4"], "3"),  # 1-1 tie: the group that appeared first
        (["4", "3"], "4"),
        (["5", "3", "4", "4", "3"], "3"),  # 2-2 tie between "3" and "4": "3" appeared first
        ([None, None, "7", None], "7"),  # None answers do not vote
        ([None, "1", "2", "2"], "2"),
        ([None, None], None),
        ([], None),
    ],
)
def test_majority_answer_with_plain_equality(answers: list[str | None], expected: str) -> None:
    assert majority_answer(answers, same) == expected


def test_majority_answer_groups_equivalent_math_answers() -> None:
    def math_same(a: str, b: str) -> bool:
        return answers_equivalent(a, b, "math")

    # "1/2", "0.5" and "\frac{1}{2}" form one group of three and beat two "2"s that
    # come first; the group is reported by its first member.
    answers = ["2", "1/2", "2", "0.5", None, r"\frac{1}{2}"]
    assert majority_answer(answers, math_same) == "1/2"
    assert majority_answer(answers, same) == "2"  # without equivalence "2" wins


def test_majority_answer_groups_letters_case_insensitively() -> None:
    def letter_same(a: str, b: str) -> bool:
        return answers_equivalent(a, b, "choice")

    assert majority_answer(["B", "c", "C", "b", "C"], letter_same) == "c"


def test_cons_correct_and_cons_at_n() -> None:
    def is_three(answer: str) -> bool:
        return answer == "3"

    assert cons_correct(["3", "3", "4"], is_three, same) is True
    assert cons_correct(["4", "3", "4"], is_three, same) is False
    assert cons_correct([None, None], is_three, same) is False
    problems = [
        (["3", "3", "4"], is_three),
        (["4", "3", "4"], is_three),
        (["3", "4"], is_three),  # tie resolved to the first group, "3"
        ([None, None], is_three),
    ]
    assert cons_at_n(problems, same) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        cons_at_n([], same)


def test_token_totals_add_and_export() -> None:
    a = TokenTotals(reasoning=10, summary=2, injected=5, answer=1, prompt_computed=7)
    b = TokenTotals(reasoning=1, summary=1, injected=1, answer=1, prompt_reused=30)
    total = a + b
    assert total == TokenTotals(11, 3, 6, 2, 7, 30)
    assert a == TokenTotals(10, 2, 5, 1, 7, 0)  # operands untouched
    assert total.generated == 11 + 3 + 2
    assert total.to_dict() == {
        "reasoning": 11,
        "summary": 3,
        "injected": 6,
        "answer": 2,
        "prompt_computed": 7,
        "prompt_reused": 30,
        "inherited": 0,
    }
    assert sum([a, b, b]) == TokenTotals(12, 4, 7, 3, 7, 60)
    assert sum([], TokenTotals()) == TokenTotals()
    with pytest.raises(TypeError):
        _ = a + 1


def test_token_totals_of_a_path_from_its_stored_rows() -> None:
    def row(reasoning: int, computed: int, reused: int) -> PathRound:
        # Reasoning, summary and injected counts are cumulative; prompt figures per round.
        return PathRound(
            path=1,
            segments=[],
            reasoning_tokens=reasoning,
            summary_tokens=reasoning // 10,
            injected_tokens=reasoning // 5,
            prompt_computed=computed,
            prompt_reused=reused,
        )

    rows = [row(100, 50, 0), row(200, 30, 150), row(250, 20, 300)]
    answer = PathAnswer(
        path=1,
        segments=[],
        forced=False,
        finish_reason="think_end",
        own_text="",
        answer_tokens=7,
        prompt_computed=4,
        prompt_reused=280,
    )
    assert TokenTotals.of_path(rows, answer) == TokenTotals(
        reasoning=250,
        summary=25,
        injected=50,
        answer=7,
        prompt_computed=50 + 30 + 20 + 4,
        prompt_reused=0 + 150 + 300 + 280,
    )
    # Still running: no answer yet.
    assert TokenTotals.of_path(rows[:2]) == TokenTotals(200, 20, 40, 0, 80, 150)
    # Answered before any stored round (e.g. a path forced to answer at once).
    assert TokenTotals.of_path([], answer) == TokenTotals(0, 0, 0, 7, 4, 280)
    assert TokenTotals.of_path([]) == TokenTotals()
