"""The public reference copies in ../shared/datasets, when that folder is present."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from leap.benchmarks import LoadOptions, load_benchmark

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

CASES = [
    ("aime24", "aime.json", 30),
    ("aime25", "aime_2025.json", 30),
    ("aimo25", "aimo.json", 10),
    ("gpqa-diamond", "gpqa_diamond.json", 198),
]


@pytest.fixture(autouse=True)
def reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference datasets folder {REFERENCE} is absent")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEAP_HOME", str(tmp_path / "leap-home"))
    monkeypatch.delenv("LEAP_DATA_DIR", raising=False)
    return REFERENCE


@pytest.mark.parametrize(("name", "filename", "count"), CASES)
def test_reference_copies_load_by_name(name, filename, count):
    problems = load_benchmark(name, LoadOptions(local_path=str(REFERENCE / filename)))
    assert len(problems) == count
    assert len({p.id for p in problems}) == count


@pytest.mark.parametrize(("name", "filename", "count"), CASES)
def test_reference_copies_load_as_files(name, filename, count):
    kind = "choice" if name == "gpqa-diamond" else "math"
    problems = load_benchmark(f"file:{REFERENCE / filename}", LoadOptions(kind=kind))
    assert len(problems) == count


@pytest.mark.parametrize("name", ["aime24", "aime25", "aimo25"])
def test_reference_math_answers_are_integers(name):
    problems = load_benchmark(name, LoadOptions(local_path=str(REFERENCE)))
    assert all(p.answer.isdigit() and 0 <= int(p.answer) <= 999 for p in problems)


def test_reference_aime24_ids_follow_the_contest():
    ids = [p.id for p in load_benchmark("aime24", LoadOptions(local_path=str(REFERENCE)))]
    expected = [f"2024-{contest}-{n}" for contest in ("I", "II") for n in range(1, 16)]
    assert ids == expected


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_reference_gpqa_letters_are_spread(seed):
    problems = load_benchmark("gpqa-diamond", LoadOptions(local_path=str(REFERENCE), seed=seed))
    counts = Counter(p.answer for p in problems)
    assert set(counts) == set("ABCD")
    assert all(counts[letter] >= 0.15 * len(problems) for letter in "ABCD"), counts
    assert {p.metadata["domain"] for p in problems} == {"Biology", "Chemistry", "Physics"}


def _wrong_math(gold: str) -> str:
    return str(int(gold) + 1)


def test_reference_gold_answers_score_right_and_wrong_answers_wrong():
    from leap.benchmarks import CHOICE_LETTERS
    from leap.scoring.answers import score_text

    checked = 0
    for name, filename, _count in CASES:
        for problem in load_benchmark(name, LoadOptions(local_path=str(REFERENCE / filename))):
            if problem.kind == "choice":
                gold = problem.answer
                text = problem.choices[CHOICE_LETTERS.index(gold)]
                right = [
                    f"So the answer is \\boxed{{{gold}}}.",
                    f'ANSWER: "{gold}"',
                    f"The correct option is ({gold}).",
                    f"Answer: ${gold}$",
                    f"\\boxed{{{gold}) {text}}}",
                ]
                if len(text) > 1:  # options "a".."d" (gpqa-10) read as letters in a box
                    right.append(f"The value is \\boxed{{{text}}}.")
                wrong_letter = next(c for c in "ABCD" if c != gold)
                echo = "\n".join(
                    f"({CHOICE_LETTERS[i]}) {option}" for i, option in enumerate(problem.choices)
                )
                wrong = [f"Therefore \\boxed{{{wrong_letter}}}.", echo]
            else:
                right = [f"Adding it up gives \\boxed{{{problem.answer}}}."]
                wrong = [f"Adding it up gives \\boxed{{{_wrong_math(problem.answer)}}}."]
            for text in right:
                assert score_text(text, problem).correct, (problem.id, text)
            for text in wrong:
                assert not score_text(text, problem).correct, (problem.id, text)
            checked += 1
    assert checked == 268
