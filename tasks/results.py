"""Task: score the run and publish results to the store and the dashboard.

Three artifacts per run, keyed by its run id so each one's history collects every scoring
of the run: the per-path table, the markdown summary and a link to the HTML report.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.urls import url_for

from leap.errors import StoreError
from leap.report import write_markdown_summary
from leap.runs import PreparedRun
from leap.runs.results import RunResults, build_results
from leap.scoring.summary import RunOrigin, RunSummary, ScoreRow
from tasks.dashboard import artifact_key


@task(name="score-and-report", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def score_and_report(run: PreparedRun, previous: RunSummary | None = None) -> RunResults:
    """Score the run; with `previous` (an earlier run's summary) the summary shows deltas."""
    run_id = run.run_id
    results = build_results(run.spec, run.store, run.problems, origin=this_flow_run())
    key = artifact_key(run_id)
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
    try:
        link = run.store.link("results/report.html")
    except StoreError as exc:  # the report is stored; only the way to open it is missing
        get_run_logger().warning("no link to the report of run %s: %s", run_id, exc)
    else:
        create_link_artifact(
            key=f"{key}-report",
            link=link,
            link_text=f"Report of run {run_id}",
            description=f"The HTML report of run {run_id} (a presigned link lasts a week)",
        )
    return results


def this_flow_run() -> RunOrigin | None:
    """The flow run this task belongs to, with its dashboard page when the UI's address is
    known (PREFECT_UI_URL, else derived from PREFECT_API_URL); None outside a flow run."""
    run_id = flow_run.get_id()
    if run_id is None:
        return None
    url = url_for("flow-run", obj_id=str(run_id), url_type="ui")
    if url is not None and not url.startswith(("http://", "https://")):
        url = None
    return RunOrigin(flow_run_id=str(run_id), flow_run_name=flow_run.get_name(), dashboard_url=url)


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
