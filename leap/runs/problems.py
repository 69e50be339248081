"""The problems a run solves, loaded once from its spec."""

from __future__ import annotations

from leap.benchmarks.problem import Problem
from leap.errors import LeapError
from leap.runs.spec import RunSpec


def load_run_problems(spec: RunSpec) -> list[Problem]:
    """The problems a run solves, in benchmark order."""
    from leap.benchmarks import LoadOptions, load_benchmark_with_report

    columns = dict(spec.columns)
    unknown = set(columns) - {"question", "answer", "id", "choices"}
    if unknown:
        raise LeapError(
            f"unknown column mapping {', '.join(sorted(unknown))}: "
            "map only question, answer, id and choices."
        )
    options = LoadOptions(
        question_field=columns.get("question"),
        answer_field=columns.get("answer"),
        id_field=columns.get("id"),
        choices_field=columns.get("choices"),
        skip_invalid=spec.skip_invalid,
        shuffle_choices=spec.shuffle_choices,
        seed=spec.leap.seed,
        local_path=spec.data,
        limit=spec.limit,
    )
    loaded = load_benchmark_with_report(spec.benchmark, options)
    if not loaded.problems:
        raise LeapError(f"benchmark {spec.benchmark!r} has no problems to solve.")
    return loaded.problems
