"""Solve one problem of a run, checkpointing every round and resuming from the store."""

from __future__ import annotations

import logging
from collections.abc import Callable

from leap.algorithm.peers import PeerGroup
from leap.algorithm.records import FinalRecord, RoundRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.errors import LeapError, ObjectExistsError
from leap.runs import RunSpec, RunStore

log = logging.getLogger("leap")
RoundListener = Callable[[RoundRecord], None]


def solve_problem(
    engine: Engine,
    spec: RunSpec,
    problem: Problem,
    run: RunStore,
    on_round: RoundListener | None = None,
) -> FinalRecord:
    """Continue `problem` from its last stored round to its final answers.

    When another worker stores a round first (two workers on one problem), this one
    reloads the stored rounds and continues from them, so the store never holds two
    versions of a round and no work is counted twice.
    """
    final = run.load_final(problem.id)
    if final is not None:
        return final
    while True:
        records = run.load_rounds(problem.id)
        try:
            group = PeerGroup(
                engine,
                spec.leap,
                problem,
                cache_prefix=f"{run.run_id}/{problem.id}",
                records=records,
            )
        except ValueError as exc:
            raise LeapError(
                f"problem {problem.id} of run {run.run_id} cannot resume: {exc}."
            ) from None

        def save(record: RoundRecord) -> None:
            run.save_round(record)
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
        return final
