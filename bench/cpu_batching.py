"""Continuous batching on the CPU: K problems at once on one transformers engine against
one problem at a time.

The first K (default 4) smoke problems, each solved by its own peer group
(`leap.methods.policy_for`, the CPU preset sizes of `leap.defaults`), on ONE transformers
engine (the default model, dtype `auto`: bfloat16 where the CPU has it):

- `one at a time`: the problems one after another, as `--concurrency 1` runs them;
- `K at once`: all K in K threads at once, as `--concurrency K` does; the engine batches
  the rows of every group's calls into one running batch.

The two variants alternate (A B A B ..., the order flipping every repeat, so a change in
the machine's load hits both alike); the figure is generated tokens (reasoning, summaries,
answers) over wall seconds, and the ratio of the two in each pair. EOS is ignored, as in
`concurrency.py`, so every path spends its whole budget and both variants do the same
work; the engine's caches are emptied before every measurement, after one warm-up.

    .venv/bin/python bench/cpu_batching.py --json /tmp/cpu-batching.json
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import asdict
from pathlib import Path

from harness import (
    MeteredEngine,
    QuietPolicy,
    add_quiet_options,
    console,
    cpu_mark,
    foreign_cores,
    machine_info,
    median,
    quiet_policy,
    write_json,
)

from leap.algorithm.config import LeapConfig
from leap.benchmarks.problem import Problem
from leap.benchmarks.smoke import generate_smoke
from leap.defaults import CPU_PRESET, DEFAULT_MODEL
from leap.engines.transformers.engine import TransformersEngine
from leap.methods import policy_for


def solve(
    engine: TransformersEngine,
    problems: list[Problem],
    config: LeapConfig,
    *,
    at_once: bool,
    tag: str,
) -> dict:
    """Solve `problems` one after another or all at once in threads; the figures."""
    engine.reset_cache()
    engine.peak_batch = 0
    passes = engine.forward_passes
    meter = MeteredEngine(engine, ignore_eos=True)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            policy_for(meter, config, problems[i], cache_prefix=f"{tag}/{i}").run()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    mark = cpu_mark()
    started = time.perf_counter()
    if at_once:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(problems))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for i in range(len(problems)):
            run(i)
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    generated = sum(call.generated for call in meter.calls)
    return {
        "wall_seconds": round(wall, 2),
        "generated_tokens": generated,
        "tokens_per_second": round(generated / wall, 1),
        "prompt_tokens_computed": sum(call.prompt_computed for call in meter.calls),
        "prompt_tokens_reused": sum(call.prompt_reused for call in meter.calls),
        "generate_calls": len(meter.calls),
        "forward_passes": engine.forward_passes - passes,
        "peak_batch": engine.peak_batch,
        "other_processes_cores": round(foreign_cores(mark, cpu_mark()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=4, help="K: smoke problems (and threads)")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of measurements")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--dtype", default="auto", choices=("auto", "bfloat16", "float32"))
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    add_quiet_options(parser)
    args = parser.parse_args()

    config = LeapConfig(**CPU_PRESET, seed=0)
    problems = generate_smoke(seed=0, count=args.problems)
    started = time.perf_counter()
    engine = TransformersEngine(args.model, dtype=args.dtype, threads=args.threads)
    figures: dict = {
        "machine": machine_info(engine),
        "engine_start_seconds": round(time.perf_counter() - started, 1),
        "config": config.model_dump(mode="json"),
        "problems": [p.id for p in problems],
        "pairs": [],
    }
    # Warm-up: the first calls of a fresh engine pay one-time costs (both variants' shapes).
    short = config.model_copy(update={"max_tokens": config.tokens_per_round, "n_paths": 2})
    solve(engine, problems[:2], short, at_once=True, tag="warm")
    policy: QuietPolicy = quiet_policy(args)
    k = len(problems)
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        pair: dict = {"repeat": repeat, "quiet": asdict(policy.wait())}
        for at_once in order:
            name = f"{k}_at_once" if at_once else "one_at_a_time"
            pair[name] = solve(engine, problems, config, at_once=at_once, tag=f"{name}-{repeat}")
            console.print(json.dumps({"repeat": repeat, "variant": name, **pair[name]}))
        pair["ratio"] = round(
            pair[f"{k}_at_once"]["tokens_per_second"] / pair["one_at_a_time"]["tokens_per_second"],
            3,
        )
        figures["pairs"].append(pair)
    engine.close()
    ratios = [p["ratio"] for p in figures["pairs"]]
    figures["median_ratio"] = median(ratios)
    figures["machine"]["load_average_end"] = machine_info()["load_average"]

    dtype = figures["machine"].get("dtype")
    console.print(
        f"\n{k} smoke problems, {config.n_paths} paths each, {dtype}, generated tokens/s:"
    )
    console.print(
        f"{'repeat':>6} {'one at a time':>14} {f'{k} at once':>12} {'ratio':>7} {'peak rows':>10}"
    )
    for p in figures["pairs"]:
        one, many = p["one_at_a_time"], p[f"{k}_at_once"]
        console.print(
            f"{p['repeat']:>6} {one['tokens_per_second']:>14.1f} {many['tokens_per_second']:>12.1f}"
            f" {p['ratio']:>7.2f} {many['peak_batch']:>10}"
        )
    console.print(f"median ratio ({k} at once / one at a time): {figures['median_ratio']:.2f}")
    if args.json:
        write_json(args.json, figures)


if __name__ == "__main__":
    main()
