"""The runs an SFT data set is built from, read and checked (never changed).

A source run must exist, be of a method whose paths summarize, be finished (every problem
has its final answers) and be scored (`results/scores.parquet`, what `leap report`
writes: the data keeps the verdicts the run's report shows). All sources share one model,
since token ids belong to its tokenizer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from leap.algorithm.records import FinalRecord
from leap.benchmarks.problem import Problem
from leap.engines.tokenizer import ChatTokenizer
from leap.errors import LeapError
from leap.runs import RunSpec, RunStore, load_run_problems
from leap.runs.parquet import CorruptObject, final_from_parquet

# Methods whose paths write LeaP summaries and read their peers'.
SUMMARIZING_METHODS = ("leap", "leap-t", "single", "leap-s")


@dataclass
class SourceRun:
    """A finished, scored run to draw examples from."""

    run: RunStore
    spec: RunSpec
    problems: list[Problem]  # the problems with final answers, in benchmark order
    finals: dict[str, FinalRecord]
    correct: dict[tuple[str, int], bool]  # (problem id, path) -> its answer is right

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def describe(self) -> dict[str, Any]:
        """The run as the data card lists it."""
        return {
            "run_id": self.run_id,
            "model": self.spec.model,
            "benchmark": self.spec.benchmark,
            "method": self.spec.leap.method,
            "spec_hash": self.spec.content_hash(),
            "problems": len(self.problems),
            "paths": sum(len(f.answers) for f in self.finals.values()),
        }


def open_sources(store: str, run_ids: Sequence[str]) -> list[SourceRun]:
    """Every run named (once each, in order), checked, and checked to share one model."""
    if not run_ids:
        raise LeapError("no run given: name one or more finished runs to build the data from.")
    sources = [open_source(store, run_id) for run_id in dict.fromkeys(run_ids)]
    first = sources[0]
    for other in sources[1:]:
        if other.spec.model != first.spec.model:
            raise LeapError(
                f"runs {first.run_id} ({first.spec.model}) and {other.run_id} "
                f"({other.spec.model}) use different models: build one data set per model, "
                "since token ids belong to one tokenizer."
            )
    return sources


def open_source(store: str, run_id: str) -> SourceRun:
    """The run `run_id`, checked: it exists, its paths summarize, it is finished and scored."""
    run = RunStore.open(store, run_id)
    spec = run.read_spec()  # one sentence for a run that does not exist
    method = spec.leap.method
    if method not in SUMMARIZING_METHODS:
        raise LeapError(
            f"run {run_id} uses method {method!r}, whose paths write no LeaP summaries: "
            f"build the data from runs of {', '.join(SUMMARIZING_METHODS)}."
        )
    if spec.leap.top_k == 0:
        raise LeapError(
            f"run {run_id} has top_k 0, so its paths never summarized: build the data from "
            "runs that communicate."
        )
    finals: dict[str, FinalRecord] = {}
    problems, unfinished = [], []
    for problem in load_run_problems(spec):
        final = _read_final(run, problem.id)
        if final is not None:
            finals[problem.id] = final
            problems.append(problem)
        elif spec.beginnings is None or run.store.list(f"{run_id}/problems/{problem.id}/"):
            # (a run with beginnings leaves out, unstarted, the problems it has none for)
            unfinished.append(problem.id)
    if unfinished or not finals:
        total = len(unfinished) + len(finals)
        raise LeapError(
            f"run {run_id} is not finished ({len(unfinished)} of {total} problems have no "
            f"final answers): finish it with `leap resume {run_id}` first."
        )
    return SourceRun(run, spec, problems, finals, _read_correct(run, finals))


def _read_final(run: RunStore, problem_id: str) -> FinalRecord | None:
    """The problem's final answers, or None; a damaged object is reported, not moved."""
    key = run.final_key(problem_id)
    if not run.store.exists(key):
        return None
    try:
        return final_from_parquet(run.store.get(key), problem_id)
    except CorruptObject as exc:
        raise LeapError(
            f"the final answers of problem {problem_id} in run {run.run_id} cannot be read "
            f"({exc}): `leap resume {run.run_id}` sets them aside and recomputes them."
        ) from None


def _read_correct(run: RunStore, finals: dict[str, FinalRecord]) -> dict[tuple[str, int], bool]:
    """Whether each answered path is right, from the run's scores."""
    rid = run.run_id
    data = run.read_result("scores.parquet")
    if data is None:
        raise LeapError(f"run {rid} is not scored yet: score it with `leap report {rid}` first.")
    try:
        table = pq.read_table(io.BytesIO(data), columns=["problem_id", "path", "correct"])
    except (pa.ArrowException, OSError, ValueError):
        raise LeapError(
            f"the scores of run {rid} cannot be read: rebuild them with `leap report {rid}`."
        ) from None
    correct = {(r["problem_id"], r["path"]): bool(r["correct"]) for r in table.to_pylist()}
    for problem_id, final in finals.items():
        if any((problem_id, a.path) not in correct for a in final.answers):
            raise LeapError(
                f"the scores of run {rid} do not cover problem {problem_id}, so they are older "
                f"than its answers: rebuild them with `leap report {rid}`."
            )
    return correct


class RunTokenizer(ChatTokenizer):
    """The run model's tokenizer; `decode` keeps special tokens, so an example's text
    spells every token (the chat template's markers too)."""

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=False)


def tokenizer_of(spec: RunSpec) -> RunTokenizer:
    """The tokenizer the run's engine used (an `openai` run may name its own)."""
    from leap.engines.models import resolve_model

    own = getattr(spec.engine_options, "tokenizer", None)
    return RunTokenizer(own or resolve_model(spec.model))
