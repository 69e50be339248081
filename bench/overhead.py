"""How much LeaP costs over independent sampling, and what KV reuse saves, on the CPU engine.

Two measurements, each run side by side in one process so both variants see the same
machine load: every problem (or round) is measured with both variants back to back, the
order of the two flips from one repeat to the next, and the figures are medians over the
repeats. The CPU time other processes used during each measurement is recorded, so pairs
measured while the machine was busy can be told apart (`--wait-quiet` waits for a calm
moment before each pair):

1. overhead (`overhead_runs.py`): LeaP (N paths, T tokens per round, summaries, top-k
   routing) against independent sampling of EXACTLY the same number of generated tokens
   per path. EOS is ignored on every request (the metered engine sets `ignore_eos` on the
   requests it forwards), so no path stops early; the independent baseline is then one
   `engine.generate` call per problem whose per-path budget is that path's LeaP total
   (reasoning + summary + answer tokens). `--masked-baseline` adds `independent-masked`,
   the same with one masked cache slot per row (the engine now passes its own mask on
   every step, so this should match plain `independent`).
2. kv (`kv_reuse.py`): the third round's generation of a peer group, continued from the
   engine's cache (only the injected tokens are computed) against the same requests after
   `engine.reset_cache()` (the whole context is prefilled again).

This is a measuring script, not a test: it asserts nothing about speed. Run it with
`LEAP_HOME` pointing at the converted default model and `HF_HUB_OFFLINE=1`, e.g.

    .venv/bin/python bench/overhead.py --wait-quiet 600 --json /tmp/overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import (
    MeteredEngine,
    QuietPolicy,
    add_quiet_options,
    console,
    load_average,
    machine_info,
    median,
    quiet_policy,
    write_json,
)
from kv_reuse import print_kv, run_kv
from overhead_runs import Pair, RunFigures, overhead
from rich.table import Table

from leap.algorithm.config import LeapConfig
from leap.benchmarks import load_benchmark
from leap.engines.base import GenerationRequest
from leap.engines.transformers.engine import TransformersEngine


def print_overhead(
    runs: list[RunFigures],
    pairs: list[Pair],
    config: LeapConfig,
    problems: int,
    quiet: QuietPolicy,
) -> dict[str, Any]:
    variants = list(dict.fromkeys(r.variant for r in runs))
    by_variant = {v: [r for r in runs if r.variant == v] for v in variants}
    leap = by_variant["leap"]
    table = Table(
        title=(
            f"LeaP vs independent at equal tokens: {problems} problems, N={config.n_paths}, "
            f"T={config.tokens_per_round}, max_tokens={config.max_tokens}, "
            f"summary {config.summary_max_tokens}, k={config.top_k} {config.router}, "
            f"answer {config.answer_max_tokens}"
        )
    )
    columns = ("variant", "repeats", "wall s", "cpu s", "generated tokens", "tokens/s", "other")
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    summary: dict[str, Any] = {}
    for name, rows in by_variant.items():
        wall = median([r.wall_seconds for r in rows])
        tokens = sorted({r.generated_tokens for r in rows})
        tps = median([r.tokens_per_second for r in rows])
        other = median([r.foreign_cores for r in rows])
        cpu = median([r.cpu_seconds for r in rows])
        table.add_row(
            name,
            str(len(rows)),
            f"{wall:.1f}",
            f"{cpu:.1f}",
            "/".join(map(str, tokens)),
            f"{tps:.1f}",
            f"{other:.2f} cores",
        )
        summary[name] = {
            "wall_seconds_median": wall,
            "wall_seconds": [r.wall_seconds for r in rows],
            "cpu_seconds_median": cpu,
            "cpu_seconds": [r.cpu_seconds for r in rows],
            "generated_tokens": tokens,
            "tokens_per_second_median": tps,
            "prompt_computed": median([r.prompt_computed for r in rows]),
            "prompt_reused": median([r.prompt_reused for r in rows]),
            "other_processes_cores_median": other,
        }
    console.print(table)
    console.print("(medians over repeats; 'other' = CPU used by other processes meanwhile)")
    quiet_pairs = [p for p in pairs if p.quiet(quiet.below)]
    ratios: dict[str, dict[str, Any]] = {}
    for baseline in variants[1:]:
        rows = by_variant[baseline]
        entry = {
            "wall_ratio_of_medians": summary["leap"]["wall_seconds_median"]
            / summary[baseline]["wall_seconds_median"],
            "wall_ratio_per_repeat": [
                a.wall_seconds / b.wall_seconds for a, b in zip(leap, rows, strict=True)
            ],
            "pair_ratio_median": median([p.ratio(baseline) for p in pairs]),
            "quiet_pair_ratio_median": median([p.ratio(baseline) for p in quiet_pairs]),
            "cpu_ratio_of_medians": summary["leap"]["cpu_seconds_median"]
            / summary[baseline]["cpu_seconds_median"],
            "pair_cpu_ratio_median": median([p.cpu_ratio(baseline) for p in pairs]),
            "equal_tokens_per_path": all(
                a.tokens_per_path == b.tokens_per_path for a, b in zip(leap, rows, strict=True)
            ),
        }
        ratios[baseline] = entry
        console.print(
            f"LeaP / {baseline}: wall ratio of medians [bold]{entry['wall_ratio_of_medians']:.3f}"
            f"[/bold] (target <= 1.10); per repeat "
            f"{', '.join(f'{x:.3f}' for x in entry['wall_ratio_per_repeat'])}; per problem pair "
            f"median {entry['pair_ratio_median']:.3f} ({len(pairs)} pairs), "
            f"{entry['quiet_pair_ratio_median']:.3f} over {len(quiet_pairs)} quiet pairs; "
            f"CPU-time ratio {entry['cpu_ratio_of_medians']:.3f} (pairs "
            f"{entry['pair_cpu_ratio_median']:.3f}); equal tokens per path: "
            f"{entry['equal_tokens_per_path']}"
        )

    split = Table(title="Where the wall time goes (medians over repeats, seconds)")
    split.add_column("part")
    for name in variants:
        split.add_column(name, justify="right")
    split_summary: dict[str, dict[str, float]] = {}
    for key in sorted({k for r in runs for k in r.split}):
        values = {v: median([r.split.get(key, 0.0) for r in by_variant[v]]) for v in variants}
        split_summary[key] = values
        split.add_row(key, *(f"{values[v]:.2f}" for v in variants))
    console.print(split)

    rounds = Table(title="LeaP time by the RoundRecord / FinalRecord timings (medians, s)")
    rounds.add_column("part")
    rounds.add_column("seconds", justify="right")
    round_summary = {}
    for key in leap[0].round_timings:
        value = median([r.round_timings[key] for r in leap])
        round_summary[key] = value
        rounds.add_row(key, f"{value:.2f}")
    console.print(rounds)
    console.print(
        "prompt tokens over one LeaP run: computed "
        f"{summary['leap']['prompt_computed']:.0f}, reused {summary['leap']['prompt_reused']:.0f}"
        f"; independent: computed {summary['independent']['prompt_computed']:.0f}"
    )
    summary.update(
        ratios=ratios,
        quiet_pairs=len(quiet_pairs),
        pairs=[asdict(p) for p in pairs],
        split_medians=split_summary,
        leap_round_timings_medians=round_summary,
    )
    return summary


def build_config(args: argparse.Namespace) -> LeapConfig:
    if args.quick:
        return LeapConfig(
            method="leap",
            n_paths=2,
            tokens_per_round=16,
            max_tokens=48,
            summary_max_tokens=8,
            answer_max_tokens=8,
            top_k=1,
            router="dispersed",
            seed=args.seed,
        )
    return LeapConfig(
        method="leap",
        n_paths=4,
        tokens_per_round=args.tokens_per_round,
        max_tokens=args.tokens_per_round * args.rounds,
        summary_max_tokens=args.summary_tokens,
        answer_max_tokens=args.answer_tokens,
        top_k=args.top_k,
        router="dispersed",
        seed=args.seed,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=4, help="smoke problems (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each variant")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (all cores)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--only", choices=["overhead", "kv"], default=None, help="run one benchmark only"
    )
    parser.add_argument(
        "--answer-tokens", type=int, default=64, help="final-answer budget per path (default 64)"
    )
    add_quiet_options(parser)
    parser.add_argument(
        "--tokens-per-round", type=int, default=256, help="T, reasoning tokens per round (256)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; max_tokens = T x rounds")
    parser.add_argument("--summary-tokens", type=int, default=128, help="summary budget (128)")
    parser.add_argument("--top-k", type=int, default=2, help="peer summaries per path (2)")
    parser.add_argument(
        "--masked-baseline",
        action="store_true",
        help="also run independent sampling with one masked cache slot per row",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.problems = min(args.problems, 2)
        args.repeats = min(args.repeats, 2)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = load_average()
    engine = TransformersEngine(dtype=args.dtype, threads=args.threads)
    meter = MeteredEngine(engine, ignore_eos=True)
    config = build_config(args)
    quiet = quiet_policy(args)
    problems = load_benchmark("smoke")[: args.problems]
    info = machine_info(engine)
    info["load_average_before"] = load_before
    console.print(f"machine: {json.dumps(info)}")
    console.print(f"command: {' '.join(['python', *sys.argv])}")

    # Warm-up: first calls allocate buffers and pick kernels; keep that out of the figures.
    warm = [
        GenerationRequest(prompt_ids=meter.encode("Count: 1, 2, 3,"), max_new_tokens=8, seed=i)
        for i in range(config.n_paths)
    ]
    meter.generate(warm)
    meter.reset_cache()
    meter.take_calls()

    report: dict[str, Any] = {
        "machine": info,
        "argv": sys.argv[1:],
        "config": json.loads(config.model_dump_json()),
        "problems": [p.id for p in problems],
        "repeats": args.repeats,
        "ignore_eos": True,
    }
    started = time.perf_counter()
    if args.only in (None, "overhead"):

        def save_partial(runs: list[RunFigures], pairs: list[Pair]) -> None:
            if args.json is not None:
                report["overhead_partial"] = {
                    "runs": [asdict(r) for r in runs],
                    "pairs": [asdict(p) for p in pairs],
                }
                write_json(args.json, report)

        baselines = ("independent", "independent-masked") if args.masked_baseline else None
        runs, pairs = overhead(
            meter,
            problems,
            config,
            args.repeats,
            quiet,
            save_partial,
            baselines=baselines or ("independent",),
        )
        report.pop("overhead_partial", None)
        report["overhead"] = print_overhead(runs, pairs, config, len(problems), quiet)
        report["overhead"]["runs"] = [asdict(r) for r in runs]
        if args.json is not None:
            write_json(args.json, report)
    if args.only in (None, "kv"):
        rounds_before = max(1, config.max_tokens // config.tokens_per_round - 1)
        figures, context = run_kv(meter, problems[0], config, args.repeats, rounds_before, quiet)
        report["kv"] = print_kv(figures, context, quiet.below)
        report["kv"]["runs"] = [asdict(f) for f in figures]
    info["load_average_after"] = load_average()
    report["total_seconds"] = time.perf_counter() - started
    console.print(
        f"load average before {load_before}, after {info['load_average_after']}; "
        f"total {report['total_seconds']:.0f} s"
    )
    if args.json is not None:
        write_json(args.json, report)
        console.print(f"figures written to {args.json}")
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
