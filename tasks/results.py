"""Task: score the run and publish results to the store and the dashboard."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from leap.report import write_markdown_summary
from leap.runs import PreparedRun
from leap.runs.results import RunResults, build_results
from leap.scoring.summary import RunSummary, ScoreRow


@task(name="score-and-report", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def score_and_report(run: PreparedRun, previous: RunSummary | None = None) -> RunResults:
    """Score the run; with `previous` (an earlier run's summary) the summary shows deltas."""
    run_id = run.run_id
    results = build_results(run.spec, run.store, run.problems)
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
    return results


def _table_row(row: ScoreRow) -> dict:
    keep = (
        "problem_id",
        "path",
        "answer",
        "gold",
        "verdict",
        "answer_method",
        "finish_reason",
        "reasoning_tokens",
    )
    return {k: getattr(row, k) for k in keep}


def _artifact_key(run_id: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    cleaned = "".join(c if c.isalnum() else "-" for c in run_id.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60] or "run"
