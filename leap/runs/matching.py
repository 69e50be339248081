"""Token targets of a compute-matched run (`match_tokens: RUN_ID`): per problem, the
tokens the source run generated for it (reasoning, summaries and answers of every path,
also those without a final answer), read from its stored rounds and finals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from leap.errors import LeapError, StoreError

if TYPE_CHECKING:
    from leap.benchmarks.problem import Problem
    from leap.runs.spec import RunSpec


def token_targets(spec: RunSpec, problems: Sequence[Problem]) -> dict[str, int]:
    """Problem id -> generated tokens of the source run `spec.match_tokens`.

    LeapError when the source run is missing, of another benchmark, or has a problem of
    this run without final answers (unfinished).
    """
    from leap.runs.results import score_problem, unscored_tokens
    from leap.runs.store import RunStore

    assert spec.match_tokens is not None
    source = RunStore.open(spec.store, spec.match_tokens)
    try:
        theirs = source.read_spec()
    except StoreError:
        raise
    except LeapError as exc:
        raise LeapError(
            f"match_tokens source run {source.run_id!r} cannot be used: {exc}"
        ) from None
    for name in ("benchmark", "data"):
        if getattr(theirs, name) != getattr(spec, name):
            raise LeapError(
                f"match_tokens source run {source.run_id} has {name} "
                f"{getattr(theirs, name)!r} but this run has {getattr(spec, name)!r}: match "
                "the tokens of a run of the same benchmark."
            )
    targets: dict[str, int] = {}
    unfinished = []
    for problem in problems:
        final = source.load_final(problem.id)
        if final is None:
            unfinished.append(problem.id)
            continue
        rounds = source.load_rounds(problem.id)
        spent = sum(row.tokens.generated for row in score_problem(problem, rounds, final))
        targets[problem.id] = spent + unscored_tokens(rounds, final).generated
    if unfinished:
        raise LeapError(
            f"match_tokens source run {source.run_id} is unfinished ({len(unfinished)} "
            f"problems without final answers, e.g. {unfinished[0]}): finish it first with "
            f"`leap resume {source.run_id}`."
        )
    return targets
