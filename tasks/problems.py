"""Task: load the problems of a run's benchmark."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from leap.benchmarks.problem import Problem
from leap.runs import RunSpec, load_run_problems


@task(name="load-problems", cache_policy=NO_CACHE)
def load_problems(spec: RunSpec) -> list[Problem]:
    return load_run_problems(spec)
