"""The `leap` command.

User mistakes surface as one `error: ...` line and exit code 2; nothing else prints a
traceback unless `LEAP_DEBUG=1`.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import typer
from rich.console import Console
from rich.markup import escape

from deployments.dashboard import DEFAULT_HOST, DEFAULT_PORT
from leap.algorithm.config import Method
from leap.console.settings import (
    leap_settings,
    load_spec_file,
    parse_columns,
    parse_engine_options,
    refuse_options_beside_spec,
    typed_options,
)
from leap.defaults import DEFAULT_MODEL, DEFAULT_STORE
from leap.errors import LeapError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="LeaP: parallel reasoning paths that learn from each other's summaries.",
)
console = Console(stderr=True)

# Options shared by the commands that solve problems, declared once; None means "not given".
ConfigFile = typer.Option(None, "--config", "-c", help="YAML file of LeaP settings.")
ModelOption = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Model folder or hub name.")
DtypeOption = typer.Option("auto", help="auto (fastest the CPU supports), bfloat16, float32.")
EngineKind = typer.Option("transformers", help="transformers, vllm or openai.")
MethodOption = typer.Option(None, help=", ".join(get_args(Method)) + " (docs/methods.md).")
PresetOption = typer.Option(
    None, help="paper (default) or release: the original scripts' settings."
)
PeerFormatOption = typer.Option(None, help="ours or release: peer summaries in <comment> tags.")
LayersOption = typer.Option(None, help="moa: layers of agents (the last one aggregates).")
GroupSizeOption = typer.Option(None, help="leap-s: paths per communicating group (M).")
FirstTokensOption = typer.Option(None, help="leap-s: reasoning tokens before it communicates.")
PathsOption = typer.Option(None, "--n", help="Parallel paths N.")
RoundOption = typer.Option(None, "--T", help="Reasoning tokens per round.")
TopKOption = typer.Option(None, "--k", help="Peer summaries per path.")
RouterOption = typer.Option(None, help="dispersed, clustered, hybrid or random.")
SimilarityOption = typer.Option(None, help="levenshtein or indel.")
MaxTokensOption = typer.Option(None, help="Reasoning budget per path.")
SummaryOption = typer.Option(None, help="Summary budget.")
AnswerOption = typer.Option(None, help="Final answer budget.")
TemperatureOption = typer.Option(None, help="Sampling temperature.")
TopPOption = typer.Option(None, help="Nucleus sampling mass.")
SeedOption = typer.Option(None, help="Run seed.")
EngineOption = typer.Option(
    None,
    "--engine-option",
    help="KEY=VALUE setting of the vllm/openai engine, e.g. base_url=http://127.0.0.1:8000/v1 "
    "or tensor_parallel_size=2 (repeat it; see docs/engines.md).",
)


# The LeaP options of `solve` and `run`, declared once: name -> (type, option).
LEAP_OPTIONS: dict[str, tuple[Any, Any]] = {
    "config_file": (Path | None, ConfigFile),
    "method": (str | None, MethodOption),
    "preset": (str | None, PresetOption),
    "peer_format": (str | None, PeerFormatOption),
    "layers": (int | None, LayersOption),
    "group_size": (int | None, GroupSizeOption),
    "first_tokens": (int | None, FirstTokensOption),
    "n_paths": (int | None, PathsOption),
    "tokens_per_round": (int | None, RoundOption),
    "top_k": (int | None, TopKOption),
    "router": (str | None, RouterOption),
    "similarity": (str | None, SimilarityOption),
    "max_tokens": (int | None, MaxTokensOption),
    "summary_max_tokens": (int | None, SummaryOption),
    "answer_max_tokens": (int | None, AnswerOption),
    "temperature": (float | None, TemperatureOption),
    "top_p": (float | None, TopPOption),
    "seed": (int | None, SeedOption),
}


def with_leap_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` every LeaP option; it receives them as one `leap_options` mapping.

    Typer reads a command's parameters from its signature, so the wrapper shows the
    command's own parameters followed by the shared ones.
    """
    own = [p for p in inspect.signature(command).parameters.values() if p.name != "leap_options"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
        for name, (kind, option) in LEAP_OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        leap_options = {name: kwargs.pop(name) for name in LEAP_OPTIONS}
        return command(*args, leap_options=leap_options, **kwargs)

    annotations = {k: v for k, v in command.__annotations__.items() if k != "leap_options"}
    wrapper.__annotations__ = {**annotations, **{n: k for n, (k, _) in LEAP_OPTIONS.items()}}
    wrapper.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
    return wrapper


@app.command()
@with_leap_options
def solve(
    question: str = typer.Argument(..., help="The problem to solve."),
    answer: str | None = typer.Option(None, "--answer", "-a", help="Gold answer, to score."),
    choices: list[str] | None = typer.Option(
        None, "--choice", help="An option of a multiple-choice question (repeat it)."
    ),
    model: str = ModelOption,
    dtype: str = DtypeOption,
    engine: str = EngineKind,
    engine_option: list[str] | None = EngineOption,
    leap_options: dict[str, Any] | None = None,
) -> None:
    """Solve one question with a peer group and print each path's answer."""
    from leap.console.solve import run_solve

    config = leap_settings(model, **(leap_options or {}))
    run_solve(
        question,
        answer,
        choices or [],
        model=model,
        dtype=dtype,
        config=config,
        engine=engine,
        engine_options=parse_engine_options(engine, engine_option or []),
    )


StoreOption = typer.Option(
    DEFAULT_STORE, "--store", "-s", envvar="LEAP_STORE", help="Folder or s3://bucket/prefix."
)


@app.command()
@with_leap_options
def run(
    ctx: typer.Context,
    benchmark: str = typer.Option("smoke", "--benchmark", "-b", help="Name or file:PATH."),
    run_id: str | None = typer.Option(None, "--run-id", help="Continue or name this run."),
    store: str = StoreOption,
    limit: int | None = typer.Option(None, help="Only the first N problems."),
    data: str | None = typer.Option(None, help="Local copy of a public benchmark."),
    skip_invalid: bool = typer.Option(False, help="Skip invalid dataset rows with a warning."),
    shuffle_choices: bool | None = typer.Option(
        None,
        "--shuffle-choices/--keep-choice-order",
        help="Shuffle multiple-choice options with the run seed (default: the benchmark's "
        "own choice: named GPQA shuffles, file: benchmarks keep the file's order).",
    ),
    column: list[str] | None = typer.Option(
        None, help="Column mapping for file: benchmarks, e.g. question=problem (repeat it)."
    ),
    model: str = ModelOption,
    engine: str = EngineKind,
    engine_option: list[str] | None = EngineOption,
    dtype: str = DtypeOption,
    concurrency: int | None = typer.Option(
        None, help="Problems solved at once (default 4; batched on every engine)."
    ),
    spec_file: Path | None = typer.Option(
        None, "--spec", help="YAML file of a whole run spec (docs: README, Configuration)."
    ),
    leap_options: dict[str, Any] | None = None,
) -> None:
    """Run (or continue) a benchmark as a Prefect flow; prints where the report is."""
    from leap.console.run import execute
    from leap.runs import parse_spec

    if spec_file is not None:
        # Where and on what a spec file runs may be given beside it: the same file runs
        # the default CPU model here and a large model on a GPU machine.
        beside = {"run_id", "model", "engine", "engine_option", "dtype", "store", "limit"}
        refuse_options_beside_spec(ctx, spec_file, allowed={"spec_file", *beside})
        given = {
            "run_id": run_id,
            "model": model,
            "engine": engine,
            "engine_options": parse_engine_options(engine, engine_option)
            if engine_option
            else None,
            "dtype": dtype,
            "store": store,
            "limit": limit,
        }
        typed = {k: v for k, v in given.items() if k in typed_options(ctx) and v is not None}
        sys.exit(execute(load_spec_file(spec_file, overrides=typed)))
    config = leap_settings(model, **(leap_options or {}))
    spec = parse_spec(
        {
            "run_id": run_id,
            "benchmark": benchmark,
            "limit": limit,
            "data": data,
            "skip_invalid": skip_invalid,
            "shuffle_choices": shuffle_choices,
            "columns": parse_columns(column or []),
            "leap": config.model_dump(),
            "model": model,
            "engine": engine,
            "engine_options": parse_engine_options(engine, engine_option or []),
            "dtype": dtype,
            "store": store,
            **({"concurrency": concurrency} if concurrency is not None else {}),
        },
        source="options",
    )
    sys.exit(execute(spec))


@app.command()
def resume(
    run_id: str = typer.Argument(..., help="The run to continue."),
    store: str = StoreOption,
    concurrency: int | None = typer.Option(None, help="Problems solved at once."),
    engine_option: list[str] | None = EngineOption,
) -> None:
    """Continue a stored run from where it stopped, with its stored spec."""
    from leap.console.run import execute
    from leap.runs import RunStore

    spec = RunStore.open(store, run_id).read_spec()
    update: dict[str, Any] = {"store": store}
    if concurrency is not None:
        update["concurrency"] = concurrency
    if engine_option:
        update["engine_options"] = parse_engine_options(
            spec.engine, engine_option, spec.engine_options
        )
    sys.exit(execute(spec.model_copy(update=update)))


@app.command()
def status(run_id: str = typer.Argument(...), store: str = StoreOption) -> None:
    """Per-problem progress of a run, read from the store alone."""
    from leap.console.run import print_status

    print_status(store, run_id)


@app.command()
def report(run_id: str = typer.Argument(...), store: str = StoreOption) -> None:
    """Rebuild the scores, summary and report of a run from the store."""
    from leap.console.run import rebuild_report

    rebuild_report(store, run_id)


@app.command()
def experiment(
    file: Path = typer.Argument(..., help="Experiment file (YAML; see docs/experiments.md)."),
    store: str | None = typer.Option(None, help="Store of every cell (default: the file's)."),
    limit: int | None = typer.Option(None, help="Only the first N problems in every cell."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model of every cell."),
    engine: str | None = typer.Option(None, help="Engine of every cell."),
    out: Path | None = typer.Option(
        None, help="Folder of the comparison (default: ./comparisons/<name>)."
    ),
) -> None:
    """Run (or continue) every cell of an experiment file, then compare the cells;
    finished cells are skipped."""
    from leap.console.experiment import run_experiment

    given = {"store": store, "limit": limit, "model": model, "engine": engine}
    overrides = {k: v for k, v in given.items() if v is not None}
    sys.exit(run_experiment(file, overrides, str(out) if out else None))


@app.command()
def compare(
    run_ids: list[str] = typer.Argument(
        ..., metavar="RUN_A RUN_B [...]", help="Runs of one benchmark; the first is the baseline."
    ),
    store: str = StoreOption,
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for comparison.html, comparison.md and problems.parquet "
        "(default: ./comparisons/<run ids>).",
    ),
    seed: int = typer.Option(0, help="Seed of the bootstrap and permutation draws."),
    resamples: int | None = typer.Option(
        None, help="Bootstrap resamples per interval (default 2000; docs/compare.md)."
    ),
) -> None:
    """Compare runs of one benchmark side by side, paired by problem id."""
    from leap.console.compare import run_compare

    run_compare(store, run_ids, out, seed=seed, resamples=resamples)


@app.command("sft-data")
def sft_data(
    run_ids: list[str] = typer.Argument(
        ..., metavar="RUN_ID [...]", help="Finished, scored LeaP runs of one model."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder for data.parquet, card.json and card.md."
    ),
    store: str = StoreOption,
    correct_only: bool = typer.Option(
        True, "--correct-only/--all-answers", help="Keep only paths whose answer is right."
    ),
    closed_summaries: bool = typer.Option(
        True,
        "--closed-summaries/--any-summaries",
        help="Keep only paths that closed every summary themselves, within the budget.",
    ),
    drop_forced: bool = typer.Option(
        True, "--drop-forced/--keep-forced", help="Leave out paths forced to answer."
    ),
    max_length: int | None = typer.Option(None, min=1, help="Most tokens per example."),
    force: bool = typer.Option(False, "--force", help="Replace a data set already in --out."),
) -> None:
    """Build a supervised fine-tuning data set for LeaP-T from stored runs (docs/training.md)."""
    from leap.console.sft_data import run_sft_data
    from leap.training.sft_data import SftFilters

    filters = SftFilters(correct_only, closed_summaries, drop_forced, max_length)
    run_sft_data(store, run_ids, out, filters, force=force)


@app.command()
def finetune(
    config_file: Path = typer.Argument(..., help="Training config (YAML; docs/training.md)."),
    store: str | None = typer.Option(
        None, "--store", "-s", help="Folder or s3://bucket/prefix (default: the file's)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Local folder of the final model."),
) -> None:
    """Fine-tune a model on SFT data sets (LeaP-T) as a Prefect flow; resumes from the
    store's latest checkpoint."""
    from leap.console.finetune import run_finetune

    sys.exit(run_finetune(config_file, store, str(out) if out else None))


@app.command()
def benchmarks() -> None:
    """List the benchmarks that can be run, with sizes and sources."""
    from rich.table import Table

    from leap.benchmarks import list_benchmarks

    table = Table("name", "problems", "kind", "source")
    for info in list_benchmarks():
        size = "?" if info.size is None else str(info.size)
        table.add_row(info.name, size, info.kind, info.source)
    Console().print(table)


# -- deployments: a Prefect server, a `gpu` pool of process workers (docs/operations.md) --

PoolOption = typer.Option("gpu", "--pool", "-p", help="Work pool name.")


@app.command("setup-pool")
def setup_pool(
    pool: str = PoolOption,
    gpus: str = typer.Option(
        "0", help="This machine's GPUs, e.g. 0,1: one concurrency limit of one slot each."
    ),
    host: str | None = typer.Option(
        None, help="Name of this machine in limit names (default: $LEAP_GPU_HOST or hostname)."
    ),
) -> None:
    """Create the process work pool and a one-engine-per-GPU limit for each GPU here."""
    from deployments.pool import setup_pool as create

    devices = [d.strip() for d in gpus.split(",") if d.strip()]
    done = create(pool, devices, host)
    out = Console()
    out.print(f"work pool {done.pool}: {'created' if done.pool_created else 'already there'}")
    for name in done.limits_created:
        out.print(f"GPU limit {name}: created (1 slot)")
    for name in done.limits_present:
        out.print(f"GPU limit {name}: already there")


@app.command()
def deploy(
    prefect_file: Path | None = typer.Option(
        None, "--file", help="Deployments file (default: deployments/prefect.yaml)."
    ),
) -> None:
    """Register the deployments of deployments/prefect.yaml on the Prefect server."""
    from deployments.register import PREFECT_FILE, deploy_all

    source = (prefect_file or PREFECT_FILE).resolve()
    for name in deploy_all(source):
        Console().print(f"deployed {name} from {source}")


@app.command()
def worker(
    pool: str = PoolOption,
    name: str | None = typer.Option(None, help="Worker name shown in the dashboard."),
    limit: int | None = typer.Option(None, help="Most flow runs this worker runs at once."),
) -> None:
    """Start a process worker on the pool (`prefect worker start`) until SIGTERM or Ctrl-C.

    On either, its flow runs stop as on Ctrl-C (stored rounds kept) and it exits within
    seconds (see docs/operations.md).
    """
    from deployments.pool import require_pools
    from deployments.worker import run_worker, worker_command

    require_pools([pool])
    code = run_worker(worker_command(pool, name, limit), say=console.print)
    raise typer.Exit(code)


@app.command()
def server(
    host: str = typer.Option(
        DEFAULT_HOST, help="Address to listen on (0.0.0.0: every address of this machine)."
    ),
    port: int = typer.Option(DEFAULT_PORT, help="Port to listen on."),
    public_url: str | None = typer.Option(
        None,
        help="Address browsers and workers use to reach the server, e.g. "
        "http://head.lab:4200 (default: http://HOST:PORT).",
    ),
) -> None:
    """Start the Prefect server and dashboard (`prefect server start`) until SIGTERM or Ctrl-C."""
    from deployments.dashboard import reachable_url, server_command, server_environment

    command = server_command(host, port)
    url = reachable_url(host, port, public_url)
    out = Console()
    out.print(f"dashboard: {url}", highlight=False)
    out.print("on every machine that runs leap deploy or a worker:", highlight=False)
    out.print(f"  export PREFECT_API_URL={url}/api", highlight=False, soft_wrap=True)
    sys.stdout.flush()
    os.execve(command[0], command, server_environment(url))


def main() -> None:
    """Entry point of the `leap` console script."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app(standalone_mode=False)
    except LeapError as exc:
        if os.environ.get("LEAP_DEBUG") == "1":
            raise
        # escaped: messages quote things like `pip install -e '.[gpu]'` that are not markup
        console.print(
            f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except (typer.Abort, typer.Exit) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.TyperException as exc:
        # A malformed or unknown option: typer's own copy of click says which, in one line.
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
