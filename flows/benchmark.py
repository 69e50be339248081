"""The benchmark flow: problems fan out to solve tasks; scoring and the report end the run.

A run can be split into shards: the parent flow run starts every shard as its own flow
run of the deployment (each on whichever worker takes it, each with its own engine),
waits for all of them and scores the whole run. Shards share the run id and the store.

A run is prepared once (`leap.runs.prepare_run`): by `leap run` before Prefect starts,
which hands the prepared run to this flow (`prepared`), or here, for a deployment's flow
run, which only has the spec.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.client.orchestration import get_client
from prefect.exceptions import TerminationSignal
from prefect.futures import as_completed
from prefect.runtime import deployment as this_deployment
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from leap.errors import LeapError
from leap.runs import PreparedRun, prepare_run, spec_with_defaults
from leap.runs.shards import check_shards, shard_device, shard_items, shard_label
from leap.stop import request_stop
from tasks.dashboard import (
    SHARD_TAG,
    flow_run_name,
    label_this_flow_run,
    previous_summary,
    progress_key,
    run_tags,
)
from tasks.gpu import gpu_slot
from tasks.results import score_and_report
from tasks.shards import start_shard
from tasks.solve import solve


def _flow_run_name() -> str:
    """The same name the run was given when it was created (`tasks.dashboard.flow_run_name`)."""
    parameters = flow_run.parameters
    shards, shard = parameters.get("shards"), parameters.get("shard")
    try:
        spec = spec_with_defaults(parameters.get("spec") or {}, _default_spec())
    except Exception:  # noqa: BLE001 - the flow itself reports a bad spec
        return "leap-benchmark"
    if isinstance(shard, int) and isinstance(shards, int):
        return flow_run_name(spec, shards, shard)
    return flow_run_name(spec)


@flow(name="leap-benchmark", flow_run_name=_flow_run_name, validate_parameters=False)
def benchmark(
    spec: dict[str, Any],
    shards: int = 1,
    shard: int | None = None,
    deployment: str | None = None,
    gpus: list[str] | None = None,
    prepared: Any = None,
) -> Any:
    """Run (or resume) one benchmark run described by `spec` (a RunSpec as a dict).

    `shards` > 1 splits the run into that many flow runs of `deployment` (default: the
    deployment this flow run belongs to); `shard` is set on those flow runs and says
    which part of the problems they solve. `gpus`, when given, spreads the shards over
    those CUDA_VISIBLE_DEVICES values. `prepared` is the same run already prepared in
    this process (by `leap run`); deployments leave it out.
    """
    logger = get_run_logger()
    try:
        check_shards(shards, shard)
        # Prefect replaces a default parameter whole: a partial `spec` given to the
        # deployment is completed here from the deployment's own default spec.
        run: PreparedRun = prepared or prepare_run(spec_with_defaults(spec, _default_spec()))
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    extra = [f"{SHARD_TAG}{shard_label(shards, shard)}"] if shard is not None else []
    # Named again now that the run id is certain (a spec without one just got it).
    label_this_flow_run(
        flow_run_name(run.spec, shards, shard), run_tags(run.spec, run.run_id, extra)
    )
    if shard is None and shards > 1:
        return _run_in_shards(run, shards, deployment, gpus or [])
    mine = shard_items(run.problems, shards, shard) if shard is not None else run.problems
    try:
        with gpu_slot(strict=this_deployment.get_id() is not None):
            run.begin()  # the model loads before anything is written under the run id
            failed = _solve_all(run, mine, shard_label(shards, shard) if shard is not None else "")
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    if shard is not None:
        label = shard_label(shards, shard)
        if failed:
            return Failed(
                message=f"{label} of run {run.run_id}: {_failures(failed, len(mine))}; "
                f"{_resume_hint(run)}"
            )
        return Completed(message=f"{label} of run {run.run_id}: {len(mine)} problems solved")
    return _score(run, failed)


def _solve_all(run: PreparedRun, problems: list, shard: str = "") -> dict[str, str]:
    """Solve `problems`, at most `spec.concurrency` at once; failed problem id -> why.

    This loop is the run's one concurrency bound: the task runner's threads, the head
    start and the engine's batching all follow from how many tasks it keeps running.
    `shard` is the shard's label when these are one shard's problems.
    """
    logger = get_run_logger()
    # Keyed by run (and shard), so it lists under Artifacts and a resumed run adds to its history.
    part = f"{shard} of run" if shard else "run"
    progress = create_progress_artifact(
        key=progress_key(run.run_id, shard),
        progress=0.0,
        description=f"Problems finished in {part} {run.run_id}",
    )
    waiting = list(reversed(problems))
    running: dict[Any, str] = {}
    failed: dict[str, str] = {}
    done = 0
    while waiting or running:
        while waiting and len(running) < run.spec.concurrency:
            problem = waiting.pop()
            task = solve.with_options(task_run_name=f"problem-{problem.id}")
            running[task.submit(run, problem)] = problem.id
        try:
            future = next(as_completed(list(running)))
            # as_completed yields when the thread is done; wait() records the final state
            # (reading .state before that can still show Running and hide a failure).
            future.wait()
        except (KeyboardInterrupt, TerminationSignal):
            # Only this thread hears the signal; the solve threads stop at their next step,
            # so the flow run ends now rather than when their problems are done.
            request_stop()
            raise
        problem_id = running.pop(future)
        if not future.state.is_completed():
            failed[problem_id] = future.state.message or future.state.name
            logger.error("problem %s failed: %s", problem_id, future.state.message)
        done += 1
        update_progress_artifact(progress, progress=100.0 * done / len(problems))
    return failed


def _run_in_shards(run: PreparedRun, shards: int, deployment: str | None, gpus: list[str]) -> Any:
    name = deployment or _deployment_name()
    if name is None:
        message = (
            f"run {run.run_id} asks for {shards} shards, which start as flow runs of a "
            "deployment: pass deployment='leap-benchmark/benchmark' (see docs/operations.md)."
        )
        get_run_logger().error(message)
        return Failed(message=message)
    futures = []
    for index in range(shards):
        device = shard_device(gpus, index)
        variables = {"env": {"CUDA_VISIBLE_DEVICES": device}} if device is not None else None
        tags = run_tags(run.spec, run.run_id, [f"{SHARD_TAG}{shard_label(shards, index)}"])
        task = start_shard.with_options(task_run_name=f"start-{shard_label(shards, index)}")
        futures.append(task.submit(name, run.spec, shards, index, tags, variables))
    unfinished = []
    for index, future in enumerate(futures):
        child = future.result(raise_on_failure=False)
        state = getattr(child, "state", None)
        if state is None or not state.is_completed():
            status = getattr(state, "name", "not started")
            unfinished.append(f"{shard_label(shards, index)} ({status})")
    if unfinished:
        return Failed(
            message=f"run {run.run_id}: {', '.join(unfinished)} did not complete; the stored "
            f"rounds are kept: retry those shard flow runs, or run {run.run_id} again to "
            "finish it"
        )
    return _score(run, {})


def _score(run: PreparedRun, failed: dict[str, str]) -> Any:
    previous = previous_summary(run.spec, run.run_id)
    report = score_and_report(run, previous, return_state=True)
    if not report.is_completed():
        return Failed(
            message=f"run {run.run_id} could not be scored ({report.message}); the stored "
            f"rounds are kept: {_resume_hint(run)}"
        )
    results = report.result()
    # Problems without final answers (failed here, or in a shard) make the run a failure,
    # however many of the others were scored.
    unsolved = {p: failed.get(p, "no final answers") for p in results.summary.failed_problems}
    unsolved.update(failed)
    if unsolved:
        return Failed(
            message=f"run {run.run_id}: {_failures(unsolved, len(run.problems))}; "
            f"{_resume_hint(run)}",
            data=results,
        )
    return Completed(message=f"run {run.run_id}: {len(run.problems)} problems scored", data=results)


def _failures(failed: dict[str, str], total: int) -> str:
    """`2 of 30 problems failed (p3, p7), first because: <its one sentence>`."""
    ids = sorted(failed)
    return (
        f"{len(ids)} of {total} problems failed ({', '.join(ids)}), "
        f"first because: {failed[ids[0]].rstrip('.')}"
    )


def _resume_hint(run: PreparedRun) -> str:
    return f"resume with `leap resume {run.run_id} --store {run.spec.store}`"


def _default_spec() -> dict[str, Any] | None:
    """The `spec` parameter declared on this flow run's deployment, if it has one."""
    deployment_id = this_deployment.get_id()
    if deployment_id is None:
        return None
    with get_client(sync_client=True) as client:
        declared = client.read_deployment(deployment_id).parameters or {}
    return declared.get("spec")


def _deployment_name() -> str | None:
    name = this_deployment.name
    return f"{flow_run.flow_name}/{name}" if name else None


def run_benchmark(run: PreparedRun):
    """Start the flow in this process for a prepared run; returns its final state."""
    return benchmark(spec=run.spec.model_dump(mode="json"), prepared=run, return_state=True)
