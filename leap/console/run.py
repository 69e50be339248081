"""`leap run`, `leap resume`, `leap status`, `leap report`: the console side of a run.

Everything a user can get wrong (spec, store, benchmark) is checked here before the flow
starts, so mistakes are one line each and no generation starts on a broken run.
The flow itself is imported lazily: `leap` the library never imports Prefect.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leap.report.format import verdict_counts
from leap.runs import PreparedRun, RunSpec, RunStore, load_run_problems, prepare_run
from leap.runs.progress import ProgressEvent, subscribe
from leap.runs.results import RunResults
from leap.stop import request_stop

console = Console()


def execute(spec: RunSpec) -> int:
    """Run the benchmark flow for `spec`; returns the process exit code."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The ephemeral API's 20 s default is too short on a loaded 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    run = prepare_run(spec)
    for sentence in run.skipped.values():
        console.print(f"[yellow]skipped:[/] {escape(sentence)}", soft_wrap=True)
    total = len(run.problems)
    console.print(f"run [bold]{run.run_id}[/] · {total} problems · store {run.store.store.url}")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[latest]}"),
        console=console,
    ) as progress:
        task = progress.add_task("problems", total=total, latest="")

        def show(event: ProgressEvent) -> None:
            if event.finished:
                progress.advance(task)
                progress.update(task, latest=f"{event.problem_id} done")
            else:
                progress.update(
                    task,
                    latest=f"{event.problem_id}: round {event.round + 1} stored, "
                    f"{event.active_paths} paths active",
                )

        unsubscribe = subscribe(show)
        try:
            with _stop_on_sigterm():
                state = _start_and_run(run)
        except (Exception, SystemExit):
            raise
        except BaseException:  # Ctrl-C, SIGTERM, or Prefect's termination signal
            request_stop()
            stopped = True
        else:
            stopped = False
        finally:
            unsubscribe()
    if stopped:
        _exit_now(run)
    summary = state.result(raise_on_failure=False) if state.is_completed() else None
    if state.is_failed() or not isinstance(summary, RunResults):
        message = escape(state.message or "")
        console.print(f"[bold red]run {run.run_id} did not complete:[/] {message}", soft_wrap=True)
        return 1
    _print_summary(summary)
    return 0


class _Terminated(BaseException):
    """SIGTERM arrived before Prefect installed its own handler."""


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception in the main thread (Prefect does the same in a flow)."""

    def stop(signum: int, frame: object) -> None:
        raise _Terminated()

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_now(run: PreparedRun) -> None:
    """End the process now. The engines stop their threads at the next step (`leap.stop`);
    exiting here also covers a thread blocked elsewhere (an HTTP call to a server).

    Every stored round is complete (objects are written atomically), so only the rounds
    in flight are lost, as after a crash.
    """
    command = escape(f"leap resume {run.run_id} --store {run.spec.store}")
    console.print(
        f"run {run.run_id} stopped; its stored rounds are kept: continue it with `{command}`",
        soft_wrap=True,
    )
    from flows.api import stop_ephemeral_api

    stop_ephemeral_api()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _start_and_run(run: PreparedRun):
    """Load the engine, give the first problems a head start, then run the flow.

    A model that cannot load is reported here, before Prefect starts and before anything
    is written under the run id. While Prefect is imported and its temporary API server
    boots (in its own process), the first problems are already being solved (see
    `leap.runs.head_start`); their tasks take over when the flow reaches them.
    """
    engine = run.begin()
    run.head_start.start(engine, run)
    from flows.api import start_ephemeral_api

    api = start_ephemeral_api()
    from flows.benchmark import run_benchmark

    if api is not None:
        api.join()
    return run_benchmark(run)


def _print_summary(results: RunResults) -> None:
    summary = results.summary
    table = Table("metric", "value", title=f"run {summary.run_id}")
    for value, label in (
        (summary.pass_at_1, "Pass@1"),
        (summary.cons_at_n, f"Cons@{summary.n_paths}"),
        (summary.answered_rate, "answered"),
    ):
        if value is not None:
            table.add_row(label, f"{100 * value:.1f}%")
    table.add_row("paths", verdict_counts(summary.verdicts, summary.truncated_paths))
    tokens = summary.tokens
    table.add_row("reasoning tokens", str(tokens.reasoning))
    table.add_row(
        "prompt tokens computed / reused", f"{tokens.prompt_computed} / {tokens.prompt_reused}"
    )
    if summary.elapsed_seconds is not None:
        table.add_row("elapsed", f"{summary.elapsed_seconds:.1f}s")
    table.add_row("solve time (sum over problems)", f"{summary.solve_seconds:.1f}s")
    console.print(table)
    if "report" in results.locations:
        console.print(f"report: {results.locations['report']}")


def print_status(store: str, run_id: str) -> None:
    run = RunStore.open(store, run_id)
    spec = run.read_spec()
    rows = run.progress()
    table = Table(
        "problem",
        "rounds stored",
        "paths finished",
        "final answers",
        title=f"run {run_id} ({spec.benchmark}, {spec.display_name()})",
    )
    for row in rows:
        table.add_row(
            row.problem_id,
            str(row.rounds),
            f"{row.paths_finished}/{row.paths}",
            "yes" if row.final else "no",
        )
    console.print(table)
    done = sum(r.final for r in rows)
    console.print(f"{done} problems complete, {len(rows) - done} in progress")


def rebuild_report(store: str, run_id: str) -> None:
    from leap.runs.results import build_results

    run = RunStore.open(store, run_id)
    spec = run.read_spec()
    problems = load_run_problems(spec)
    _print_summary(build_results(spec, run, problems))
