"""Bootstrap intervals of a run's metrics and the paired test of two runs, on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from leap.scoring.metrics import cons_at_n, mean_pass_at_k, pass_at_1
from leap.scoring.statistics import Interval, RunPaths, bootstrap_run, paired_test

T, F = True, False

# Five problems, four paths each: verdicts and answer groups (-1: no answer).
CORRECT = {
    "p1": [T, T, F, F],
    "p2": [F, F, F, F],
    "p3": [T, T, T, F],
    "p4": [T, F, F, F],
    "p5": [T, T, T, T],
}
GROUPS = {
    "p1": [0, 0, 1, 2],  # the two right answers are the majority
    "p2": [0, 1, 0, -1],
    "p3": [0, 0, 0, 1],
    "p4": [0, 1, 1, 1],  # three equal wrong answers outvote the right one
    "p5": [0, 0, 0, 0],
}
OTHER = {
    "p1": [T, F, F, F],
    "p2": [F, F, F, F],
    "p3": [T, T, F, F],
    "p4": [F, F, F, F],
    "p5": [T, T, F, T],
}


def test_intervals_on_fixed_data_with_a_fixed_seed():
    """Computed once with seed 0 and 2000 resamples; a change in the resampling scheme or
    the draws shows here."""
    result = bootstrap_run(RunPaths.of(CORRECT, GROUPS), resamples=2000, seed=0)
    assert result.pass_at_1 == Interval(0.5, 0.15, 0.85)
    assert result.cons_at_n == Interval(0.6, 0.2, 1.0)
    assert result.pass_at_k[1] == result.pass_at_1
    expected = {2: (2 / 3, 4 / 15, 29 / 30), 3: (0.75, 0.35, 1.0), 4: (0.8, 0.4, 1.0)}
    for k, (estimate, low, high) in expected.items():
        got = result.pass_at_k[k]
        assert (got.estimate, got.low, got.high) == pytest.approx((estimate, low, high))


def test_point_estimates_are_the_runs_own_metrics():
    result = bootstrap_run(RunPaths.of(CORRECT, GROUPS), resamples=50)
    correct = list(CORRECT.values())
    assert result.pass_at_1.estimate == pytest.approx(pass_at_1(correct))
    for k in range(1, 5):
        assert result.pass_at_k[k].estimate == pytest.approx(mean_pass_at_k(correct, k))
    # Cons@N as metrics.cons_at_n votes: answers named by their group, checked by verdict.
    problems = []
    for pid, groups in GROUPS.items():
        answers = [None if g < 0 else f"answer-{g}" for g in groups]
        right = {a for a, ok in zip(answers, CORRECT[pid], strict=True) if ok}
        problems.append((answers, right.__contains__))
    assert result.cons_at_n is not None
    assert result.cons_at_n.estimate == pytest.approx(cons_at_n(problems, str.__eq__))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_interval_contains_its_estimate(seed):
    result = bootstrap_run(RunPaths.of(CORRECT, GROUPS), resamples=500, seed=seed)
    intervals = [result.pass_at_1, result.cons_at_n, *result.pass_at_k.values()]
    for interval in intervals:
        assert interval is not None
        assert interval.low <= interval.estimate <= interval.high


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    paths = RunPaths.of(CORRECT, GROUPS)
    first = bootstrap_run(paths, resamples=300, seed=3)
    assert bootstrap_run(paths, resamples=300, seed=3) == first
    others = [bootstrap_run(paths, resamples=300, seed=s).pass_at_1 for s in (4, 5, 6)]
    assert any(other != first.pass_at_1 for other in others)


def duplicated(data: dict, times: int) -> dict:
    return {f"{pid}-{i}": value for i in range(times) for pid, value in data.items()}


@pytest.mark.parametrize("times", [2, 4])
def test_more_of_the_same_problems_narrow_every_interval(times):
    small = bootstrap_run(RunPaths.of(CORRECT, GROUPS), resamples=2000)
    large = bootstrap_run(
        RunPaths.of(duplicated(CORRECT, times), duplicated(GROUPS, times)), resamples=2000
    )
    pairs = [(small.pass_at_1, large.pass_at_1), (small.cons_at_n, large.cons_at_n)]
    pairs += [(small.pass_at_k[k], large.pass_at_k[k]) for k in (2, 3)]
    for before, after in pairs:
        assert before is not None and after is not None
        assert after.estimate == pytest.approx(before.estimate)
        assert after.high - after.low < before.high - before.low


@pytest.mark.parametrize(("verdict", "value"), [(True, 1.0), (False, 0.0)])
def test_all_correct_or_all_wrong_data_has_a_degenerate_interval(verdict, value):
    correct = {f"p{i}": [verdict] * 3 for i in range(6)}
    groups = {f"p{i}": [0, 0, 0] for i in range(6)}
    result = bootstrap_run(RunPaths.of(correct, groups), resamples=200)
    for interval in [result.pass_at_1, result.cons_at_n, *result.pass_at_k.values()]:
        assert interval == Interval(value, value, value)


def test_paths_are_resampled_within_a_problem():
    """With one problem, only the second level (its paths) can vary."""
    result = bootstrap_run(RunPaths.of({"p": [T, F, T, F, T, F, T, F]}), resamples=500)
    assert result.pass_at_1.low < 0.5 < result.pass_at_1.high


def test_problems_may_have_different_numbers_of_paths():
    correct = {"a": [T], "b": [T, F, F], "c": [F, F, T, T, T, T]}
    result = bootstrap_run(RunPaths.of(correct), resamples=300)
    assert result.pass_at_1.estimate == pytest.approx(pass_at_1(list(correct.values())))
    assert list(result.pass_at_k) == [1]  # Pass@k needs k paths on every problem
    assert result.cons_at_n is None  # no answer groups given


def test_a_tie_between_answer_groups_goes_to_the_first_one_seen():
    wrong_first = RunPaths.of({"p": [F, T, F, T]}, {"p": [7, 3, 7, 3]})
    right_first = RunPaths.of({"p": [T, F, T, F]}, {"p": [3, 7, 3, 7]})
    assert wrong_first.majority_correct().tolist() == [False]
    assert right_first.majority_correct().tolist() == [True]
    no_answer = RunPaths.of({"p": [F, F]}, {"p": [-1, -1]})
    assert no_answer.majority_correct().tolist() == [False]


def test_the_paired_test_is_scipys_permutation_test_on_the_same_numbers():
    result = paired_test(RunPaths.of(CORRECT), RunPaths.of(OTHER), resamples=2000, seed=0)
    x = np.array([sum(v) / len(v) for v in CORRECT.values()])
    y = np.array([sum(v) / len(v) for v in OTHER.values()])
    direct = stats.permutation_test(
        (x, y),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        permutation_type="samples",
        vectorized=True,
    )
    assert result.statistic == pytest.approx(direct.statistic) == pytest.approx(0.2)
    # All four differing problems favour the first run: 4 of 32 sign flips are as extreme.
    assert result.p_value == pytest.approx(direct.pvalue) == pytest.approx(0.125)
    assert result.difference == Interval(0.2, 0.0, 0.45)


def test_a_randomized_paired_test_matches_scipy_with_the_same_seed():
    rng = np.random.default_rng(11)
    a = {f"p{i}": list(rng.random(4) < 0.6) for i in range(20)}
    b = {f"p{i}": list(rng.random(4) < 0.4) for i in range(20)}
    result = paired_test(RunPaths.of(a), RunPaths.of(b), resamples=200, seed=5)
    x, y = RunPaths.of(a).shares(), RunPaths.of(b).shares()
    direct = stats.permutation_test(
        (x, y),
        lambda u, v, axis: np.mean(u - v, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=9999,
        rng=5,
    )
    assert result.p_value == pytest.approx(direct.pvalue)
    assert result.difference.low <= result.statistic <= result.difference.high


def test_runs_are_paired_by_problem_id_not_by_position():
    reordered = dict(reversed(list(OTHER.items())))
    straight = paired_test(RunPaths.of(CORRECT), RunPaths.of(OTHER), resamples=300)
    assert paired_test(RunPaths.of(CORRECT), RunPaths.of(reordered), resamples=300) == straight
    # Paired by position instead, the same runs would differ on other problems.
    by_position = {pid: reordered[other] for pid, other in zip(CORRECT, reordered, strict=True)}
    assert paired_test(RunPaths.of(CORRECT), RunPaths.of(by_position)).statistic == 0.2
    assert paired_test(RunPaths.of(CORRECT), RunPaths.of(by_position)) != straight


def test_a_run_against_itself_differs_by_nothing():
    paths = RunPaths.of(CORRECT)
    result = paired_test(paths, paths, resamples=300)
    assert result.statistic == 0.0 and result.p_value == 1.0
    # The two runs' paths are drawn apart (path i of one run is no pair of path i of the
    # other), so even equal runs get an interval around zero, not a point.
    assert result.difference.estimate == 0.0
    assert result.difference.low < 0.0 < result.difference.high


def test_unusable_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one problem"):
        RunPaths.of({})
    with pytest.raises(ValueError, match="at least one path"):
        RunPaths.of({"p": []})
    with pytest.raises(ValueError, match="problem ids differ"):
        paired_test(RunPaths.of({"p": [T]}), RunPaths.of({"q": [T]}))
    with pytest.raises(ValueError, match="k must be within"):
        bootstrap_run(RunPaths.of({"p": [T, F]}), ks=[3])
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_run(RunPaths.of({"p": [T, F]}), resamples=0)


def test_drawing_class_counts_is_drawing_paths_with_replacement():
    """The intervals match a plain two-level bootstrap that draws every path (written out
    here with the same tie rule), up to the resampling noise of either."""
    rng = np.random.default_rng(42)
    ids = list(CORRECT)
    pass1, cons = [], []
    for _ in range(4000):
        drawn = rng.integers(0, len(ids), size=len(ids))
        shares, majorities = [], []
        for pid in (ids[i] for i in drawn):
            paths = rng.integers(0, 4, size=4)
            shares.append(np.mean([CORRECT[pid][i] for i in paths]))
            votes = np.bincount([GROUPS[pid][i] for i in paths if GROUPS[pid][i] >= 0], minlength=4)
            winner = int(votes.argmax())  # groups are numbered by first appearance
            majorities.append(votes.max() > 0 and CORRECT[pid][GROUPS[pid].index(winner)])
        pass1.append(np.mean(shares))
        cons.append(np.mean(majorities))
    result = bootstrap_run(RunPaths.of(CORRECT, GROUPS), resamples=4000, seed=1)
    assert result.cons_at_n is not None
    for interval, samples in ((result.pass_at_1, pass1), (result.cons_at_n, cons)):
        low, high = np.percentile(samples, [2.5, 97.5])
        assert interval.low == pytest.approx(low, abs=0.051)
        assert interval.high == pytest.approx(high, abs=0.051)


def test_one_problem_has_a_p_value_of_one():
    # its only two sign flips are as extreme as each other
    result = paired_test(
        RunPaths.of({"p1": [True, True]}), RunPaths.of({"p1": [False, True]}), resamples=100
    )
    assert (result.statistic, result.p_value) == (0.5, 1.0)
