"""The generated smoke benchmark."""

from __future__ import annotations

import pytest

from leap.benchmarks import LoadOptions, load_benchmark, load_benchmark_with_report
from leap.benchmarks.smoke import generate_smoke


def test_smoke_has_eight_easy_problems_with_integer_answers():
    problems = load_benchmark("smoke")
    assert [p.id for p in problems] == [f"smoke-{i}" for i in range(1, 9)]
    for problem in problems:
        assert problem.kind == "math"
        assert int(problem.answer) >= 0
        assert problem.answer == str(int(problem.answer))
        assert problem.question.endswith("?") and len(problem.question) < 140
    assert len({p.question for p in problems}) == 8
    assert len({p.metadata["template"] for p in problems}) == 8


@pytest.mark.parametrize("seed", [0, 1, 17, 2**40])
def test_smoke_is_deterministic_per_seed(seed):
    assert load_benchmark("smoke", LoadOptions(seed=seed)) == load_benchmark(
        "smoke", LoadOptions(seed=seed)
    )


def test_different_seeds_give_different_problems():
    questions = [
        tuple(p.question for p in load_benchmark("smoke", LoadOptions(seed=s))) for s in range(5)
    ]
    assert len(set(questions)) == 5


def test_smoke_answers_are_correct():
    for problem in generate_smoke(seed=3, count=40):
        question = problem.question
        numbers = [
            int(word.strip("?.,")) for word in question.split() if word.strip("?.,").isdigit()
        ]
        template = problem.metadata["template"]
        expected = {
            "addition": lambda n: n[0] + n[1],
            "subtraction": lambda n: n[0] - n[1],
            "multiplication": lambda n: n[0] * n[1],
            "boxes": lambda n: n[0] * n[1],
            "marbles": lambda n: n[0] - n[1],
            "sharing": lambda n: n[0] // n[1],
            "reading": lambda n: n[0] - n[1] * n[2],
            "bus": lambda n: n[0] * n[1],
        }[template](numbers)
        assert int(problem.answer) == expected, question


def test_smoke_limit_and_report():
    loaded = load_benchmark_with_report("smoke", LoadOptions(seed=2, limit=3))
    assert [p.id for p in loaded.problems] == ["smoke-1", "smoke-2", "smoke-3"]
    assert loaded.report.source == "generated (seed 2)" and loaded.report.skipped == 0
