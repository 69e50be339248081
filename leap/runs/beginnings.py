"""Beginnings: starting a run's paths from token prefixes of another stored run.

The LeaP paper's prefix-dominance and error-tolerance experiments start every path from
the first part of a path some earlier run wrote for the same problem (a wrong one, a
right one, or a chosen mix per peer group). This module picks those prefixes; it reads
the source run from the store and never writes.

Imports of the run store and scoring happen inside `plan_beginnings`: the run spec holds
a `Beginnings` block, so this module must load before `leap.runs.spec` has finished.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import cycle
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leap.algorithm.records import FinalRecord, RoundRecord, path_rows
from leap.algorithm.seeds import derive_seed
from leap.errors import LeapError, StoreError

if TYPE_CHECKING:
    from leap.benchmarks.problem import Problem
    from leap.runs.spec import RunSpec
    from leap.runs.store import RunStore

PathKind = Literal["incorrect", "correct"]
# A product like 0.29 * 100 lands just below 29 in floating point; counts are whole.
_SLACK = 1e-9


class Beginnings(BaseModel):
    """The `beginnings:` block of a run spec: where each path's first tokens come from.

    `source`: the run id of a stored run, in the same store as the new run, of the same
    benchmark and model; its paths are the beginnings.
    `paths`: take only the source's `incorrect` (or only its `correct`) paths.
    `good`: instead of `paths`, the share of starting paths in each peer group that begin
    from a correct source path; the rest begin from incorrect ones (0.5 of a group of 4:
    two and two).
    `share`: how much of a source path's own reasoning tokens its beginning holds (0.15:
    its first 15 %, at least one token).
    `only_mixed`: use only problems on which the source's paths include both correct and
    incorrect ones; the other problems start without beginnings.
    Exactly one of `paths` and `good` is set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="run id of the stored run to take from")
    paths: PathKind | None = Field(None, description="take only source paths of this kind")
    good: float | None = Field(
        None, ge=0, le=1, description="share of correct beginnings in each peer group"
    )
    share: float = Field(
        0.15, gt=0, le=1, description="share of each source path's own reasoning tokens"
    )
    only_mixed: bool = Field(
        False, description="only problems whose source paths are both correct and incorrect"
    )

    @model_validator(mode="after")
    def _one_selection(self) -> Beginnings:
        if (self.paths is None) == (self.good is None):
            raise ValueError(
                "set exactly one of paths (incorrect or correct) and good (a share of "
                "correct beginnings per group)"
            )
        return self


@dataclass
class BeginningPlan:
    """The beginnings of a run's problems, and why some problems have none."""

    prefixes: dict[str, list[list[int]]]  # problem id -> one prefix per starting path
    skipped: dict[str, str]  # problem id -> one sentence saying why it has no beginnings
    # problem id -> the source path each starting path's prefix was cut from
    sources: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class _SourcePath:
    path: int
    correct: bool
    prefix: list[int]


def plan_beginnings(
    spec: RunSpec,
    problems: Sequence[Problem],
    beginnings: Beginnings,
    *,
    paths_per_problem: int,
    group_size: int,
) -> BeginningPlan:
    """Pick a token prefix for every starting path of every problem from the source run.

    The store, benchmark, model and seed come from `spec` (the new run); the starting
    paths of a problem form consecutive peer groups of `group_size`. The same inputs give
    the same plan. LeapError when the source run is missing, of another benchmark or
    model, or gives no problem a beginning.
    """
    from leap.runs.problems import load_run_problems
    from leap.runs.store import RunStore

    source = RunStore.open(spec.store, beginnings.source)
    # Scored against the source's own problems: a generated or shuffled benchmark can pose
    # a problem of the same id differently under another seed.
    theirs = {p.id: p for p in load_run_problems(_check_source(spec, source))}
    if beginnings.good is not None and (group_size < 1 or paths_per_problem % group_size):
        raise LeapError(
            f"beginnings with good need whole peer groups, but {paths_per_problem} paths "
            f"do not split into groups of {group_size}: change the number of paths."
        )
    plan = BeginningPlan(prefixes={}, skipped={})
    finals = posed = 0
    for problem in problems:
        asked = theirs.get(problem.id)
        if asked is None or (asked.question, asked.choices) != (problem.question, problem.choices):
            plan.skipped[problem.id] = (
                f"problem {problem.id} is not posed the same way in source run "
                f"{source.run_id} (another seed, limit or data version)."
            )
            continue
        posed += 1
        final = source.load_final(problem.id)
        if final is None:
            plan.skipped[problem.id] = (
                f"problem {problem.id} has no final answers in source run {source.run_id}."
            )
            continue
        finals += 1
        candidates = _source_paths(asked, source.load_rounds(problem.id), final, beginnings)
        rng = random.Random(derive_seed(spec.leap.seed, problem.id, -1, 0, "beginnings"))
        chosen = _choose(candidates, beginnings, paths_per_problem, group_size, rng)
        if isinstance(chosen, str):
            plan.skipped[problem.id] = (
                f"problem {problem.id} {chosen} in source run {source.run_id}."
            )
            continue
        plan.prefixes[problem.id] = [c.prefix for c in chosen]
        plan.sources[problem.id] = [c.path for c in chosen]
    if problems and not plan.prefixes:
        if not posed:
            raise LeapError(
                f"source run {source.run_id} poses none of these problems the way this run "
                "does (another seed, limit or data version): take beginnings from a run "
                "with the same benchmark settings."
            )
        if not finals:
            raise LeapError(
                f"source run {source.run_id} has final answers for none of these problems: "
                f"finish it first (leap resume {source.run_id}) or choose another source."
            )
        raise LeapError(
            f"no problem of source run {source.run_id} has {_asked(beginnings, group_size)}: "
            "choose another source run or loosen the beginnings filter."
        )
    return plan


def _check_source(spec: RunSpec, source: RunStore) -> RunSpec:
    """The source run's spec; refuse a source run that is missing or not of the new run's
    benchmark and model."""
    try:
        theirs = source.read_spec()
    except StoreError:
        raise
    except LeapError as exc:
        raise LeapError(f"beginnings source run {source.run_id!r} cannot be used: {exc}") from None
    for name in ("benchmark", "data", "model"):
        mine, other = getattr(spec, name), getattr(theirs, name)
        if mine != other:
            raise LeapError(
                f"beginnings source run {source.run_id} has {name} {other!r} but this run "
                f"has {name} {mine!r}: take beginnings from a run of the same {name}."
            )
    return theirs


def _source_paths(
    problem: Problem, rounds: Sequence[RoundRecord], final: FinalRecord, beginnings: Beginnings
) -> list[_SourcePath]:
    """Every path of the source problem, scored, with its beginning (empty if it wrote
    no reasoning tokens)."""
    from leap.runs.results import score_problem

    out = []
    for row in score_problem(problem, rounds, final):
        own = [
            t
            for part in path_rows(rounds, row.path)
            for s in part.segments
            if s.kind == "reasoning"
            for t in s.token_ids
        ]
        cut = max(1, math.floor(beginnings.share * len(own) + _SLACK)) if own else 0
        out.append(_SourcePath(row.path, row.correct, own[:cut]))
    return out


def _choose(
    paths: list[_SourcePath],
    beginnings: Beginnings,
    n: int,
    group_size: int,
    rng: random.Random,
) -> list[_SourcePath] | str:
    """The source path of each of the `n` starting paths, or why there is none (the
    middle of a sentence: "has no correct path")."""
    if beginnings.only_mixed and len({p.correct for p in paths}) < 2:
        return "has no mix of correct and incorrect paths"
    right = [p for p in paths if p.correct and p.prefix]
    wrong = [p for p in paths if not p.correct and p.prefix]
    if beginnings.paths is not None:
        pool = right if beginnings.paths == "correct" else wrong
        if not pool:
            return f"has no {beginnings.paths} path with reasoning tokens"
        draw = _shuffled_cycle(pool, rng)
        return [next(draw) for _ in range(n)]
    n_good = _good_per_group(beginnings, group_size)
    missing = [
        kind
        for kind, pool, needed in (
            ("correct", right, n_good),
            ("incorrect", wrong, group_size - n_good),
        )
        if needed and not pool
    ]
    if missing:
        return f"has no {' and no '.join(missing)} path with reasoning tokens"
    good = _shuffled_cycle(right, rng)
    bad = _shuffled_cycle(wrong, rng)
    chosen = []
    for _ in range(n // group_size):
        positions = set(rng.sample(range(group_size), n_good))
        chosen += [next(good) if i in positions else next(bad) for i in range(group_size)]
    return chosen


def _good_per_group(beginnings: Beginnings, group_size: int) -> int:
    """How many paths of a group begin correct: `good` of the group, halves rounded up."""
    assert beginnings.good is not None
    return math.floor(beginnings.good * group_size + 0.5 + _SLACK)


def _shuffled_cycle(pool: list[_SourcePath], rng: random.Random) -> Iterator[_SourcePath]:
    order = list(pool)
    rng.shuffle(order)
    return cycle(order)


def _asked(beginnings: Beginnings, group_size: int) -> str:
    """What the filter asks of a problem, in words, naming the filter."""
    if beginnings.paths is not None:
        article = "an" if beginnings.paths == "incorrect" else "a"
        wanted = f"{article} {beginnings.paths} path"
        named = f"paths: {beginnings.paths}"
    else:
        n_good = _good_per_group(beginnings, group_size)
        wanted = {0: "an incorrect path", group_size: "a correct path"}.get(
            n_good, "both a correct and an incorrect path"
        )
        named = f"good: {beginnings.good}"
    if beginnings.only_mixed:
        wanted = "both a correct and an incorrect path" if beginnings.good is None else wanted
        named += ", only_mixed: true"
    return f"{wanted} with reasoning tokens (beginnings {named})"
