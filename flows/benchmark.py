"""The benchmark flow: problems fan out to solve tasks; scoring and the report end the run.

A run can be split into shards: the parent flow run starts every shard as its own flow
run of the deployment (each on whichever worker takes it, each with its own engine),
waits for all of them and scores the whole run. Shards share the run id and the store.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.exceptions import TerminationSignal
from prefect.futures import as_completed
from prefect.runtime import deployment as this_deployment
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

from leap.benchmarks.problem import Problem
from leap.errors import LeapError
from leap.runs import RunSpec, RunStore, new_run_id, parse_spec
from leap.runs.shards import check_shards, shard_device, shard_items, shard_label
from leap.stop import request_stop
from tasks.dashboard import SHARD_TAG, previous_summary, run_tags, tag_this_flow_run
from tasks.gpu import gpu_slot
from tasks.problems import load_problems
from tasks.results import score_and_report
from tasks.shards import start_shard
from tasks.solve import solve


def _flow_run_name() -> str:
    parameters = flow_run.parameters
    spec = parameters.get("spec") or {}
    try:
        name = parse_spec(dict(spec)).display_name()
    except Exception:  # noqa: BLE001 - the flow itself reports a bad spec
        return "leap-benchmark"
    shard = parameters.get("shard")
    if isinstance(shard, int) and isinstance(parameters.get("shards"), int):
        name = f"{name}-{shard_label(parameters['shards'], shard)}"
    return name


def prepare_run(spec: RunSpec) -> RunSpec:
    """Give the run an id, check the store is usable and the run id is not taken by another spec."""
    if spec.run_id is None:
        spec = spec.model_copy(update={"run_id": new_run_id(spec)})
    run = RunStore.open(spec.store, spec.run_id)
    run.store.check()
    run.create_or_check(spec)
    return spec


@flow(name="leap-benchmark", flow_run_name=_flow_run_name, validate_parameters=False)
def benchmark(
    spec: dict[str, Any],
    shards: int = 1,
    shard: int | None = None,
    deployment: str | None = None,
    gpus: list[str] | None = None,
) -> Any:
    """Run (or resume) one benchmark run described by `spec` (a RunSpec as a dict).

    `shards` > 1 splits the run into that many flow runs of `deployment` (default: the
    deployment this flow run belongs to); `shard` is set on those flow runs and says
    which part of the problems they solve. `gpus`, when given, spreads the shards over
    those CUDA_VISIBLE_DEVICES values.
    """
    logger = get_run_logger()
    try:
        check_shards(shards, shard)
        run_spec = parse_spec(spec)
        # Problems first: a benchmark that cannot load leaves nothing in the store.
        problems = load_problems(run_spec)
        run_spec = prepare_run(run_spec)
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    run_id = run_spec.run_id
    assert run_id is not None
    extra = [f"{SHARD_TAG}{shard_label(shards, shard)}"] if shard is not None else []
    tag_this_flow_run(run_tags(run_spec, run_id, extra))
    if shard is None and shards > 1:
        return _run_in_shards(run_spec, problems, shards, deployment, gpus or [])
    mine = shard_items(problems, shards, shard) if shard is not None else problems
    try:
        with gpu_slot(strict=this_deployment.get_id() is not None):
            failed = _solve_all(run_spec, mine)
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    resume = f"resume with `leap resume {run_id}` or retry this flow run"
    if shard is not None:
        label = shard_label(shards, shard)
        if failed:
            return Failed(
                message=f"{label} of run {run_id}: {len(failed)} of {len(mine)} problems "
                f"failed ({', '.join(sorted(failed))}); {resume}"
            )
        return Completed(message=f"{label} of run {run_id}: {len(mine)} problems solved")
    return _score(run_spec, problems, failed)


def _solve_all(spec: RunSpec, problems: list[Problem]) -> list[str]:
    """Solve `problems`, at most `spec.concurrency` at once; the ids of those that failed."""
    logger = get_run_logger()
    progress = create_progress_artifact(
        progress=0.0, description=f"Problems finished in run {spec.run_id}"
    )
    waiting = list(reversed(problems))
    running: dict[Any, str] = {}
    failed: list[str] = []
    done = 0
    while waiting or running:
        while waiting and len(running) < spec.concurrency:
            problem = waiting.pop()
            task = solve.with_options(task_run_name=f"problem-{problem.id}")
            running[task.submit(spec, spec.run_id, problem)] = problem.id
        try:
            future = next(as_completed(list(running)))
        except (KeyboardInterrupt, TerminationSignal):
            # Only this thread hears the signal; the solve threads stop at their next step,
            # so the flow run ends now rather than when their problems are done.
            request_stop()
            raise
        problem_id = running.pop(future)
        if future.state.is_failed():
            failed.append(problem_id)
            logger.error("problem %s failed: %s", problem_id, future.state.message)
        done += 1
        update_progress_artifact(progress, progress=100.0 * done / len(problems))
    return failed


def _run_in_shards(
    spec: RunSpec,
    problems: list[Problem],
    shards: int,
    deployment: str | None,
    gpus: list[str],
) -> Any:
    run_id = spec.run_id
    name = deployment or _deployment_name()
    if name is None:
        message = (
            f"run {run_id} asks for {shards} shards, which start as flow runs of a deployment: "
            "pass deployment='leap-benchmark/benchmark' (see docs/operations.md)."
        )
        get_run_logger().error(message)
        return Failed(message=message)
    futures = []
    for index in range(shards):
        device = shard_device(gpus, index)
        variables = {"env": {"CUDA_VISIBLE_DEVICES": device}} if device is not None else None
        tags = run_tags(spec, run_id or "", [f"{SHARD_TAG}{shard_label(shards, index)}"])
        task = start_shard.with_options(task_run_name=f"start-{shard_label(shards, index)}")
        futures.append(task.submit(name, spec, shards, index, tags, variables))
    unfinished = []
    for index, future in enumerate(futures):
        child = future.result(raise_on_failure=False)
        state = getattr(child, "state", None)
        if state is None or not state.is_completed():
            status = getattr(state, "name", "not started")
            unfinished.append(f"{shard_label(shards, index)} ({status})")
    if unfinished:
        return Failed(
            message=f"run {run_id}: {', '.join(unfinished)} did not complete; the stored rounds "
            f"are kept: retry those shard flow runs, or run {run_id} again to finish it"
        )
    return _score(spec, problems, [])


def _score(spec: RunSpec, problems: list[Problem], failed: list[str]) -> Any:
    run_id = spec.run_id
    previous = previous_summary(spec, run_id or "")
    report = score_and_report(spec, run_id, problems, previous, return_state=True)
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


def _deployment_name() -> str | None:
    name = this_deployment.name
    return f"{flow_run.flow_name}/{name}" if name else None


def run_benchmark(spec: RunSpec):
    """Start the flow in this process with the run's concurrency; returns its final state."""
    runner = ThreadPoolTaskRunner(max_workers=spec.concurrency)
    return benchmark.with_options(task_runner=runner)(
        spec=spec.model_dump(mode="json"), return_state=True
    )
