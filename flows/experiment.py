"""The experiment flow: every cell of an experiment file is a run, started as a child flow
run of this one; a finished cell is skipped, an interrupted one resumes by round.

The file is checked as a whole before anything starts (a mistake fails the flow run with
one sentence and writes nothing). Without `deployment`, cells run one after another in
this flow run's process, sharing its engine; with it, every unfinished cell starts as a
flow run of that deployment, so the cells spread over the pool's workers. The experiment
ends with the comparison of its cells.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.benchmark import benchmark
from leap.errors import LeapError
from leap.experiments.declaration import cell_finished, experiment_cells, load_experiment
from leap.runs import prepare_run
from tasks.compare import compare_task
from tasks.experiment import run_cell_on_pool


def _flow_run_name() -> str:
    path = str(flow_run.parameters.get("file", "experiment"))
    return "experiment-" + path.rsplit("/", 1)[-1].removesuffix(".yaml")


@flow(name="leap-experiment", flow_run_name=_flow_run_name, validate_parameters=False)
def experiment(
    file: str,
    overrides: dict[str, Any] | None = None,
    out_dir: str | None = None,
    deployment: str | None = None,
) -> Any:
    """Run every cell of the experiment `file`, then compare them (the first cell is the
    baseline); `overrides` (store, limit, model, engine) replace those fields of every
    cell's spec; the comparison goes to `out_dir` (default ./comparisons/<name>).
    `deployment` (e.g. "leap-benchmark/benchmark") runs the cells on the pool instead of
    in this process."""
    logger = get_run_logger()
    try:
        declared = load_experiment(file)
        cells = experiment_cells(declared, overrides)
        finished = {cell.run_id for cell in cells if cell_finished(cell)}
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    logger.info("%d cells in experiment %s, %d finished", len(cells), file, len(finished))
    unfinished: list[str] = []
    todo = [cell for cell in cells if cell.run_id not in finished]
    if deployment is not None:
        futures = [run_cell_on_pool.submit(deployment, cell.spec) for cell in todo]
        states = [future.result() for future in futures]
        unfinished = [c.run_id for c, s in zip(todo, states, strict=True) if s != "Completed"]
        todo = []
    for cell in todo:
        try:
            run = prepare_run(cell.spec)
        except LeapError as exc:
            logger.error("cell %s: %s", cell.run_id, exc)
            unfinished.append(cell.run_id)
            continue
        state = benchmark(spec=cell.spec.model_dump(mode="json"), prepared=run, return_state=True)
        if not state.is_completed():
            unfinished.append(cell.run_id)
    if unfinished:
        return Failed(
            message=f"{len(unfinished)} of {len(cells)} cells did not complete: "
            f"{', '.join(unfinished)}; run the experiment again to finish them"
        )
    try:
        written = compare_task(
            cells[0].spec.store,
            [c.run_id for c in cells],
            out_dir=out_dir or f"comparisons/{declared.name}",
        )
    except LeapError as exc:
        logger.warning("the cells could not be compared: %s", exc)
        return Completed(message=f"experiment {file}: {len(cells)} cells complete; {exc}")
    return Completed(
        message=f"experiment {file}: {len(cells)} cells complete; comparison in "
        f"{written['comparison.html']}"
    )
