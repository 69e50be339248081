"""The nightly flow: every cell of a matrix file becomes a run of the benchmark deployment.

The matrix is checked as a whole before anything starts (a mistake fails the flow run
with one sentence and writes nothing). Cells run as separate flow runs, so workers and
the per-GPU limits decide what runs where and when; this flow only waits and sums up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from leap.errors import LeapError
from leap.report.format import percent
from leap.runs.matrix import load_matrix, matrix_cells
from tasks.matrix import run_cell


def _night() -> str:
    """The date of the night this flow run belongs to (its scheduled start, else now)."""
    scheduled = flow_run.scheduled_start_time
    moment = scheduled if scheduled is not None else datetime.now(UTC)
    return moment.strftime("%Y%m%d")


def _flow_run_name() -> str:
    return f"nightly-{_night()}"


@flow(name="leap-nightly", flow_run_name=_flow_run_name, validate_parameters=False)
def nightly(
    matrix: str = "deployments/matrix.yaml",
    deployment: str = "leap-benchmark/benchmark",
    store: str | None = None,
) -> Any:
    """Run every cell of the `matrix` file (relative to the project folder) on the pool.

    `store` replaces the matrix's store (e.g. an S3 prefix for the night's runs).
    """
    logger = get_run_logger()
    try:
        loaded = load_matrix(matrix)
        if store is not None:
            loaded = loaded.model_copy(update={"store": store})
        cells = matrix_cells(loaded, _night(), source=f"matrix file {matrix}")
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    logger.info("%d runs in tonight's matrix", len(cells))
    futures = [
        run_cell.with_options(task_run_name=f"cell-{cell.spec.run_id}").submit(deployment, cell)
        for cell in cells
    ]
    rows = [f.result() for f in futures]
    create_table_artifact(
        key="leap-nightly-results",
        table=[
            {**r, "pass_at_1": percent(r["pass_at_1"]), "cons_at_n": percent(r["cons_at_n"])}
            for r in rows
        ],
        description=f"Runs of the nightly matrix {matrix}",
    )
    create_markdown_artifact(key="leap-nightly-summary", markdown=_markdown(rows, matrix))
    failed = [r["run_id"] for r in rows if r["state"] != "Completed"]
    if failed:
        return Failed(
            message=f"{len(failed)} of {len(rows)} runs did not complete: "
            f"{', '.join(failed)}; retry them from the dashboard"
        )
    return Completed(message=f"{len(rows)} runs completed")


def _markdown(rows: list[dict], matrix: str) -> str:
    lines = [
        f"### Nightly matrix {matrix}",
        "",
        "| run | state | Pass@1 | Cons@N |",
        "|---|---|---:|---:|",
    ]
    lines += [
        f"| {r['run_id']} | {r['state']} | {percent(r['pass_at_1'])} | {percent(r['cons_at_n'])} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"
