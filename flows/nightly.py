"""The nightly flow: every cell of a matrix file becomes a run of the benchmark deployment.

The matrix is checked as a whole before anything starts (a mistake fails the flow run
with one sentence and writes nothing). Cells run as separate flow runs, so workers and
the per-GPU limits decide what runs where and when; this flow only waits and sums up:
one row per cell, set against the same cell on the previous night (`leap.runs.nightly`),
in a table and a markdown artifact whose keys never change, so each artifact's history
in the dashboard is the nightly trend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from leap.errors import LeapError
from leap.runs.matrix import load_matrix, matrix_cells
from leap.runs.nightly import check_night, nightly_rows, summary_markdown, table_rows
from tasks.matrix import run_cell

TABLE_KEY = "leap-nightly-results"
SUMMARY_KEY = "leap-nightly-summary"


def _night() -> str:
    """The night this flow run belongs to: its `night` parameter, else the date of its
    scheduled start, else today (UTC)."""
    given = flow_run.parameters.get("night")
    if given is not None:
        return str(given)
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
    night: str | None = None,
) -> Any:
    """Run every cell of the `matrix` file (relative to the project folder) on the pool.

    `store` replaces the matrix's store; keep it the same every night, since a cell is
    compared with the previous night's run of it in that store. `night` (YYYYMMDD) runs
    the matrix of that night again, e.g. to finish a failed night: its runs resume.
    """
    logger = get_run_logger()
    try:
        tonight = check_night(_night())
        loaded = load_matrix(matrix)
        if store is not None:
            loaded = loaded.model_copy(update={"store": store})
        cells = matrix_cells(loaded, tonight, source=f"matrix file {matrix}")
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    logger.info("%d runs in the matrix of night %s", len(cells), tonight)
    futures = [
        run_cell.with_options(task_run_name=f"cell-{cell.spec.run_id}").submit(deployment, cell)
        for cell in cells
    ]
    rows = nightly_rows([f.result() for f in futures])
    create_table_artifact(
        key=TABLE_KEY,
        table=table_rows(rows),
        description=f"Night {tonight} of the matrix {matrix}: one row per run; changes in "
        "points against the same run on the previous night",
    )
    create_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=summary_markdown(rows, tonight, matrix),
        description=f"Night {tonight} of the matrix {matrix}",
    )
    failed = [r.run_id for r in rows if r.state != "Completed"]
    if failed:
        return Failed(
            message=f"{len(failed)} of {len(rows)} runs did not complete: "
            f"{', '.join(failed)}; retry them from the dashboard, or run the nightly "
            f"again with night={tonight} to finish them"
        )
    return Completed(message=f"night {tonight}: {len(rows)} runs completed")
