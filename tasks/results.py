"""Task: score the run and publish results to the store and the dashboard."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from leap.benchmarks.problem import Problem
from leap.report import write_markdown_summary
from leap.runs import RunSpec, RunStore
from leap.runs.results import build_results


@task(name="score-and-report", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def score_and_report(
    spec: RunSpec, run_id: str, problems: list[Problem], previous: dict | None = None
) -> dict:
    """Score the run; with `previous` (an earlier run's summary) the summary shows deltas."""
    run = RunStore.open(spec.store, run_id)
    results = build_results(spec, run, problems)
    key = _artifact_key(run_id)
    create_table_artifact(
        key=f"{key}-scores",
        table=[_table_row(r) for r in results.scores],
        description=f"Per-path results of run {run_id}",
    )
    markdown = write_markdown_summary(results.summary, previous)
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=markdown + f"\n\nReport: `{results.locations['report']}`\n",
        description=f"Summary of run {run_id}",
    )
    return {**results.summary, "locations": results.locations}


def _table_row(row: dict) -> dict:
    keep = ("problem_id", "path", "answer", "gold", "correct", "finish_reason", "reasoning_tokens")
    return {k: row[k] for k in keep}


def _artifact_key(run_id: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    cleaned = "".join(c if c.isalnum() else "-" for c in run_id.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60] or "run"
