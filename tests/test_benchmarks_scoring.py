"""Scoring round trip: for every benchmark, the gold answer written the way a model writes
it scores correct, and a wrong one scores wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from leap.benchmarks import CHOICE_LETTERS, LoadOptions, load_benchmark
from leap.scoring.answers import score_text

DATA = Path(__file__).parent / "data" / "benchmarks"


def problems_of(name: str):
    local = None if name == "smoke" else str(DATA)
    return load_benchmark(name, LoadOptions(local_path=local))


def wrong_math(gold: str) -> str:
    return str(int(gold) + 1) if gold.lstrip("-").isdigit() else f"{gold} + 1"


@pytest.mark.parametrize("name", ["smoke", "aime24", "aime25", "aimo25", "gpqa-diamond"])
def test_gold_scores_right_and_a_wrong_answer_scores_wrong(name, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAP_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problems = problems_of(name)
    assert problems
    for problem in problems:
        if problem.kind == "choice":
            letters = CHOICE_LETTERS[: len(problem.choices)]
            wrong = next(c for c in letters if c != problem.answer)
            right_texts = [
                f"So the answer is \\boxed{{{problem.answer}}}.",
                f'ANSWER: "{problem.answer}"',
                f"The correct option is ({problem.answer}).",
            ]
            wrong_text = f"Therefore \\boxed{{{wrong}}}."
        else:
            right_texts = [f"Adding it up gives \\boxed{{{problem.answer}}}."]
            wrong_text = f"Adding it up gives \\boxed{{{wrong_math(problem.answer)}}}."
        for text in right_texts:
            assert score_text(text, problem).correct, (problem.id, text)
        assert not score_text(wrong_text, problem).correct, (problem.id, wrong_text)
