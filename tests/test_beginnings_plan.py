"""Choosing beginnings: token prefixes of a stored source run's paths, per starting path."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
from leap.benchmarks.problem import Problem
from leap.errors import LeapError
from leap.runs import RunSpec, RunStore, load_run_problems
from leap.runs.beginnings import BeginningPlan, Beginnings, plan_beginnings

RIGHT, WRONG = True, False


def make_spec(tmp_path, **fields) -> RunSpec:
    base = {"benchmark": "smoke", "limit": 3, "store": str(tmp_path), "leap": {"n_paths": 4}}
    return RunSpec(**{**base, **fields})


def own_tokens(path: int, length: int) -> list[int]:
    """Path `path`'s reasoning tokens in the source: 1000 * (path + 1) + position."""
    return [1000 * (path + 1) + i for i in range(length)]


def store_source(
    tmp_path, paths: dict[int, list[tuple[bool, int]]], **fields
) -> tuple[RunSpec, list[Problem]]:
    """A source run "src" of the smoke benchmark: for problem number i, `paths[i]` holds each
    path's (correct, reasoning tokens); problems not in `paths` have no final answers.

    Each path writes its reasoning over two rounds, with a prompt, a summary and peers'
    text around it that are not its own tokens.
    """
    spec = make_spec(tmp_path, run_id="src", **fields)
    problems = load_run_problems(spec)
    run = RunStore.open(str(tmp_path), "src")
    run.create_or_check(spec)
    for index, described in paths.items():
        problem = problems[index]
        first, second = [], []
        for path, (_, length) in enumerate(described):
            tokens = own_tokens(path, length)
            half = (length + 1) // 2
            first.append(
                PathRound(
                    path,
                    [
                        Segment("prompt", [1, 2, 3], "question"),
                        Segment("reasoning", tokens[:half], "thinking"),
                        Segment("summary", [7, 7], "in short"),
                        Segment("peers", [8, 8, 8], "others say"),
                    ],
                )
            )
            second.append(PathRound(path, [Segment("reasoning", tokens[half:], "more")]))
        run.save_round(RoundRecord(problem.id, 0, first))
        run.save_round(RoundRecord(problem.id, 1, second))
        gold = int(problem.answer)
        answers = [
            PathAnswer(
                path,
                [Segment("answer", [9], "done")],
                forced=False,
                finish_reason="think_end",
                own_text=f"So the answer is \\boxed{{{gold if correct else gold + 1}}}.",
            )
            for path, (correct, _) in enumerate(described)
        ]
        run.save_final(FinalRecord(problem.id, answers))
    return spec, problems


def plan(
    tmp_path, problems, *, paths_per_problem=4, group_size=4, seed=0, **beginnings
) -> BeginningPlan:
    spec = make_spec(tmp_path, run_id="new", leap={"n_paths": paths_per_problem, "seed": seed})
    chosen = Beginnings(source="src", **beginnings)
    return plan_beginnings(
        spec, problems, chosen, paths_per_problem=paths_per_problem, group_size=group_size
    )


# --------------------------------------------------------------------------- the block


def test_exactly_one_of_paths_and_good_is_set():
    assert Beginnings(source="src", paths="incorrect").share == 0.15
    assert Beginnings(source="src", good=0.5).only_mixed is False
    for both_or_neither in ({}, {"paths": "correct", "good": 0.5}):
        with pytest.raises(ValidationError, match="exactly one of paths"):
            Beginnings(source="src", **both_or_neither)
    with pytest.raises(ValidationError):
        Beginnings(source="src", paths="incorrect", shares=0.2)
    with pytest.raises(ValidationError):
        Beginnings(source="src", good=1.5)
    with pytest.raises(ValidationError):
        Beginnings(source="src", paths="incorrect", share=0)


# --------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    ("share", "length", "cut"),
    [
        (0.15, 20, 3),
        (0.15, 5, 1),  # 0.75 of a token: at least one
        (0.29, 100, 29),  # 0.29 * 100 is just below 29 in floating point
        (0.5, 7, 3),
        (1.0, 7, 7),
    ],
)
def test_a_beginning_is_the_first_share_of_the_paths_own_reasoning_tokens(
    tmp_path, share, length, cut
):
    _, problems = store_source(tmp_path, {0: [(WRONG, length)]})
    result = plan(tmp_path, problems[:1], paths_per_problem=2, paths="incorrect", share=share)
    # Reasoning from both rounds in order; the prompt, summary and peers' text are left out.
    assert result.prefixes == {problems[0].id: [own_tokens(0, length)[:cut]] * 2}
    assert result.sources == {problems[0].id: [0, 0]}
    assert result.skipped == {}


def test_paths_incorrect_takes_only_incorrect_paths_and_cycles_through_them(tmp_path):
    outcomes = [(RIGHT, 40), (WRONG, 40), (RIGHT, 40), (WRONG, 40), (WRONG, 0)]
    _, problems = store_source(tmp_path, {0: outcomes})
    result = plan(tmp_path, problems[:1], paths_per_problem=5, paths="incorrect", share=0.1)
    sources = result.sources[problems[0].id]
    # Path 4 is incorrect but wrote no reasoning tokens: it has no beginning to give.
    assert set(sources) == {1, 3}
    assert sources == [sources[i % 2] for i in range(5)]
    assert result.prefixes[problems[0].id] == [own_tokens(s, 40)[:4] for s in sources]


def test_paths_correct_takes_only_correct_paths(tmp_path):
    _, problems = store_source(tmp_path, {0: [(RIGHT, 10), (WRONG, 10), (RIGHT, 10)]})
    result = plan(tmp_path, problems[:1], paths_per_problem=4, paths="correct")
    assert set(result.sources[problems[0].id]) == {0, 2}
    assert Counter(result.sources[problems[0].id]) == {0: 2, 2: 2}


# --------------------------------------------------------------------------- good share


@pytest.mark.parametrize(
    ("good", "per_group"),
    [(0.5, 2), (0.25, 1), (0.125, 1), (0.1, 0), (0.0, 0), (0.75, 3), (1.0, 4)],
)
def test_good_gives_each_group_exactly_its_share_of_correct_beginnings(tmp_path, good, per_group):
    outcomes = [(RIGHT, 20), (WRONG, 20), (RIGHT, 20), (WRONG, 20), (RIGHT, 20), (WRONG, 20)]
    _, problems = store_source(tmp_path, {0: outcomes})
    result = plan(tmp_path, problems[:1], paths_per_problem=12, group_size=4, good=good)
    sources = result.sources[problems[0].id]
    correct = [outcomes[s][0] for s in sources]
    assert [sum(correct[g : g + 4]) for g in range(0, 12, 4)] == [per_group] * 3


def test_good_positions_and_sources_are_seeded(tmp_path):
    outcomes = [(RIGHT, 20), (WRONG, 20), (RIGHT, 20), (WRONG, 20)]
    _, problems = store_source(tmp_path, {0: outcomes, 1: outcomes})
    runs = {
        seed: plan(tmp_path, problems[:2], paths_per_problem=8, good=0.5, seed=seed)
        for seed in range(6)
    }
    again = plan(tmp_path, problems[:2], paths_per_problem=8, good=0.5, seed=0)
    assert again == runs[0]
    # Other seeds put the correct beginnings elsewhere in the groups.
    assert len({tuple(r.sources[problems[0].id]) for r in runs.values()}) > 1
    # Each problem draws from its own seed.
    assert any(r.sources[problems[0].id] != r.sources[problems[1].id] for r in runs.values())


def test_good_needs_whole_groups(tmp_path):
    _, problems = store_source(tmp_path, {0: [(RIGHT, 5), (WRONG, 5)]})
    with pytest.raises(LeapError, match="6 paths do not split into groups of 4"):
        plan(tmp_path, problems[:1], paths_per_problem=6, group_size=4, good=0.5)


# --------------------------------------------------------------------------- skipped


def test_problems_without_a_suitable_path_are_skipped_with_a_reason(tmp_path):
    # Problem 0: only correct paths; problem 1: mixed; problem 2: never finished.
    _, problems = store_source(
        tmp_path, {0: [(RIGHT, 10), (RIGHT, 10)], 1: [(RIGHT, 10), (WRONG, 10)]}
    )
    first, second, third = (p.id for p in problems)
    result = plan(tmp_path, problems, paths="incorrect")
    assert list(result.prefixes) == [second]
    assert result.skipped == {
        first: f"problem {first} has no incorrect path with reasoning tokens in source run src.",
        third: f"problem {third} has no final answers in source run src.",
    }
    mixed = plan(tmp_path, problems, good=0.5)
    assert list(mixed.prefixes) == [second]
    assert "has no incorrect path" in mixed.skipped[first]


def test_good_names_each_missing_kind(tmp_path):
    _, problems = store_source(
        tmp_path,
        {0: [(WRONG, 10)], 1: [(RIGHT, 0), (WRONG, 0)], 2: [(RIGHT, 10), (WRONG, 10)]},
    )
    first, second, third = (p.id for p in problems)
    result = plan(tmp_path, problems, good=0.5, share=0.5)
    assert list(result.prefixes) == [third]
    assert result.skipped[first].startswith(f"problem {first} has no correct path")
    assert f"{second} has no correct and no incorrect path" in result.skipped[second]
    # Without correct beginnings in the groups, the incorrect paths are enough.
    assert list(plan(tmp_path, problems, good=0.0).prefixes) == [first, third]


def test_only_mixed_keeps_problems_with_correct_and_incorrect_paths(tmp_path):
    _, problems = store_source(
        tmp_path, {0: [(WRONG, 10), (WRONG, 10)], 1: [(RIGHT, 10), (WRONG, 10)]}
    )
    first, second, _ = (p.id for p in problems)
    assert list(plan(tmp_path, problems, paths="incorrect").prefixes) == [first, second]
    result = plan(tmp_path, problems, paths="incorrect", only_mixed=True)
    assert list(result.prefixes) == [second]
    assert result.skipped[first] == (
        f"problem {first} has no mix of correct and incorrect paths in source run src."
    )
    assert set(result.sources[second]) == {1}


# --------------------------------------------------------------------------- refusals


def test_a_missing_source_run_is_refused(tmp_path):
    problems = load_run_problems(make_spec(tmp_path))
    with pytest.raises(LeapError, match="beginnings source run 'src' cannot be used: no run"):
        plan(tmp_path, problems, paths="incorrect")


@pytest.mark.parametrize(
    ("field", "value"),
    [("benchmark", "gsm8k"), ("data", "/data/smoke.jsonl"), ("model", "qwen2.5-0.5b")],
)
def test_a_source_of_another_benchmark_or_model_is_refused(tmp_path, field, value):
    _, problems = store_source(tmp_path, {0: [(WRONG, 10)]})
    spec = make_spec(tmp_path, run_id="new", **{field: value})
    stored = getattr(make_spec(tmp_path), field)
    with pytest.raises(LeapError, match=f"has {field} {stored!r} but this run has {field}") as e:
        plan_beginnings(
            spec,
            problems,
            Beginnings(source="src", paths="incorrect"),
            paths_per_problem=4,
            group_size=4,
        )
    assert repr(value) in str(e.value)


def test_no_path_of_the_asked_kind_anywhere_is_refused(tmp_path):
    _, problems = store_source(tmp_path, {0: [(RIGHT, 10)], 1: [(RIGHT, 10), (RIGHT, 4)]})
    with pytest.raises(
        LeapError,
        match=r"no problem of source run src has an incorrect path .*\(beginnings paths: "
        r"incorrect\)",
    ):
        plan(tmp_path, problems, paths="incorrect")
    with pytest.raises(LeapError, match=r"both a correct and an incorrect path .*good: 0\.5"):
        plan(tmp_path, problems, good=0.5)
    with pytest.raises(LeapError, match="only_mixed: true"):
        plan(tmp_path, problems, paths="correct", only_mixed=True)


def test_a_source_with_no_final_answers_is_refused(tmp_path):
    _, problems = store_source(tmp_path, {})
    with pytest.raises(LeapError, match="final answers for none of these problems"):
        plan(tmp_path, problems, paths="incorrect")
