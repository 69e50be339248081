"""A round of a peer group continued from the engine's KV cache against a full re-prefill.

The peer group runs its first rounds, then the next round's generation requests are
timed as the run does them (cache kept, only the injected tokens computed) and again and
again in pairs: from the same cached prefixes rebuilt by a one-token primer call, and
after `engine.reset_cache()` (the whole context prefilled again). Used by `overhead.py`
(`--only kv`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from harness import Call, MeteredEngine, QuietPolicy, console, cpu_mark, foreign_cores, median
from rich.table import Table

from leap.algorithm.config import LeapConfig
from leap.algorithm.seeds import derive_seed
from leap.benchmarks import Problem
from leap.engines.base import GenerationRequest
from leap.methods.peers import PeerGroup


@dataclass
class KvFigures:
    variant: str  # "reuse" (cache kept) or "re-prefill" (after engine.reset_cache())
    repeat: int
    seconds: float
    prefill_seconds: float
    prompt_computed: int
    prompt_reused: int
    generated: int
    foreign_cores: float
    cpu_seconds: float


def run_kv(
    meter: MeteredEngine,
    problem: Problem,
    config: LeapConfig,
    repeats: int,
    rounds_before: int,
    quiet: QuietPolicy,
) -> tuple[list[KvFigures], dict[str, Any]]:
    """Run `rounds_before` rounds of a peer group, then time the next round's generation."""
    meter.reset_cache()
    meter.take_calls()
    prefix = f"kv/{problem.id}"
    group = PeerGroup(meter, config, problem, cache_prefix=prefix)
    if group.run(max_rounds=rounds_before) is not None or group.done:
        raise SystemExit("the peer group finished before the measured round: raise max_tokens")
    r = group.next_round
    requests = [
        GenerationRequest(
            prompt_ids=list(path.tokens),
            max_new_tokens=min(config.tokens_per_round, config.max_tokens - path.reasoning_tokens),
            seed=derive_seed(config.seed, problem.id, path.index, r, "reason"),
            sampling=config.sampling,
            stop=(config.think_end,),
            cache_key=f"{prefix}/path-{path.index}",
            ignore_eos=True,
        )
        for path in group.paths
        if not path.finished
    ]
    meter.take_calls()

    def timed(variant: str, repeat: int) -> tuple[KvFigures, Call]:
        meter.label = f"kv-{variant}"
        mark = cpu_mark()
        try:
            meter.generate(requests)
        finally:
            meter.label = None
        end = cpu_mark()
        (call,) = meter.take_calls()
        measured = KvFigures(
            variant=variant,
            repeat=repeat,
            seconds=call.seconds,
            prefill_seconds=call.prefill_seconds,
            prompt_computed=call.prompt_computed,
            prompt_reused=call.prompt_reused,
            generated=call.generated,
            foreign_cores=foreign_cores(mark, end),
            cpu_seconds=end.process - mark.process,
        )
        return measured, call

    # The round as the run itself would do it, straight after the previous round.
    in_run, in_run_call = timed("reuse (in run)", -1)
    # To repeat it, rebuild exactly the cache the run had: each path's reused prefix,
    # prefilled by a one-token call (the sampled token is not fed back, so the cache then
    # holds the prefix and nothing more).
    hits = [result.prompt_tokens_reused for result in in_run_call.results]
    cached = [list(req.prompt_ids[:n]) for req, n in zip(requests, hits, strict=True)]
    primers = [
        replace(req, prompt_ids=ids, max_new_tokens=1)
        for req, ids in zip(requests, cached, strict=True)
    ]
    figures: list[KvFigures] = []
    for repeat in range(repeats):
        order = ("reuse", "re-prefill") if repeat % 2 == 0 else ("re-prefill", "reuse")
        quiet.wait()
        for variant in order:
            meter.reset_cache()
            if variant == "reuse":
                meter.label = "kv-primer"
                try:
                    meter.generate(primers)
                finally:
                    meter.label = None
                meter.take_calls()
            figures.append(timed(variant, repeat)[0])
            console.print(
                f"kv repeat {repeat} {variant:<10} {figures[-1].seconds:6.2f} s "
                f"(cpu {figures[-1].cpu_seconds:6.2f} s)  "
                f"other processes {figures[-1].foreign_cores:.2f} cores"
            )
    meter.reset_cache()
    context = {
        "problem": problem.id,
        "rounds_before": rounds_before,
        "paths": len(requests),
        "context_tokens_per_path": [len(r.prompt_ids) for r in requests],
        "cached_tokens_per_path": [len(c) for c in cached],
        "in_run": asdict(in_run),
    }
    return figures, context


def print_kv(figures: list[KvFigures], context: dict[str, Any], below: float) -> dict[str, Any]:
    """Print the table and ratios; return them for the JSON report."""
    table = Table(
        title=(
            f"Round {context['rounds_before'] + 1} generation of {context['paths']} paths "
            f"(context {min(context['context_tokens_per_path'])}-"
            f"{max(context['context_tokens_per_path'])} tokens per path)"
        )
    )
    columns = ("variant", "repeats", "wall s (median)", "prefill s", "computed", "reused", "other")
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    summary: dict[str, Any] = {"context": context}
    for name in ("reuse", "re-prefill"):
        rows = [f for f in figures if f.variant == name]
        entry = {
            "seconds_median": median([f.seconds for f in rows]),
            "seconds": [f.seconds for f in rows],
            "prefill_seconds_median": median([f.prefill_seconds for f in rows]),
            "prompt_computed": rows[0].prompt_computed,
            "prompt_reused": rows[0].prompt_reused,
            "generated": rows[0].generated,
            "other_processes_cores_median": median([f.foreign_cores for f in rows]),
            "cpu_seconds_median": median([f.cpu_seconds for f in rows]),
        }
        summary[name] = entry
        table.add_row(
            name,
            str(len(rows)),
            f"{entry['seconds_median']:.2f}",
            f"{entry['prefill_seconds_median']:.2f}",
            str(entry["prompt_computed"]),
            str(entry["prompt_reused"]),
            f"{entry['other_processes_cores_median']:.2f} cores",
        )
    in_run = context["in_run"]
    table.add_row(
        "reuse (in run, once)",
        "1",
        f"{in_run['seconds']:.2f}",
        f"{in_run['prefill_seconds']:.2f}",
        str(in_run["prompt_computed"]),
        str(in_run["prompt_reused"]),
        f"{in_run['foreign_cores']:.2f} cores",
    )
    console.print(table)
    ratio = summary["re-prefill"]["seconds_median"] / summary["reuse"]["seconds_median"]
    reuse = [f for f in figures if f.variant == "reuse"]
    again = [f for f in figures if f.variant == "re-prefill"]
    paired = [
        b.seconds / a.seconds
        for a, b in zip(reuse, again, strict=True)
        if max(a.foreign_cores, b.foreign_cores) < below
    ]
    summary["ratio_reprefill_over_reuse"] = ratio
    cpu_ratio = summary["re-prefill"]["cpu_seconds_median"] / summary["reuse"]["cpu_seconds_median"]
    summary["cpu_ratio_reprefill_over_reuse"] = cpu_ratio
    summary["quiet_pair_ratio_median"] = median(paired)
    summary["quiet_pairs"] = len(paired)
    console.print(
        f"round wall ratio re-prefill / reuse, ratio of medians: [bold]{ratio:.3f}[/bold]; "
        f"median over {len(paired)} quiet pairs: {median(paired):.3f}; "
        f"CPU-time ratio {cpu_ratio:.3f}"
    )
    return summary
