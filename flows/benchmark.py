"""The benchmark flow: problems fan out to solve tasks; scoring and the report end the run."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

from leap.runs import RunSpec, RunStore, new_run_id, parse_spec
from tasks.problems import load_problems
from tasks.results import score_and_report
from tasks.solve import solve


def _flow_run_name() -> str:
    from prefect.runtime import flow_run

    spec = flow_run.parameters.get("spec") or {}
    try:
        return parse_spec(dict(spec)).display_name()
    except Exception:  # noqa: BLE001 - the flow itself reports a bad spec
        return "leap-benchmark"


def prepare_run(spec: RunSpec) -> RunSpec:
    """Give the run an id, check the store is usable and the run id is not taken by another spec."""
    if spec.run_id is None:
        spec = spec.model_copy(update={"run_id": new_run_id(spec)})
    run = RunStore.open(spec.store, spec.run_id)
    run.store.check()
    run.create_or_check(spec)
    return spec


@flow(name="leap-benchmark", flow_run_name=_flow_run_name, validate_parameters=False)
def benchmark(spec: dict[str, Any]) -> Any:
    """Run (or resume) one benchmark run described by `spec` (a RunSpec as a dict)."""
    logger = get_run_logger()
    run_spec = prepare_run(parse_spec(spec))
    run_id = run_spec.run_id
    problems = load_problems(run_spec)
    progress = create_progress_artifact(
        progress=0.0, description=f"Problems finished in run {run_id}"
    )
    futures = {
        solve.with_options(task_run_name=f"problem-{p.id}").submit(run_spec, run_id, p): p.id
        for p in problems
    }
    failed: list[str] = []
    for done, future in enumerate(as_completed(list(futures)), start=1):
        if future.state.is_failed():
            failed.append(futures[future])
            logger.error("problem %s failed: %s", futures[future], future.state.message)
        update_progress_artifact(progress, progress=100.0 * done / len(futures))
    report = score_and_report(run_spec, run_id, problems, return_state=True)
    if not report.is_completed():
        return Failed(
            message=f"run {run_id} could not be scored ({report.message}); the stored rounds "
            f"are kept: resume with `leap resume {run_id}`"
        )
    summary = report.result()
    if failed:
        return Failed(
            message=f"{len(failed)} of {len(problems)} problems failed "
            f"({', '.join(sorted(failed))}); resume with `leap resume {run_id}`",
            data=summary,
        )
    return Completed(message=f"run {run_id}: {len(problems)} problems scored", data=summary)


def run_benchmark(spec: RunSpec):
    """Start the flow in this process with the run's concurrency; returns its final state."""
    runner = ThreadPoolTaskRunner(max_workers=spec.concurrency)
    return benchmark.with_options(task_runner=runner)(
        spec=spec.model_dump(mode="json"), return_state=True
    )
