"""What checkpointing and resuming cost on the CPU engine with the default model.

Two measurements:

1. write: the time `RunStore.save_round` takes for real rounds, as a share of the round's
   own compute time (`RoundRecord.wall_seconds`). The rounds come from peer groups run with
   the CPU preset (`leap.console.settings.CPU_PRESET`) on a few smoke problems; each record is then
   written again and again under fresh keys, alternately into a local folder and into a
   bucket of a moto S3 server on 127.0.0.1 (a child process, like a real endpoint).
   Serialising to Parquet is timed on its own too, so the I/O part can be read off.
2. resume: a run of 30 easy arithmetic problems (a JSON file read through `file:`), each
   with one or two stored rounds and no final answers, is resumed in a FRESH Python
   process, and the time from process start to the first sampled token of the resumed
   run is taken, without the model load. Two levels:
   (a) library: list the progress of the 30 problems, rebuild the first unfinished
       problem's PeerGroup from its stored rounds, run its next round up to the first token;
   (b) the real command, `leap resume RUN_ID --store DIR`, with Prefect's ephemeral API.
   A small hook in the child process notes the times (model load, first generate call,
   first sampled token, and for (b) the CLI's checks and when Prefect's start-up begins:
   since the head start, `leap.runs.head_start`, the first token no longer waits for Prefect);
   the parent then ends the child's whole process group. Every repeat starts from a fresh
   copy of the stored run, so all of them resume the same state.

This is a measuring script, not a test: it asserts nothing about speed. Example:

    .venv/bin/python bench/checkpoint.py --json bench/checkpoint.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import cpu_model, load_average, median

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "resume-bench"
CHILD_FLAG = "--child"


# -- small helpers --------------------------------------------------------------------------


def wait_for_quiet(limit: float, threshold: float, poll: float = 30.0) -> dict[str, Any]:
    """Wait up to `limit` seconds for the 1-minute load average to drop below `threshold`."""
    began = time.monotonic()
    while True:
        load = load_average()
        waited = time.monotonic() - began
        if not load or load[0] < threshold:
            return {"quiet": True, "waited_seconds": round(waited), "load": load}
        if waited >= limit:
            return {"quiet": False, "waited_seconds": round(waited), "load": load}
        print(f"load average {load}: waiting for < {threshold} ({waited:.0f} s so far)")
        time.sleep(min(poll, max(1.0, limit - waited)))


def set_environment(prefect_home: Path) -> None:
    os.environ.setdefault("LEAP_HOME", str(ROOT / ".cache" / "leap"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_HOME"] = str(prefect_home)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


# -- the child process: hooks that note when things happen ----------------------------------


class Marks:
    """Wall-clock times (time.time()) of named events, written to a JSON file on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: dict[str, float] = {}
        self.values: dict[str, float] = {}  # durations and counts, kept apart from times

    def note(self, name: str, when: float | None = None) -> None:
        self.times.setdefault(name, time.time() if when is None else when)

    def save(self) -> None:
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps({"times": self.times, "values": self.values}))
        temp.replace(self.path)


def _wrap(owner: Any, name: str, before: str | None, after: str | None, marks: Marks) -> None:
    """Replace `owner.name` by a wrapper that notes `before`/`after` on its first call."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            marks.note(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                marks.note(after)

    setattr(owner, name, wrapper)


def install_hooks(marks: Marks, level: str) -> None:
    """Hook the engine (load, first generate, first sampled token) and, for the CLI, Prefect."""
    started = time.time()
    import leap.engines.transformers.engine as te

    marks.note("torch_imported")
    marks.values["torch_import_seconds"] = time.time() - started
    engine_class = te.TransformersEngine
    original_init = engine_class.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        marks.note("model_load_start")
        original_init(self, *args, **kwargs)
        marks.note("model_load_end")

    engine_class.__init__ = init  # type: ignore[method-assign]
    _wrap(engine_class, "generate", "first_generate", None, marks)
    sample = te.sample_next

    def first_token(*args: Any, **kwargs: Any) -> list[int]:
        tokens = sample(*args, **kwargs)
        if "first_token" not in marks.times:
            marks.note("first_token")
            marks.save()  # the parent ends this process as soon as it sees the file
        return tokens

    te.sample_next = first_token  # type: ignore[assignment]
    if level != "cli":
        return
    # Prefect is not imported here: `leap resume` imports it only after the head start.
    import flows.api as api
    import leap.console.run as run_command

    _wrap(run_command, "execute", "execute_enter", None, marks)
    _wrap(run_command, "prepare", None, "prepare_end", marks)
    _wrap(api, "start_ephemeral_api", "prefect_start", None, marks)


def child_main(argv: Sequence[str]) -> int:
    """`checkpoint.py --child LEVEL MARKS STORE`: resume the stored run until the first token."""
    level, marks_path, store = argv[0], Path(argv[1]), argv[2]
    marks = Marks(marks_path)
    marks.note("child_start")
    sys.path.insert(0, str(ROOT))
    install_hooks(marks, level)
    marks.note("hooks_ready")
    if level == "cli":
        from leap.console.cli import main

        sys.argv = ["leap", "resume", RUN_ID, "--store", store]
        main()
        marks.note("command_returned")
        marks.save()
        return 0

    from leap.algorithm.peers import PeerGroup
    from leap.engines.transformers.engine import TransformersEngine
    from leap.runs import RunStore, load_run_problems

    marks.note("library_imported")
    engine = TransformersEngine()  # the default model and dtype, as a run would load it
    marks.note("library_start")
    run = RunStore.open(store, RUN_ID)
    spec = run.read_spec()
    problems = {p.id: p for p in load_run_problems(spec)}
    progress = run.progress()
    marks.note("progress_listed")
    marks.values["problems_listed"] = len(progress)
    pending = [p for p in progress if not p.final]
    first = problems[pending[0].problem_id]
    records = run.load_rounds(first.id)
    group = PeerGroup(
        engine, spec.leap, first, cache_prefix=f"{RUN_ID}/{first.id}", records=records
    )
    marks.note("group_rebuilt")
    marks.values["rounds_replayed"] = len(records)
    if group.done:
        group.finish()
    else:
        group.step()
    marks.note("command_returned")
    marks.save()
    return 0


# -- benchmark 1: checkpoint writes ---------------------------------------------------------


@dataclass
class WriteSample:
    store: str  # local | s3
    repeat: int
    problem_id: str
    round: int
    bytes: int
    serialize_ms: float  # round_to_parquet alone, timed separately
    write_ms: float  # the whole save_round call (it serialises again, then stores)
    round_wall_s: float

    @property
    def share(self) -> float:
        return self.write_ms / 1000.0 / self.round_wall_s


def produce_rounds(engine: Any, config: Any, problems: Sequence[Any]) -> list[Any]:
    """Real rounds: each problem solved by a peer group, every round kept."""
    from leap.algorithm.peers import PeerGroup

    records: list[Any] = []
    for problem in problems:
        group = PeerGroup(engine, config, problem, cache_prefix=f"write-bench/{problem.id}")
        started = time.perf_counter()
        group.run(on_round=records.append)
        print(
            f"  {problem.id}: {time.perf_counter() - started:.1f} s, rounds so far {len(records)}"
        )
    engine.close()
    return records


def measure_writes(
    records: Sequence[Any], local_root: Path, s3_store: Any, repeats: int, prefix: str
) -> list[WriteSample]:
    """Write every record `repeats` times into both stores, alternating which goes first."""
    from leap.runs import RunStore
    from leap.runs.parquet import round_to_parquet
    from leap.store import open_store

    local_store = open_store(str(local_root))
    stores = {"local": local_store, "s3": s3_store}
    samples: list[WriteSample] = []
    for repeat in range(repeats):
        for index, record in enumerate(records):
            order = ("local", "s3") if (repeat + index) % 2 == 0 else ("s3", "local")
            for name in order:
                run = RunStore(stores[name], f"{prefix}-{repeat:03d}")  # a fresh key every time
                started = time.perf_counter()
                data = round_to_parquet(run.run_id, record)
                serialized = time.perf_counter()
                run.save_round(record)
                done = time.perf_counter()
                samples.append(
                    WriteSample(
                        store=name,
                        repeat=repeat,
                        problem_id=record.problem_id,
                        round=record.round,
                        bytes=len(data),
                        serialize_ms=1000 * (serialized - started),
                        write_ms=1000 * (done - serialized),
                        round_wall_s=record.wall_seconds,
                    )
                )
    return samples


def write_benchmark(args: argparse.Namespace, engine: Any, work: Path) -> dict[str, Any]:
    from leap.algorithm.config import LeapConfig
    from leap.benchmarks import load_benchmark
    from leap.console.settings import CPU_PRESET
    from leap.store import open_store
    from tests.s3server import MotoS3

    preset = dict(CPU_PRESET)
    if args.quick:
        preset.update(tokens_per_round=16, max_tokens=32, summary_max_tokens=8, n_paths=2)
        preset.update(answer_max_tokens=4, top_k=1)
    config = LeapConfig(**preset)
    problems = load_benchmark("smoke")[: args.write_problems]
    print(f"producing rounds on {len(problems)} smoke problems with {preset}")
    records = produce_rounds(engine, config, problems)
    # Writes to the same key twice would fail (write-once), so each repeat has its own run id.
    server = MotoS3(mode="process").start()
    try:
        bucket = server.create_bucket()
        s3_store = open_store(f"s3://{bucket}/bench", s3_options=server.options())
        s3_store.check()
        # Warm both paths once (boto3's first request builds its endpoint and signer).
        measure_writes(records[:1], work / "writes", s3_store, 1, "warm")
        samples = measure_writes(records, work / "writes", s3_store, args.write_repeats, "write")
    finally:
        server.stop()
    walls = [r.wall_seconds for r in records]
    summary: dict[str, Any] = {
        "config": preset,
        "problems": [p.id for p in problems],
        "rounds": len(records),
        "round_wall_seconds": walls,
        "round_wall_seconds_median": median(walls),
        "repeats": args.write_repeats,
    }
    for name in ("local", "s3"):
        rows = [s for s in samples if s.store == name]
        write = median([s.write_ms for s in rows])
        serialize = median([s.serialize_ms for s in rows])
        store_only = median([s.write_ms - s.serialize_ms for s in rows])
        summary[name] = {
            "writes": len(rows),
            "bytes_median": median([s.bytes for s in rows]),
            "serialize_ms_median": serialize,
            "store_ms_median": store_only,
            "save_round_ms_median": write,
            "share_of_round_median": median([s.share for s in rows]),
        }
        summary[name]["share_ratio_of_medians"] = (
            summary[name]["save_round_ms_median"] / 1000 / summary["round_wall_seconds_median"]
        )
    summary["samples"] = [asdict(s) for s in samples]
    return summary


# -- benchmark 2: resume --------------------------------------------------------------------


def arithmetic_problems(count: int) -> list[dict[str, str]]:
    out = []
    for i in range(1, count + 1):
        a, b = 7 * i % 50 + 3, 11 * i % 40 + 2
        out.append({"id": f"q{i:02d}", "problem": f"What is {a} + {b}?", "answer": str(a + b)})
    return out


def build_resume_run(engine: Any, count: int, root: Path) -> tuple[Path, dict[str, Any]]:
    """A run of `count` problems, each with 1 or 2 stored rounds and no final answers."""
    from leap.algorithm.config import LeapConfig
    from leap.algorithm.peers import PeerGroup
    from leap.benchmarks import load_benchmark
    from leap.runs import RunSpec, RunStore

    data = root / "problems.json"
    data.write_text(json.dumps(arithmetic_problems(count)))
    store_dir = root / "pristine"
    config = LeapConfig(
        n_paths=2,
        tokens_per_round=16,
        max_tokens=64,
        summary_max_tokens=8,
        answer_max_tokens=8,
        top_k=1,
    )
    spec = RunSpec(run_id=RUN_ID, benchmark=f"file:{data}", leap=config, store=str(store_dir))
    run = RunStore.open(str(store_dir), RUN_ID)
    run.create_or_check(spec)
    started = time.perf_counter()
    rounds = 0
    for index, problem in enumerate(load_benchmark(spec.benchmark)):
        group = PeerGroup(engine, config, problem, cache_prefix=f"{RUN_ID}/{problem.id}")
        wanted = 2 if index % 2 == 0 else 1
        kept: list[Any] = []
        group.run(on_round=kept.append, max_rounds=wanted)
        for record in kept[:wanted]:
            run.save_round(record)
            rounds += 1
    engine.close()
    info = {
        "problems": count,
        "rounds_stored": rounds,
        "config": json.loads(config.model_dump_json()),
        "build_seconds": time.perf_counter() - started,
        "finals_stored": sum(p.final for p in run.progress()),
    }
    return store_dir, info


def run_child(level: str, pristine: Path, work: Path, timeout: float) -> dict[str, float]:
    """Resume a fresh copy of the run in a new process; return its marks, relative to start."""
    store = Path(tempfile.mkdtemp(prefix=f"{level}-", dir=work))
    shutil.rmtree(store)
    shutil.copytree(pristine, store)
    marks_path = store.parent / f"{store.name}-marks.json"
    log_path = store.parent / f"{store.name}.log"
    command = [sys.executable, str(Path(__file__).resolve()), CHILD_FLAG, level]
    command += [str(marks_path), str(store)]
    with open(log_path, "wb") as log:
        spawned = time.time()
        child = subprocess.Popen(
            command, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + timeout
            while not marks_path.exists():
                if child.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_bytes()[-3000:].decode(errors="replace")
                    raise RuntimeError(f"the {level} child ended without a first token:\n{tail}")
                time.sleep(0.02)
        finally:
            # The child and everything it started (Prefect's API server) share its group.
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()
    saved = json.loads(marks_path.read_text())
    relative = {k: v - spawned for k, v in saved["times"].items()}
    relative.update(saved["values"])
    shutil.rmtree(store, ignore_errors=True)
    return relative


def _span(marks: dict[str, float], start: str, end: str) -> float:
    if start in marks and end in marks:
        return marks[end] - marks[start]
    return float("nan")


def resume_figures(level: str, marks: dict[str, float]) -> dict[str, float]:
    """Turn one child's marks into the reported spans (seconds)."""
    load = _span(marks, "model_load_start", "model_load_end")
    total = marks["first_token"]
    out = {
        "to_first_token": total,
        "model_load": load,
        "to_first_token_without_model_load": total - load,
        "interpreter_start": marks["child_start"],
        "torch_import": marks.get("torch_import_seconds", float("nan")),
        "prefill_to_first_token": _span(marks, "first_generate", "first_token"),
    }
    if level == "library":
        out["library_after_model_load"] = _span(marks, "library_start", "first_token")
        out["progress_listing"] = _span(marks, "library_start", "progress_listed")
        out["rebuild_group"] = _span(marks, "progress_listed", "group_rebuilt")
    else:
        out.update(
            cli_checks=_span(marks, "execute_enter", "prepare_end"),
            after_model_load_to_first_token=_span(marks, "model_load_end", "first_token"),
            # Prefect starts right after the head start, in parallel with its prefill.
            prefect_start_to_first_token=_span(marks, "prefect_start", "first_token"),
        )
    return out


class _FirstToken(Exception):
    """Raised by the sampling hook to stop a generate call after its first token."""


def warm_resume(engine: Any, store: Path) -> dict[str, float]:
    """The library steps of a resume in THIS process: model loaded, kernels already used.

    The engine's caches are dropped first, so the stored context is prefilled as in a
    fresh process; the generate call is stopped right after its first sampled token.
    """
    import leap.engines.transformers.engine as te
    from leap.algorithm.peers import PeerGroup
    from leap.runs import RunStore, load_run_problems

    engine.close()
    sample = te.sample_next
    times: dict[str, float] = {}

    def first_token(*args: Any, **kwargs: Any) -> list[int]:
        sample(*args, **kwargs)
        times["first_token"] = time.perf_counter()
        raise _FirstToken

    te.sample_next = first_token  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        run = RunStore.open(str(store), RUN_ID)
        spec = run.read_spec()
        problems = {p.id: p for p in load_run_problems(spec)}
        pending = [p for p in run.progress() if not p.final]
        first = problems[pending[0].problem_id]
        records = run.load_rounds(first.id)
        group = PeerGroup(
            engine, spec.leap, first, cache_prefix=f"{RUN_ID}/{first.id}", records=records
        )
        rebuilt = time.perf_counter()
        try:
            group.finish() if group.done else group.step()
        except _FirstToken:
            pass
    finally:
        te.sample_next = sample  # type: ignore[assignment]
        engine.close()
    return {
        "to_first_token": times["first_token"] - started,
        "listing_and_rebuild": rebuilt - started,
        "prefill_to_first_token": times["first_token"] - rebuilt,
    }


def resume_benchmark(args: argparse.Namespace, engine: Any, work: Path) -> dict[str, Any]:
    if args.resume_store is not None:
        from leap.runs import RunStore, load_run_problems

        pristine = args.resume_store.resolve()
        progress = RunStore.open(str(pristine), RUN_ID).progress()
        info = {
            "reused_store": str(pristine),
            "problems": len(load_run_problems(RunStore.open(str(pristine), RUN_ID).read_spec())),
            "problems_with_rounds": len(progress),
            "rounds_stored": sum(p.rounds for p in progress),
            "finals_stored": sum(p.final for p in progress),
        }
        print(f"reusing the stored run in {pristine}: {info}")
    else:
        count = args.resume_problems
        print(f"building a run of {count} problems with 1-2 stored rounds each")
        pristine, info = build_resume_run(engine, count, work)
        print(f"  built in {info['build_seconds']:.1f} s: {info['rounds_stored']} rounds stored")
    results: dict[str, Any] = {"run": info, "repeats": args.repeats}
    levels = ("library", "cli")
    child_level = {"library": "library", "cli": "cli"}
    for level in levels:  # one untimed run each: Prefect creates its database, caches warm
        marks = run_child(child_level[level], pristine, work, args.child_timeout)
        results[f"{level}_warmup"] = resume_figures(level, marks)
        print(f"  warm-up {level}: {results[f'{level}_warmup']['to_first_token']:.1f} s")
    runs: dict[str, list[dict[str, float]]] = {level: [] for level in levels}
    for repeat in range(args.repeats):
        order = levels if repeat % 2 == 0 else tuple(reversed(levels))
        for level in order:
            before = load_average()
            marks = run_child(child_level[level], pristine, work, args.child_timeout)
            figures = resume_figures(level, marks)
            figures["load_1min_before"] = before[0] if before else float("nan")
            runs[level].append(figures)
            print(
                f"  repeat {repeat} {level:<7}: first token {figures['to_first_token']:.2f} s, "
                f"model load {figures['model_load']:.2f} s, "
                f"without it {figures['to_first_token_without_model_load']:.2f} s"
            )
    warm = [warm_resume(engine, pristine) for _ in range(args.repeats + 1)][1:]
    results["warm_in_process"] = {
        "runs": warm,
        "median": {k: median([w[k] for w in warm]) for k in warm[0]},
    }
    print(f"  warm, in this process: {results['warm_in_process']['median']}")
    for level in levels:
        keys = runs[level][0].keys()
        results[level] = {
            "runs": runs[level],
            "median": {k: median([r[k] for r in runs[level]]) for k in keys},
        }
    return results


# -- output ---------------------------------------------------------------------------------


def print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=110)
    if "write" in report:
        w = report["write"]
        table = Table(
            title=(
                f"Checkpoint write per round ({w['rounds']} rounds x {w['repeats']} repeats, "
                f"median round wall {w['round_wall_seconds_median']:.2f} s)"
            )
        )
        for column in ("store", "object KB", "parquet ms", "store ms", "save_round ms"):
            table.add_column(column, justify="right")
        table.add_column("share of round", justify="right")
        table.add_column("target", justify="right")
        for name, target in (("local", 0.02), ("s3", 0.05)):
            f = w[name]
            table.add_row(
                "local folder" if name == "local" else "moto S3",
                f"{f['bytes_median'] / 1024:.1f}",
                f"{f['serialize_ms_median']:.2f}",
                f"{f['store_ms_median']:.2f}",
                f"{f['save_round_ms_median']:.2f}",
                f"{100 * f['share_ratio_of_medians']:.3f}% "
                f"(per round {100 * f['share_of_round_median']:.3f}%)",
                f"<= {100 * target:.0f}%",
            )
        console.print(table)
    if "resume" in report:
        r = report["resume"]
        table = Table(
            title=(
                f"Resume of a {r['run']['problems']}-problem run, fresh process to first "
                f"new token (median of {r['repeats']}, seconds)"
            )
        )
        table.add_column("span")
        table.add_column("library", justify="right")
        table.add_column("leap resume", justify="right")
        keys: list[str] = []
        for level in ("library", "cli"):
            keys += [k for k in r[level]["median"] if k not in keys]
        for key in keys:
            cells = []
            for level in ("library", "cli"):
                value = r[level]["median"].get(key)
                cells.append("" if value is None else f"{value:.2f}")
            table.add_row(key.replace("_", " "), *cells)
        console.print(table)
        warm = r["warm_in_process"]["median"]
        console.print(
            "same library steps in a warm process (model loaded, kernels used before): "
            f"{warm['to_first_token']:.2f} s to the first token, of which listing and rebuild "
            f"{warm['listing_and_rebuild']:.2f} s, prefill {warm['prefill_to_first_token']:.2f} s"
        )
        console.print("target: <= 5 s to the first new token, model load excluded")


def machine_info(engine: Any) -> dict[str, Any]:
    import torch

    try:
        from importlib.metadata import version

        prefect_version = version("prefect")
    except Exception:  # noqa: BLE001 - only for the record
        prefect_version = "unknown"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "dtype": str(engine.dtype).removeprefix("torch."),
        "python": platform.python_version(),
        "prefect": prefect_version,
        "platform": platform.platform(),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--repeats", type=int, default=3, help="resume runs per level (3)")
    parser.add_argument("--write-repeats", type=int, default=7, help="writes per record (7)")
    parser.add_argument("--write-problems", type=int, default=3, help="smoke problems (3)")
    parser.add_argument("--resume-problems", type=int, default=30, help="problems in the run")
    parser.add_argument(
        "--resume-store",
        type=Path,
        default=None,
        help=f"resume the run {RUN_ID!r} stored in this folder instead of building one",
    )
    parser.add_argument("--only", choices=["write", "resume"], default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="first wait up to this long for the 1-minute load average to drop (900)",
    )
    parser.add_argument("--quiet-load", type=float, default=1.2, help="threshold (1.2)")
    parser.add_argument("--child-timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 1)
        args.write_repeats = min(args.write_repeats, 2)
        args.write_problems = min(args.write_problems, 1)
        args.resume_problems = min(args.resume_problems, 4)
        args.wait_quiet = 0.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="leap-checkpoint-bench-"))
    set_environment(work / "prefect-home")
    sys.path.insert(0, str(ROOT))
    command = " ".join(["python", "bench/checkpoint.py", *sys.argv[1:]])
    quiet = wait_for_quiet(args.wait_quiet, args.quiet_load)
    print(f"load average {quiet['load']} after waiting {quiet['waited_seconds']} s")

    from leap.engines.transformers.engine import TransformersEngine

    started = time.perf_counter()
    engine = TransformersEngine()
    load_seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "command": command,
        "machine": machine_info(engine) | {"model_load_seconds_in_parent": load_seconds},
        "quiet_wait": quiet,
        "load_average_before": quiet["load"],
    }
    sections: list[tuple[str, Callable[[argparse.Namespace, Any, Path], dict[str, Any]]]] = [
        ("write", write_benchmark),
        ("resume", resume_benchmark),
    ]
    try:
        for name, measure in sections:
            if args.only in (None, name):
                report[f"load_average_before_{name}"] = load_average()
                report[name] = measure(args, engine, work)
                report[f"load_average_after_{name}"] = load_average()
    finally:
        report["load_average_after"] = load_average()
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {json.dumps(report['machine'])}")
    print(
        f"load average before {report['load_average_before']}, after {report['load_average_after']}"
    )
    print_tables(report)
    if args.json is not None:
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD_FLAG:
        raise SystemExit(child_main(sys.argv[2:]))
    raise SystemExit(main())
