"""Uncertainty of a run's metrics: bootstrap intervals, and a paired test of two runs.

A run's score is noisy twice over: the problems are a sample of all problems of their
kind, and each problem's N paths are a sample of what the model could have written. The
bootstrap here is therefore two-level (hierarchical): one resample draws P problems with
replacement from the run's P problems and then, inside each drawn problem, its n paths
with replacement from its n paths. Pass@1, Cons@N and Pass@k are computed on every
resample exactly as on the run itself, and the 95% interval is the 2.5th to 97.5th
percentile of those values. A `numpy.random.Generator` seeded with `seed` draws them, so
an interval is the same on every call.

The metrics only see how many drawn paths fall in each class of a problem's paths (a
class: one answer group and one verdict), so the n paths drawn with replacement are
drawn as those counts: one multinomial draw (`Generator.multinomial`, n trials, each
class's share of the paths as its probability), the same distribution as n separate
draws, without drawing each path.

Two runs of the same problems are compared problem by problem (`paired_test`): the
per-problem Pass@1 differences go through scipy's paired permutation test (each problem's
two values swap places or not; the statistic is the mean difference, i.e. the difference
in Pass@1), and a paired bootstrap (the same problems drawn for both runs, each run's
paths drawn within them) gives the interval of that difference.

Cons@N needs to know which answers agree: each path carries the number of its answer
group (paths with equivalent answers share one, -1 is no answer), as
`leap.scoring.metrics.majority_answer` groups them. The largest group wins, a tie goes to
the group that appeared first in the run's own path order, and the majority is correct
when that group's first path is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import stats

from leap.scoring.metrics import pass_at_k

DEFAULT_RESAMPLES = 2000
DEFAULT_PERMUTATIONS = 9999  # scipy's default; fewer problems than 14 are tested exactly
CONFIDENCE = 0.95
# Drawn class counts held in memory at once (resamples are processed in chunks).
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate and its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class _Classes:
    """A run's paths by class, problem by problem (padded with empty classes).

    `sizes[p, j]`: paths of problem p in class j; `correct[p, j]`: their verdict;
    `group[p, j]`: their answer group (-1: no answer); `group_correct[p, g]`: whether
    answer group g's first path is correct.
    """

    sizes: np.ndarray
    correct: np.ndarray
    group: np.ndarray
    group_correct: np.ndarray


@dataclass(frozen=True)
class RunPaths:
    """One run's paths, one row per problem, padded to the widest problem.

    `correct[p, i]` says whether path i of problem p is right, `groups[p, i]` is its
    answer group (numbered by first appearance within the problem; -1: no answer or
    padding), `counts[p]` the number of paths of problem p. Build it with `RunPaths.of`.
    """

    problem_ids: tuple[str, ...]
    correct: np.ndarray
    groups: np.ndarray | None
    counts: np.ndarray

    @classmethod
    def of(
        cls,
        correct: Mapping[str, Sequence[bool]],
        groups: Mapping[str, Sequence[int]] | None = None,
    ) -> RunPaths:
        """From each problem's path verdicts (and answer groups, for Cons@N), by id.

        Group numbers only need to tell groups apart: they are renumbered by first
        appearance. Without `groups`, Cons@N is not computed.
        """
        ids = tuple(correct)
        if not ids:
            raise ValueError("a run needs at least one problem")
        counts = np.array([len(correct[pid]) for pid in ids], dtype=np.int64)
        if counts.min() < 1:
            raise ValueError("every problem needs at least one path")
        width = int(counts.max())
        verdicts = np.zeros((len(ids), width), dtype=bool)
        for row, pid in enumerate(ids):
            verdicts[row, : counts[row]] = np.asarray(correct[pid], dtype=bool)
        if groups is None:
            return cls(ids, verdicts, None, counts)
        labels = np.full((len(ids), width), -1, dtype=np.int64)
        for row, pid in enumerate(ids):
            if len(groups[pid]) != counts[row]:
                raise ValueError(f"problem {pid!r} has {counts[row]} paths but other groups")
            labels[row, : counts[row]] = _by_first_appearance(groups[pid])
        return cls(ids, verdicts, labels, counts)

    def select(self, problem_ids: Sequence[str]) -> RunPaths:
        """The same run with its problems in the order of `problem_ids` (the same set)."""
        if sorted(problem_ids) != sorted(self.problem_ids):
            raise ValueError("the problem ids differ from the run's")
        where = {pid: row for row, pid in enumerate(self.problem_ids)}
        rows = np.array([where[pid] for pid in problem_ids])
        groups = None if self.groups is None else self.groups[rows]
        return RunPaths(tuple(problem_ids), self.correct[rows], groups, self.counts[rows])

    def shares(self) -> np.ndarray:
        """Each problem's share of correct paths (its Pass@1)."""
        return self.correct.sum(axis=1) / self.counts

    def majority_correct(self) -> np.ndarray:
        """Whether each problem's majority answer (over all its paths) is correct."""
        if self.groups is None:
            raise ValueError("Cons@N needs the paths' answer groups")
        classes = self.classes
        return _majority_correct(classes, np.arange(len(self.problem_ids)), classes.sizes)

    @cached_property
    def classes(self) -> _Classes:
        """The paths by (answer group, verdict), what every metric here reads."""
        groups = self.groups if self.groups is not None else np.full(self.correct.shape, -1)
        rows = []
        for p in range(len(self.problem_ids)):
            n = self.counts[p]
            pairs = list(zip(groups[p, :n].tolist(), self.correct[p, :n].tolist(), strict=True))
            kinds = sorted(set(pairs), key=pairs.index)  # in order of first appearance
            rows.append([(g, c, pairs.count((g, c))) for g, c in kinds])
        width = max(len(row) for row in rows)
        sizes = np.zeros((len(rows), width), dtype=np.int64)
        correct = np.zeros((len(rows), width), dtype=bool)
        group = np.full((len(rows), width), -1, dtype=np.int64)
        first = np.zeros((len(rows), max(int(groups.max()) + 1, 1)), dtype=bool)
        for p, row in enumerate(rows):
            for j, (g, c, size) in enumerate(row):
                sizes[p, j], correct[p, j], group[p, j] = size, c, g
            for g in set(groups[p, : self.counts[p]]) - {-1}:
                first[p, g] = self.correct[p, list(groups[p]).index(g)]
        return _Classes(sizes, correct, group, first)


@dataclass(frozen=True)
class RunIntervals:
    """A run's metrics with their intervals; `cons_at_n` is None without answer groups."""

    pass_at_1: Interval
    cons_at_n: Interval | None
    pass_at_k: dict[int, Interval]


@dataclass(frozen=True)
class PairedTest:
    """Run A against run B on the same problems.

    `statistic` is the mean per-problem Pass@1 difference (A - B), `p_value` the
    two-sided p-value of scipy's paired permutation test of it, `difference` its paired
    bootstrap interval.
    """

    statistic: float
    p_value: float
    difference: Interval


def bootstrap_run(
    paths: RunPaths,
    ks: Sequence[int] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> RunIntervals:
    """Pass@1, Cons@N and Pass@k (for `ks`, default 1..fewest paths of a problem) with
    their two-level bootstrap intervals."""
    ks = list(ks) if ks is not None else list(range(1, int(paths.counts.min()) + 1))
    if any(not 1 <= k <= paths.counts.min() for k in ks):
        raise ValueError(f"k must be within 1..{paths.counts.min()} (the fewest paths)")
    table = _pass_at_k_table(int(paths.counts.max()), ks)
    classes = paths.classes

    def measure(problems: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        """Columns: Pass@1, each Pass@k, then Cons@N when there are groups."""
        n = paths.counts[problems]
        c = (drawn * classes.correct[problems]).sum(axis=-1)
        columns = [(c / n).mean(axis=-1)]
        columns += [table[i, n, c].mean(axis=-1) for i in range(len(ks))]
        if paths.groups is not None:
            columns.append(_majority_correct(classes, problems, drawn).mean(axis=-1))
        return np.stack(columns, axis=-1)

    point = measure(np.arange(len(paths.problem_ids)), classes.sizes)
    rng = np.random.default_rng(seed)
    samples = np.concatenate(
        [measure(problems, drawn[0]) for problems, drawn in _draws(rng, resamples, paths)]
    )
    intervals = [_interval(point[i], samples[:, i]) for i in range(point.shape[0])]
    return RunIntervals(
        pass_at_1=intervals[0],
        cons_at_n=intervals[-1] if paths.groups is not None else None,
        pass_at_k={k: intervals[1 + i] for i, k in enumerate(ks)},
    )


def paired_test(
    a: RunPaths,
    b: RunPaths,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    permutations: int = DEFAULT_PERMUTATIONS,
) -> PairedTest:
    """Run `a` against run `b`, problem by problem (paired by problem id).

    The p-value is `scipy.stats.permutation_test` with `permutation_type="samples"` on
    the per-problem Pass@1 values (exact when 2^P <= `permutations`, else that many random
    sign flips drawn with `seed`); problems where both runs score the same add nothing.
    """
    b = b.select(a.problem_ids)
    x, y = a.shares(), b.shares()
    if x.size < 2:
        # One problem: its two sign flips are equally extreme, so p = 1 (scipy needs two).
        statistic, p_value = float(np.mean(x - y)), 1.0
    else:
        result = stats.permutation_test(
            (x, y),
            _mean_difference,
            permutation_type="samples",
            vectorized=True,
            n_resamples=permutations,
            batch=1000,  # permutations held in memory at once
            alternative="two-sided",
            rng=seed,
        )
        statistic, p_value = float(result.statistic), float(result.pvalue)
    rng = np.random.default_rng(seed)
    samples = []
    for problems, (drawn_a, drawn_b) in _draws(rng, resamples, a, b):
        samples.append(_mean_share(a, problems, drawn_a) - _mean_share(b, problems, drawn_b))
    difference = _interval(float(np.mean(x - y)), np.concatenate(samples))
    return PairedTest(statistic, p_value, difference)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _mean_share(paths: RunPaths, problems: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    c = (drawn * paths.classes.correct[problems]).sum(axis=-1)
    return (c / paths.counts[problems]).mean(axis=-1)


def _draws(
    rng: np.random.Generator, resamples: int, *runs: RunPaths
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """Resamples in chunks: drawn problem rows (r, P) shared by all `runs`, and for each
    run how many of a drawn problem's n paths, drawn with replacement, fall in each of its
    classes (r, P, classes)."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    size = len(runs[0].problem_ids)
    width = sum(run.classes.sizes.shape[1] for run in runs)
    chunk = max(1, _CHUNK_CELLS // (size * width))
    done = 0
    while done < resamples:
        count = min(chunk, resamples - done)
        problems = rng.integers(0, size, size=(count, size))
        drawn = []
        for run in runs:
            shares = run.classes.sizes / run.counts[:, None]
            drawn.append(rng.multinomial(run.counts[problems], shares[problems]))
        yield problems, drawn
        done += count


def _majority_correct(classes: _Classes, problems: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Whether the majority answer of each drawn problem is correct, given how many of its
    drawn paths fall in each class."""
    size = classes.group_correct.shape[1]
    labels = classes.group[problems]
    keep = labels >= 0
    cells = np.arange(problems.size).reshape(problems.shape)[..., None]
    votes = np.bincount(
        np.broadcast_to(cells * size, labels.shape)[keep] + labels[keep],
        weights=drawn[keep],
        minlength=problems.size * size,
    ).reshape(*problems.shape, size)
    winner = votes.argmax(axis=-1)  # the first of equal maxima: the earliest group
    return (votes.max(axis=-1) > 0) & classes.group_correct[problems, winner]


def _by_first_appearance(labels: Sequence[int]) -> list[int]:
    """Group numbers renumbered 0, 1, ... in order of first appearance; -1 stays -1."""
    order: dict[int, int] = {}
    out = []
    for label in labels:
        if label < 0:
            out.append(-1)
            continue
        out.append(order.setdefault(int(label), len(order)))
    return out


def _pass_at_k_table(width: int, ks: Sequence[int]) -> np.ndarray:
    """table[i, n, c]: Pass@ks[i] of a problem with n paths, c of them correct (NaN where
    it is undefined, k > n or c > n)."""
    table = np.full((len(ks), width + 1, width + 1), np.nan)
    for i, k in enumerate(ks):
        for n in range(k, width + 1):
            for c in range(n + 1):
                table[i, n, c] = pass_at_k(n, c, k)
    return table


def _interval(estimate: float, samples: np.ndarray) -> Interval:
    tail = round(50 * (1 - CONFIDENCE), 9)  # 2.5 (percent) on each side
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high))
