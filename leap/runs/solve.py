"""Solve one problem of a run, checkpointing every round and resuming from the store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leap.algorithm.records import FinalRecord, RoundRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.errors import LeapError, ObjectExistsError, StoreError
from leap.methods import Beginnings, policy_for
from leap.runs.progress import ProgressEvent, emit, report_rounds
from leap.runs.spec import RunSpec
from leap.runs.store import RunStore

if TYPE_CHECKING:
    from leap.runs.prepared import PreparedRun

log = logging.getLogger("leap")
RoundListener = Callable[[RoundRecord], None]


@dataclass
class UnsavedWork:
    """Records a solve computed but could not store (the store failed for a while).

    Handed to the next try of the same problem, which stores them before anything else,
    so a store outage costs a retry, not the rounds computed before it.
    """

    rounds: list[RoundRecord] = field(default_factory=list)
    final: FinalRecord | None = None

    def store_into(self, run: RunStore) -> None:
        """Store what is kept here (a StoreError leaves the rest kept for the next try)."""
        while self.rounds:
            _store_once(run.save_round, self.rounds[0])
            self.rounds.pop(0)
        if self.final is not None:
            _store_once(run.save_final, self.final)
            self.final = None


def _store_once(write: Callable[[Any], None], record: Any) -> None:
    try:
        write(record)
    except ObjectExistsError:
        pass  # another worker stored it first: the stored one counts


def solve_problem(
    engine: Engine,
    spec: RunSpec,
    problem: Problem,
    run: RunStore,
    on_round: RoundListener | None = None,
    unsaved: UnsavedWork | None = None,
    beginnings: Beginnings | None = None,
    target_tokens: int | None = None,
) -> FinalRecord:
    """Continue `problem` from its last stored round to its final answers.

    `beginnings` holds the inherited prefix of each starting path, when the run has them;
    `target_tokens` the generated tokens a compute-matched run spends on the problem.

    When another worker stores a round first (two workers on one problem), this one
    reloads the stored rounds and continues from them, so the store never holds two
    versions of a round and no work is counted twice. A record that could not be stored
    is kept in `unsaved` (when given) for the next try.
    """
    unsaved = unsaved if unsaved is not None else UnsavedWork()
    unsaved.store_into(run)
    final = run.load_final(problem.id)
    if final is not None:
        return final
    while True:
        records = run.load_rounds(problem.id)
        try:
            group = policy_for(
                engine,
                spec.leap,
                problem,
                cache_prefix=f"{run.run_id}/{problem.id}",
                records=records,
                beginnings=beginnings,
                target_tokens=target_tokens,
            )
        except ValueError as exc:
            raise LeapError(
                f"problem {problem.id} of run {run.run_id} cannot resume: {exc}."
            ) from None

        def save(record: RoundRecord) -> None:
            try:
                run.save_round(record)
            except ObjectExistsError:
                raise
            except StoreError:
                unsaved.rounds.append(record)
                raise
            if on_round is not None:
                on_round(record)

        try:
            final = group.run(on_round=save)
        except ObjectExistsError:
            log.warning("problem %s: another worker stored this round first; reloading", problem.id)
            continue
        assert final is not None
        try:
            run.save_final(final)
        except ObjectExistsError:
            stored = run.load_final(problem.id)
            if stored is not None:
                return stored
            continue
        except StoreError:
            unsaved.final = final
            raise
        return final


def solve_in_run(run: PreparedRun, problem: Problem) -> FinalRecord:
    """Solve one problem of a prepared run, taking over its head start if it has one.

    A head-started solve that failed raises its error here, so the caller's retry starts
    the problem afresh from the store.
    """
    started = run.head_start.take(problem.id)
    if started is not None:
        final = started.result()
    else:
        final = solve_problem(
            run.engine(),
            run.spec,
            problem,
            run.store,
            on_round=report_rounds(problem.id),
            unsaved=run.unsaved_work(problem.id),
            beginnings=run.beginnings.get(problem.id),
            target_tokens=run.targets.get(problem.id),
        )
    emit(ProgressEvent(problem.id, -1, 0, finished=True))
    return final
