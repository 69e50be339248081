"""Multiple-choice options: safe parsing and the seeded per-problem shuffle."""

from __future__ import annotations

import ast
import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from leap.benchmarks import (
    CHOICE_LETTERS,
    LoadOptions,
    Problem,
    load_benchmark,
    load_benchmark_with_report,
)
from leap.benchmarks.choices import option_order, parse_options, shuffle_choices
from leap.benchmarks.declarations import Benchmark
from leap.errors import LeapError

FIXTURES = Path(__file__).parent / "data" / "benchmarks"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEAP_HOME", str(tmp_path / "leap-home"))
    monkeypatch.delenv("LEAP_DATA_DIR", raising=False)


@pytest.mark.parametrize(
    ("value", "texts", "keys"),
    [
        ({"A": "one", "B": "two"}, ("one", "two"), ("A", "B")),
        ({"B": "two", "A": "one"}, ("one", "two"), ("A", "B")),
        (["one", "two", "three"], ("one", "two", "three"), ("A", "B", "C")),
        ("{'A': 'x = 1', 'B': \"it's 2\"}", ("x = 1", "it's 2"), ("A", "B")),
        ("['$\\\\frac{1}{2}$', '$2$']", ("$\\frac{1}{2}$", "$2$"), ("A", "B")),
        ({"yes": "Yes", "no": "No"}, ("Yes", "No"), ("yes", "no")),
    ],
)
def test_parse_options_accepts_dicts_lists_and_their_literals(value, texts, keys):
    options = parse_options(value)
    assert options.texts == texts
    assert options.keys == keys


@pytest.mark.parametrize(
    "value",
    [
        "__import__('os').system('x')",
        "{'A': __import__('os').getcwd(), 'B': 'b'}",
        "{'A': 1, 'B': 2}",
        "['only one']",
        "{'A': '', 'B': 'b'}",
        "[" + ", ".join(f"'{i}'" for i in range(11)) + "]",
        "{'A': 'a', 'B': 'b'",
        "A) one B) two",
        42,
        None,
        {1: "a", 2: "b"},
    ],
)
def test_parse_options_rejects_everything_else(value):
    with pytest.raises(ValueError):
        parse_options(value)


def test_code_in_an_options_string_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    attack = f"{{'A': open({str(marker)!r}, 'w').write('x'), 'B': 'b'}}"
    with pytest.raises(ValueError):
        parse_options(attack)
    assert not marker.exists()


def test_option_order_is_a_stable_seeded_permutation():
    order = option_order(4, seed=3, problem_id="gpqa-7")
    assert sorted(order) == [0, 1, 2, 3]
    assert option_order(4, seed=3, problem_id="gpqa-7") == order
    # Pinned value: a change of hashing scheme would silently re-letter old runs.
    assert option_order(4, seed=0, problem_id="gpqa-7") == [3, 1, 0, 2]
    others = {tuple(option_order(4, seed, "gpqa-7")) for seed in range(20)}
    assert len(others) > 5


def test_shuffle_moves_the_answer_with_its_option():
    problem = Problem(
        id="q", question="Pick the metal.", answer="A", kind="choice", choices=("Iron", "Neon")
    )
    for seed in range(10):
        shuffled = shuffle_choices(problem, seed)
        assert shuffled.choices[ord(shuffled.answer) - ord("A")] == "Iron"
        assert sorted(shuffled.choices) == ["Iron", "Neon"]
        assert [problem.choices[i] for i in shuffled.metadata["choice_order"]] == list(
            shuffled.choices
        )


def test_gpqa_shuffle_is_deterministic_per_seed_and_not_all_a():
    def letters(seed: int) -> list[str]:
        problems = load_benchmark("gpqa-diamond", LoadOptions(local_path=str(FIXTURES), seed=seed))
        return [p.answer for p in problems]

    assert letters(0) == letters(0)
    assert letters(0) != letters(1)
    counts = Counter(letters(0))
    assert counts["A"] < 12 and len(counts) >= 3


def test_gpqa_shuffle_can_be_turned_off():
    problems = load_benchmark(
        "gpqa-diamond", LoadOptions(local_path=str(FIXTURES), shuffle_choices=False)
    )
    assert {p.answer for p in problems} == {"A"}
    assert problems[0].choices == ("Na", "So", "Sd", "N")


# --- file: shuffles, the fixed-position warning, the declared option count ----------------


def _choice_file(tmp_path: Path, answers: list[str]) -> Path:
    rows = [
        {"question": f"Question {i}?", "choices": ["red", "green", "blue", "gold"], "answer": a}
        for i, a in enumerate(answers, start=1)
    ]
    path = tmp_path / "mc.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_file_choice_benchmark_shuffles_with_a_seed(tmp_path):
    path = _choice_file(tmp_path, ["A"] * 12)

    def load(seed: int) -> list[Problem]:
        options = LoadOptions(choices_field="choices", shuffle_choices=True, seed=seed)
        return load_benchmark(f"file:{path}", options)

    assert load(3) == load(3)
    assert [p.answer for p in load(3)] != [p.answer for p in load(4)]
    assert len({p.answer for p in load(3)}) >= 3
    for problem in load(3):  # the correct option moved with its letter
        assert problem.choices[CHOICE_LETTERS.index(problem.answer)] == "red"


def test_a_file_whose_answer_never_moves_is_warned_about(tmp_path, caplog):
    path = _choice_file(tmp_path, ["A"] * 6)
    with caplog.at_level(logging.WARNING, logger="leap"):
        load_benchmark(f"file:{path}", LoadOptions(choices_field="choices"))
    assert "the correct option is (A) in all 6 questions" in caplog.text
    assert "shuffle" in caplog.text


@pytest.mark.parametrize(
    ("answers", "shuffle"),
    [(["A"] * 6, True), (["A", "B", "A", "C", "A", "D"], False), (["B"] * 3, False)],
)
def test_no_warning_for_shuffled_varied_or_tiny_files(tmp_path, caplog, answers, shuffle):
    path = _choice_file(tmp_path, answers)
    options = LoadOptions(choices_field="choices", shuffle_choices=shuffle)
    with caplog.at_level(logging.WARNING, logger="leap"):
        load_benchmark(f"file:{path}", options)
    assert "correct option is" not in caplog.text


def test_gpqa_unshuffled_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="leap"):
        load_benchmark("gpqa-diamond", LoadOptions(local_path=str(FIXTURES), shuffle_choices=False))
    assert "benchmark gpqa-diamond: the correct option is (A) in all 12 questions" in caplog.text


def test_a_gpqa_row_with_three_options_is_refused_naming_the_row(tmp_path):
    rows = json.loads((FIXTURES / "gpqa_diamond.json").read_text(encoding="utf-8"))
    options = rows[4]["options"]
    options = ast.literal_eval(options) if isinstance(options, str) else dict(options)
    options.pop("D")
    rows[4]["options"] = options
    path = tmp_path / "gpqa_diamond.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(LeapError) as error:
        load_benchmark("gpqa-diamond", LoadOptions(local_path=str(path)))
    message = str(error.value)
    assert message.startswith(f"{path} row 5: field 'options' has 3 options, ")
    assert "every question of this benchmark has 4" in message
    assert message.endswith(".") and ". " not in message.replace(str(path), "")  # one sentence
    loaded = load_benchmark_with_report(
        "gpqa-diamond", LoadOptions(local_path=str(path), skip_invalid=True)
    )
    assert len(loaded.problems) == 11 and loaded.report.skipped == 1


def test_file_choice_benchmarks_take_any_option_count(tmp_path):
    rows = [
        {"question": "Two?", "choices": ["x", "y"], "answer": "A"},
        {"question": "Five?", "choices": ["a", "b", "c", "d", "e"], "answer": "E"},
    ]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    problems = load_benchmark(f"file:{path}", LoadOptions(choices_field="choices"))
    assert [len(p.choices) for p in problems] == [2, 5]


def test_only_choice_benchmarks_declare_an_option_count():
    with pytest.raises(ValueError, match="not a choice"):
        Benchmark(
            name="x", kind="math", description="", size=1, generator=lambda seed: [], option_count=4
        )
