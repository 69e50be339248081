"""A run prepared once: its spec with a definite run id, its problems and its store.

`leap run` prepares a run in the console (so user mistakes are reported before Prefect
starts) and hands the object down to the flow and its tasks; a deployment's flow run
prepares it itself. Either way nothing is loaded or checked twice.
"""

from __future__ import annotations

import logging

from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.engines.factory import shared_engine
from leap.runs.beginnings import plan_beginnings
from leap.runs.head_start import HeadStart
from leap.runs.matching import token_targets
from leap.runs.problems import load_run_problems
from leap.runs.solve import UnsavedWork
from leap.runs.spec import RunSpec, new_run_id
from leap.runs.store import RunStore

log = logging.getLogger("leap")


class PreparedRun:
    """What every stage of a run needs; built by `prepare_run`, never by hand.

    A plain class with slots, not a dataclass: Prefect records a flow's parameters by
    JSON-encoding them, which would walk a dataclass down into the store's client. This
    object cannot be encoded, so Prefect records only its type name.
    """

    __slots__ = (
        "spec",
        "problems",
        "store",
        "beginnings",
        "skipped",
        "targets",
        "head_start",
        "_unsaved",
        "_begun",
    )

    def __init__(
        self,
        spec: RunSpec,
        problems: list[Problem],
        store: RunStore,
        beginnings: dict[str, list[list[int]]] | None = None,
        skipped: dict[str, str] | None = None,
        targets: dict[str, int] | None = None,
    ) -> None:
        self.spec = spec  # its run_id is set
        self.problems = problems
        self.store = store
        # problem id -> one inherited token prefix per starting path (spec.beginnings)
        self.beginnings = beginnings or {}
        # problem id -> why the run leaves it out (no suitable beginning in the source)
        self.skipped = skipped or {}
        # problem id -> generated tokens to spend (spec.match_tokens)
        self.targets = targets or {}
        self.head_start = HeadStart()
        self._unsaved: dict[str, UnsavedWork] = {}
        self._begun = False

    @property
    def run_id(self) -> str:
        return self.store.run_id

    def unsaved_work(self, problem_id: str) -> UnsavedWork:
        """What earlier tries of this problem computed but could not store."""
        return self._unsaved.setdefault(problem_id, UnsavedWork())

    def engine(self) -> Engine:
        """This process's engine for the run (loaded on first use, then shared)."""
        spec = self.spec
        return shared_engine(spec.engine, spec.model, spec.dtype, spec.engine_options)

    def begin(self) -> Engine:
        """Load the engine, then record the spec in the store (`run.json`).

        In this order, a model or dtype that cannot load leaves nothing under the run id,
        so the same run id stays free for a corrected spec. Calling it again (the CLI
        begins a run before handing it to the flow) only returns the engine.
        """
        engine = self.engine()
        if not self._begun:
            self.store.create_or_check(self.spec)
            self._begun = True
        return engine


def prepare_run(spec: RunSpec) -> PreparedRun:
    """Fix the run id, load the problems, check the store and any stored spec; no writes.

    Problems come first: a benchmark that cannot load never touches the store.
    """
    if spec.run_id is None:
        spec = spec.model_copy(update={"run_id": new_run_id(spec)})
    assert spec.run_id is not None  # for the type checker: set just above
    problems = load_run_problems(spec)
    store = RunStore.open(spec.store, spec.run_id)
    store.store.check()
    store.check_spec(spec)
    beginnings, skipped = None, None
    if spec.beginnings is not None:
        plan = plan_beginnings(
            spec,
            problems,
            spec.beginnings,
            paths_per_problem=spec.leap.starting_paths,
            group_size=spec.leap.group_paths,
        )
        for sentence in plan.skipped.values():
            log.warning("skipped: %s", sentence)
        problems = [p for p in problems if p.id in plan.prefixes]
        beginnings, skipped = plan.prefixes, plan.skipped
    targets = token_targets(spec, problems) if spec.match_tokens is not None else None
    return PreparedRun(spec, problems, store, beginnings, skipped, targets)
