"""Runs of one benchmark side by side, paired by problem id (DESIGN.md, "Experiments and
comparison").

`compare_runs` reads each run's spec and scored paths (`results/scores.parquet`, what
`leap report` writes) from the store, refuses runs that do not answer the same problems
of the same benchmark, and measures every run against the first one (the baseline):
metrics with bootstrap intervals, wins, losses and ties by per-problem Pass@1, and a
paired test (`leap.scoring.statistics`). `write_comparison` stores the result as an HTML
page, a markdown summary and a per-problem Parquet table.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from leap.algorithm.records import path_rows
from leap.benchmarks import list_benchmarks
from leap.benchmarks.problem import ProblemKind
from leap.errors import LeapError
from leap.runs import RunSpec, RunStore
from leap.runs.parquet import rows_to_parquet
from leap.scoring.answers import answers_equivalent
from leap.scoring.metrics import TokenTotals
from leap.scoring.statistics import (
    DEFAULT_RESAMPLES,
    PairedTest,
    RunIntervals,
    RunPaths,
    bootstrap_run,
    paired_test,
)
from leap.scoring.summary import RunSummary, ScoreRow

OUTPUT_FILES = ("comparison.html", "comparison.md", "problems.parquet")
_LONGEST_FOLDER_NAME = 80


@dataclass(frozen=True)
class Versus:
    """A run against the baseline: problems where its Pass@1 is higher, lower or equal,
    and the paired test of the difference (this run minus the baseline)."""

    baseline: str
    wins: int
    losses: int
    ties: int
    test: PairedTest


@dataclass(frozen=True)
class ComparedRun:
    """One run of the comparison: what it is, its metrics and what it cost.

    `tokens` adds up every path of the compared problems, also paths without a final
    answer (moa's earlier layers, leap-s's dropped paths); `versus` is None for the
    baseline.
    """

    run_id: str
    method: str
    model: str
    setting: str  # the spec's short name, e.g. aime24-leap-dispersed-k4-T4096
    n_paths: int
    metrics: RunIntervals
    tokens: TokenTotals
    n_problems: int
    versus: Versus | None

    @property
    def generated_per_problem(self) -> float:
        """Tokens the model wrote per problem: reasoning, summaries and answers."""
        return self.tokens.generated / self.n_problems

    @property
    def injected_per_problem(self) -> float:
        """Tokens the system appended per problem (cues, peer blocks): not generated."""
        return self.tokens.injected / self.n_problems

    @property
    def inherited_per_problem(self) -> float:
        """Tokens of beginnings taken from another run, per problem: not generated."""
        return self.tokens.inherited / self.n_problems


@dataclass(frozen=True, slots=True)
class ProblemRow:
    """One problem of one run: a row of problems.parquet.

    `versus_baseline` is "baseline" for the first run, else "win", "loss" or "tie" by
    per-problem Pass@1 (`correct_share`).
    """

    problem_id: str
    run_id: str
    paths: int
    correct_paths: int
    correct_share: float
    majority_correct: bool
    generated_tokens: int
    injected_tokens: int
    inherited_tokens: int
    versus_baseline: str


@dataclass(frozen=True)
class Comparison:
    """Runs of one benchmark, the first being the baseline, on the same problems."""

    benchmark: str
    problem_ids: tuple[str, ...]
    runs: list[ComparedRun]
    problems: list[ProblemRow]  # problem by problem, each run in turn
    seed: int
    resamples: int

    def rows_of(self, run_id: str) -> list[ProblemRow]:
        return [row for row in self.problems if row.run_id == run_id]


@dataclass(frozen=True)
class _StoredRun:
    """What a comparison reads of one run: its spec, its paths and their tokens."""

    run_id: str
    spec: RunSpec
    rows: dict[str, list[ScoreRow]]  # problem id -> its scored paths in path order
    tokens: dict[str, TokenTotals]  # problem id -> all tokens of its paths


def compare_runs(
    store_url: str, run_ids: Sequence[str], seed: int = 0, resamples: int = DEFAULT_RESAMPLES
) -> Comparison:
    """Compare stored runs of one benchmark, the first one being the baseline.

    LeapError (one sentence) for fewer than two runs, a run given twice, a run that does
    not exist or has no results yet, runs of different benchmarks or problems, or fewer
    than one resample.
    """
    if resamples < 1:
        raise LeapError(f"the number of bootstrap resamples must be at least 1, not {resamples}.")
    if len(run_ids) < 2:
        raise LeapError("a comparison needs at least two runs: name the baseline first.")
    twice = sorted({r for r in run_ids if run_ids.count(r) > 1})
    if twice:
        raise LeapError(f"run {twice[0]} is named twice: name each run once.")
    runs = [_read_run(store_url, run_id) for run_id in run_ids]
    base = runs[0]
    for run in runs[1:]:
        _check_comparable(base, run)
    problem_ids = tuple(base.rows)
    paths = [_run_paths(run, problem_ids) for run in runs]
    compared = []
    for run, run_paths in zip(runs, paths, strict=True):
        versus = None if run is base else _versus(base.run_id, run_paths, paths[0], seed, resamples)
        compared.append(_compared(run, run_paths, versus, seed, resamples))
    shares = [p.shares() for p in paths]
    majorities = [p.majority_correct() for p in paths]
    rows = [
        _problem_row(
            run,
            pid,
            share=float(shares[number][index]),
            majority=bool(majorities[number][index]),
            versus=_outcome(shares[number][index], shares[0][index]) if number else "baseline",
        )
        for index, pid in enumerate(problem_ids)
        for number, run in enumerate(runs)
    ]
    return Comparison(
        benchmark=base.spec.benchmark,
        problem_ids=problem_ids,
        runs=compared,
        problems=rows,
        seed=seed,
        resamples=resamples,
    )


def write_comparison(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    """Write comparison.html, comparison.md and problems.parquet into `out_dir`."""
    # Imported here: reading and measuring runs needs no plotting library.
    from leap.report.compare_page import render_comparison, render_comparison_markdown

    written = {
        "comparison.html": render_comparison(comparison).encode(),
        "comparison.md": render_comparison_markdown(comparison).encode(),
        "problems.parquet": rows_to_parquet(comparison.problems, ProblemRow),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in written.items():
            (out_dir / name).write_bytes(data)
    except OSError as exc:
        raise LeapError(f"cannot write the comparison into {out_dir}: {exc.strerror}.") from None
    return {name: out_dir / name for name in written}


def default_out_dir(run_ids: Sequence[str], root: Path = Path("comparisons")) -> Path:
    """comparisons/<run ids joined by `_vs_`>, or a short hash of them when that is long."""
    joined = "_vs_".join(run_ids)
    if len(joined) > _LONGEST_FOLDER_NAME or not re.fullmatch(r"[A-Za-z0-9._-]+", joined):
        digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:12]
        joined = f"{len(run_ids)}-runs-{digest}"
    return root / joined


# -- reading the runs -------------------------------------------------------------------


def _read_run(store_url: str, run_id: str) -> _StoredRun:
    run = RunStore.open(store_url, run_id)
    spec = run.read_spec()  # LeapError for a run that does not exist
    data = run.read_result("scores.parquet")
    if data is None:
        raise LeapError(
            f"run {run_id} has no results yet: score it with `leap report {run_id}` "
            f"(or finish it with `leap resume {run_id}`) and compare again."
        )
    scores = _score_rows(data, run_id)
    if not scores:
        raise LeapError(f"run {run_id} has no scored problem: finish it with `leap resume`.")
    rows: dict[str, list[ScoreRow]] = {}
    for row in scores:
        rows.setdefault(row.problem_id, []).append(row)
    rows = {pid: sorted(paths, key=lambda r: r.path) for pid, paths in rows.items()}
    tokens = {pid: sum((r.tokens for r in paths), TokenTotals()) for pid, paths in rows.items()}
    if _has_unscored_paths(run, tokens):
        for pid, paths in rows.items():
            tokens[pid] += _unscored(run, pid, {r.path for r in paths})
    return _StoredRun(run_id, spec, rows, tokens)


def _score_rows(data: bytes, run_id: str) -> list[ScoreRow]:
    """The stored score rows; columns added after a run was scored take their default."""
    try:
        table = pq.read_table(io.BytesIO(data))
        names = {f.name for f in fields(ScoreRow)}
        return [
            ScoreRow(**{k: v for k, v in row.items() if k in names}) for row in table.to_pylist()
        ]
    except (pa.ArrowException, OSError, TypeError, ValueError):
        raise LeapError(
            f"the scores of run {run_id} cannot be read: rebuild them with `leap report {run_id}`."
        ) from None


def _has_unscored_paths(run: RunStore, scored: dict[str, TokenTotals]) -> bool:
    """Whether some paths reasoned without a final answer (their tokens are in the run's
    summary, not in its score rows); without a readable summary, assume so."""
    data = run.read_result("summary.json")
    try:
        summary = RunSummary.from_json(data) if data is not None else None
    except ValueError:
        summary = None
    return summary is None or summary.tokens != sum(scored.values(), TokenTotals())


def _unscored(run: RunStore, problem_id: str, scored: set[int]) -> TokenTotals:
    """Tokens of the problem's stored paths that have no score row."""
    rounds = run.load_rounds(problem_id, set_aside=False)
    others = sorted({row.path for record in rounds for row in record.paths} - scored)
    return sum((TokenTotals.of_path(path_rows(rounds, p)) for p in others), TokenTotals())


def _check_comparable(base: _StoredRun, run: _StoredRun) -> None:
    if run.spec.benchmark != base.spec.benchmark:
        raise LeapError(
            f"runs {base.run_id} ({base.spec.benchmark}) and {run.run_id} "
            f"({run.spec.benchmark}) are of different benchmarks: compare runs of one benchmark."
        )
    only_base = [pid for pid in base.rows if pid not in run.rows]
    only_run = [pid for pid in run.rows if pid not in base.rows]
    if only_base or only_run:
        raise LeapError(
            f"runs {base.run_id} and {run.run_id} scored different problems "
            f"({_listed(only_base)} only in {base.run_id}, {_listed(only_run)} only in "
            f"{run.run_id}): compare runs of the same problems, finishing them with "
            "`leap resume` if needed."
        )
    # Same ids, other problems: the smoke benchmark numbers what its seed draws. (Choice
    # problems keep their ids while the run seed shuffles their options, and so the gold
    # letter: those may differ.)
    other_gold = [pid for pid in base.rows if base.rows[pid][0].gold != run.rows[pid][0].gold]
    if other_gold and answer_kind(base.spec) == "math":
        raise LeapError(
            f"runs {base.run_id} and {run.run_id} hold different problems under the same ids "
            f"({_listed(other_gold)} with other gold answers): compare runs of the same "
            "problems (the same benchmark, data and seed)."
        )


def _listed(ids: list[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:3])
    return shown if len(ids) <= 3 else f"{shown} and {len(ids) - 3} more"


# -- measuring --------------------------------------------------------------------------


def answer_kind(spec: RunSpec) -> ProblemKind:
    """Whether the run's answers are math or choice letters (how they are voted on)."""
    declared = {info.name: info.kind for info in list_benchmarks()}
    if spec.benchmark in declared:
        return declared[spec.benchmark]
    return "choice" if "choices" in spec.columns else "math"


def answer_groups(answers: Sequence[str | None], kind: ProblemKind) -> list[int]:
    """Each path's answer group, as `leap.scoring.metrics.majority_answer` forms them: an
    answer joins the first group whose first member it is equivalent to; -1: no answer."""
    firsts: list[str] = []
    labels = []
    for answer in answers:
        if answer is None:
            labels.append(-1)
            continue
        for number, first in enumerate(firsts):
            if answers_equivalent(first, answer, kind):
                labels.append(number)
                break
        else:
            firsts.append(answer)
            labels.append(len(firsts) - 1)
    return labels


def _run_paths(run: _StoredRun, problem_ids: Sequence[str]) -> RunPaths:
    kind = answer_kind(run.spec)
    correct = {pid: [r.correct for r in run.rows[pid]] for pid in problem_ids}
    groups = {pid: answer_groups([r.answer for r in run.rows[pid]], kind) for pid in problem_ids}
    return RunPaths.of(correct, groups)


def _versus(baseline: str, paths: RunPaths, base: RunPaths, seed: int, resamples: int) -> Versus:
    mine, theirs = paths.shares(), base.shares()
    return Versus(
        baseline=baseline,
        wins=int((mine > theirs).sum()),
        losses=int((mine < theirs).sum()),
        ties=int((mine == theirs).sum()),
        test=paired_test(paths, base, resamples=resamples, seed=seed),
    )


def _compared(
    run: _StoredRun, paths: RunPaths, versus: Versus | None, seed: int, resamples: int
) -> ComparedRun:
    return ComparedRun(
        run_id=run.run_id,
        method=run.spec.leap.method,
        model=run.spec.model,
        setting=run.spec.display_name(),
        n_paths=run.spec.leap.n_paths,
        metrics=bootstrap_run(paths, resamples=resamples, seed=seed),
        tokens=sum(run.tokens.values(), TokenTotals()),
        n_problems=len(run.rows),
        versus=versus,
    )


def _outcome(share: float, base_share: float) -> str:
    return "win" if share > base_share else "loss" if share < base_share else "tie"


def _problem_row(
    run: _StoredRun, problem_id: str, *, share: float, majority: bool, versus: str
) -> ProblemRow:
    paths = run.rows[problem_id]
    tokens = run.tokens[problem_id]
    return ProblemRow(
        problem_id=problem_id,
        run_id=run.run_id,
        paths=len(paths),
        correct_paths=sum(r.correct for r in paths),
        correct_share=share,
        majority_correct=majority,
        generated_tokens=tokens.generated,
        injected_tokens=tokens.injected,
        inherited_tokens=tokens.inherited,
        versus_baseline=versus,
    )
