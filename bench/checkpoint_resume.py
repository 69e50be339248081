"""Resume: a stored run resumed in a FRESH Python process, timed to its first new token.

A run of 30 easy arithmetic problems (a JSON file read through `file:`), each with one or
two stored rounds and no final answers, is resumed by `resume_child.py` at two levels:
(a) library: list the progress of the problems, rebuild the first unfinished problem's
PeerGroup from its stored rounds, run its next round up to the first token; (b) the real
command, `leap resume RUN_ID --store DIR`, with Prefect's ephemeral API (since the head
start, `leap.runs.head_start`, the first token no longer waits for Prefect). Every repeat
starts from a fresh copy of the stored run, so all of them resume the same state. The
same library steps are also timed in this warm process. Used by `checkpoint.py`
(`--only resume`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import load_average, median
from resume_child import RUN_ID

CHILD = Path(__file__).resolve().with_name("resume_child.py")


def arithmetic_problems(count: int) -> list[dict[str, str]]:
    out = []
    for i in range(1, count + 1):
        a, b = 7 * i % 50 + 3, 11 * i % 40 + 2
        out.append({"id": f"q{i:02d}", "problem": f"What is {a} + {b}?", "answer": str(a + b)})
    return out


def build_resume_run(engine: Any, count: int, root: Path) -> tuple[Path, dict[str, Any]]:
    """A run of `count` problems, each with 1 or 2 stored rounds and no final answers."""
    from leap.algorithm.config import LeapConfig
    from leap.benchmarks import load_benchmark
    from leap.methods.peers import PeerGroup
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
    engine.reset_cache()
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
    command = [sys.executable, str(CHILD), level, str(marks_path), str(store)]
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
    from leap.methods.peers import PeerGroup
    from leap.runs import RunStore, load_run_problems

    engine.reset_cache()
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
        engine.reset_cache()
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
    for level in levels:  # one untimed run each: Prefect creates its database, caches warm
        marks = run_child(level, pristine, work, args.child_timeout)
        results[f"{level}_warmup"] = resume_figures(level, marks)
        print(f"  warm-up {level}: {results[f'{level}_warmup']['to_first_token']:.1f} s")
    runs: dict[str, list[dict[str, float]]] = {level: [] for level in levels}
    for repeat in range(args.repeats):
        order = levels if repeat % 2 == 0 else tuple(reversed(levels))
        for level in order:
            before = load_average()
            marks = run_child(level, pristine, work, args.child_timeout)
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
