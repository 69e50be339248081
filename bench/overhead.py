"""How much LeaP costs over independent sampling, and what KV reuse saves, on the CPU engine.

Two measurements, each run side by side in one process so both variants see the same
machine load (the variants alternate from one repeat to the next, and the figures are
medians over the repeats):

1. overhead: LeaP (N paths, T tokens per round, summaries, top-k routing) against
   independent sampling of EXACTLY the same number of generated tokens per path. EOS is
   ignored on every request (PeerGroup has no switch for it, so a thin engine wrapper sets
   `ignore_eos` on the requests it forwards), so no path stops early; the independent
   baseline is then one `engine.generate` call per problem whose per-path budget is that
   path's LeaP total (reasoning + summary + answer tokens).
2. kv: the third round's generation of a peer group, continued from the engine's cache
   (only the injected tokens are computed) against the same requests after
   `engine.close()` (the whole context is prefilled again).

This is a measuring script, not a test: it asserts nothing about speed. Run it with
`LEAP_HOME` pointing at the converted default model and `HF_HUB_OFFLINE=1`, e.g.

    .venv/bin/python bench/overhead.py --json bench/overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from leap import prompts
from leap.benchmarks import Problem, load_benchmark
from leap.config import LeapConfig, Sampling
from leap.engines.base import GenerationRequest, GenerationResult
from leap.engines.transformers_engine import TransformersEngine
from leap.peers import PeerGroup
from leap.records import RoundRecord
from leap.seeds import derive_seed

console = Console()


# -- a metering wrapper around the engine ----------------------------------------------------


@dataclass
class CallStat:
    """One `generate` call as the engine saw it."""

    phase: str  # reasoning | summary | answer | independent | kv-...
    rows: int
    seconds: float
    prefill_seconds: float
    prompt_computed: int
    prompt_reused: int
    generated: int

    @property
    def prompt_only(self) -> bool:
        """True when nothing came from the cache: the prefill is the problem prompt."""
        return self.prompt_reused == 0


class MeteredEngine:
    """Forwards to a TransformersEngine, times each call and its prefill, may ignore EOS.

    The prefill time comes from wrapping the engine's `_feed_prompts` on this instance
    only (a measuring hook; no library code changes). Without that method the prefill
    share is reported as zero.
    """

    def __init__(self, engine: TransformersEngine, *, ignore_eos: bool) -> None:
        self.inner = engine
        self.name = engine.name
        self.eos_token_ids = engine.eos_token_ids
        self.ignore_eos = ignore_eos
        self.calls: list[CallStat] = []
        self.last_results: list[GenerationResult] = []
        self.label: str | None = None  # overrides the phase guessed from the request
        self._prefill_seconds = 0.0
        feed = getattr(engine, "_feed_prompts", None)
        if callable(feed):

            def timed_feed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return feed(*args, **kwargs)
                finally:
                    self._prefill_seconds += time.perf_counter() - started

            engine._feed_prompts = timed_feed  # type: ignore[method-assign]

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.inner.decode(token_ids)

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return self.inner.chat_prompt(messages)

    def close(self) -> None:
        self.inner.close()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if self.ignore_eos:
            requests = [replace(r, ignore_eos=True) for r in requests]
        phase = self.label or _phase_of(requests)
        self._prefill_seconds = 0.0
        started = time.perf_counter()
        results = self.inner.generate(requests)
        seconds = time.perf_counter() - started
        self.last_results = results
        self.calls.append(
            CallStat(
                phase=phase,
                rows=len(requests),
                seconds=seconds,
                prefill_seconds=self._prefill_seconds,
                prompt_computed=sum(r.prompt_tokens_computed for r in results),
                prompt_reused=sum(r.prompt_tokens_reused for r in results),
                generated=sum(len(r.token_ids) for r in results),
            )
        )
        return results

    def take_calls(self) -> list[CallStat]:
        calls, self.calls = self.calls, []
        return calls


def _phase_of(requests: Sequence[GenerationRequest]) -> str:
    stops = {s for r in requests for s in r.stop}
    if prompts.SUMMARY_CLOSE in stops:
        return "summary"
    if stops:  # the think-end marker (and <summarize> for leap-t) end reasoning rounds
        return "reasoning"
    return "answer"


# -- figures of one variant run ------------------------------------------------------------


@dataclass
class RunFigures:
    """One pass over all problems with one variant."""

    variant: str
    repeat: int
    wall_seconds: float
    generated_tokens: int
    tokens_per_path: dict[str, list[int]]
    prompt_computed: int
    prompt_reused: int
    engine_seconds: float
    split: dict[str, float]  # where the wall time went, seconds
    round_timings: dict[str, float] = field(default_factory=dict)  # from the RoundRecords

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.wall_seconds if self.wall_seconds else 0.0


def _split_calls(calls: Sequence[CallStat], wall: float) -> dict[str, float]:
    split: dict[str, float] = {}

    def add(key: str, seconds: float) -> None:
        split[key] = split.get(key, 0.0) + seconds

    for call in calls:
        decode_phase = "reasoning" if call.phase == "independent" else call.phase
        add(f"decode: {decode_phase}", call.seconds - call.prefill_seconds)
        if call.prompt_only:
            add("prefill: problem prompt", call.prefill_seconds)
        else:
            add(f"prefill: injected ({call.phase})", call.prefill_seconds)
    add("outside the engine", wall - sum(c.seconds for c in calls))
    return split


def run_leap(
    meter: MeteredEngine, problems: Sequence[Problem], config: LeapConfig, repeat: int
) -> RunFigures:
    """Solve the problems one after another, one PeerGroup each."""
    meter.close()
    meter.take_calls()
    per_path: dict[str, list[int]] = {}
    computed = reused = 0
    timings = {"round generate": 0.0, "round summary+routing": 0.0, "final answers": 0.0}
    started = time.perf_counter()
    for problem in problems:
        rounds: list[RoundRecord] = []
        group = PeerGroup(meter, config, problem, cache_prefix=f"leap-{repeat}/{problem.id}")
        final = group.run(on_round=rounds.append)
        assert final is not None
        reasoning = [0] * config.n_paths
        summary = [0] * config.n_paths
        for record in rounds:
            timings["round generate"] += record.generate_seconds
            timings["round summary+routing"] += record.summary_seconds
            for row in record.paths:
                reasoning[row.path] = row.reasoning_tokens
                summary[row.path] = row.summary_tokens
                computed += row.prompt_computed
                reused += row.prompt_reused
        timings["final answers"] += final.wall_seconds
        totals = [0] * config.n_paths
        for answer in final.answers:
            totals[answer.path] = reasoning[answer.path] + summary[answer.path]
            totals[answer.path] += answer.answer_tokens
            computed += answer.prompt_computed
            reused += answer.prompt_reused
        per_path[problem.id] = totals
    wall = time.perf_counter() - started
    calls = meter.take_calls()
    timings["other (group setup, records)"] = wall - sum(timings.values())
    generated = sum(sum(t) for t in per_path.values())
    metered = sum(c.generated for c in calls)
    if metered != generated:
        console.print(
            f"[yellow]note: the records count {generated} generated tokens, the engine "
            f"returned {metered}[/yellow]"
        )
    return RunFigures(
        variant="leap",
        repeat=repeat,
        wall_seconds=wall,
        generated_tokens=generated,
        tokens_per_path=per_path,
        prompt_computed=computed,
        prompt_reused=reused,
        engine_seconds=sum(c.seconds for c in calls),
        split=_split_calls(calls, wall),
        round_timings=timings,
    )


def run_independent(
    meter: MeteredEngine,
    problems: Sequence[Problem],
    config: LeapConfig,
    budgets: dict[str, list[int]],
    repeat: int,
) -> RunFigures:
    """Plain sampling: per problem one call, each path generating exactly its budget."""
    meter.close()
    meter.take_calls()
    per_path: dict[str, list[int]] = {}
    meter.label = "independent"
    started = time.perf_counter()
    try:
        for problem in problems:
            text = prompts.task_text(problem, mention_peers=False)
            prompt = meter.chat_prompt([{"role": "user", "content": text}])
            requests = [
                GenerationRequest(
                    prompt_ids=prompt,
                    max_new_tokens=budget,
                    seed=derive_seed(config.seed, problem.id, path, 0, "independent"),
                    sampling=config.sampling.params(),
                    cache_key=f"independent-{repeat}/{problem.id}/path-{path}",
                    ignore_eos=True,
                )
                for path, budget in enumerate(budgets[problem.id])
            ]
            results = meter.generate(requests)
            per_path[problem.id] = [len(r.token_ids) for r in results]
    finally:
        meter.label = None
    wall = time.perf_counter() - started
    calls = meter.take_calls()
    return RunFigures(
        variant="independent",
        repeat=repeat,
        wall_seconds=wall,
        generated_tokens=sum(sum(t) for t in per_path.values()),
        tokens_per_path=per_path,
        prompt_computed=sum(c.prompt_computed for c in calls),
        prompt_reused=sum(c.prompt_reused for c in calls),
        engine_seconds=sum(c.seconds for c in calls),
        split=_split_calls(calls, wall),
    )


# -- benchmark 2: a round with KV reuse against a full re-prefill ---------------------------


@dataclass
class KvFigures:
    variant: str  # "reuse" (cache kept) or "re-prefill" (after engine.close())
    repeat: int
    seconds: float
    prefill_seconds: float
    prompt_computed: int
    prompt_reused: int
    generated: int


def run_kv(
    meter: MeteredEngine, problem: Problem, config: LeapConfig, repeats: int, rounds_before: int
) -> tuple[list[KvFigures], dict[str, Any]]:
    """Run `rounds_before` rounds of a peer group, then time the next round's generation."""
    meter.close()
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
            sampling=config.sampling.params(),
            stop=(config.think_end,),
            cache_key=f"{prefix}/path-{path.index}",
            ignore_eos=True,
        )
        for path in group.paths
        if not path.finished
    ]
    meter.take_calls()

    def timed(variant: str, repeat: int) -> KvFigures:
        meter.label = f"kv-{variant}"
        try:
            meter.generate(requests)
        finally:
            meter.label = None
        (call,) = meter.take_calls()
        return KvFigures(
            variant=variant,
            repeat=repeat,
            seconds=call.seconds,
            prefill_seconds=call.prefill_seconds,
            prompt_computed=call.prompt_computed,
            prompt_reused=call.prompt_reused,
            generated=call.generated,
        )

    # The round as the run itself would do it, straight after the previous round.
    in_run = timed("reuse (in run)", -1)
    # To repeat it, rebuild exactly the cache the run had: each path's reused prefix,
    # prefilled by a one-token call (the sampled token is not fed back, so the cache then
    # holds the prefix and nothing more).
    hits = [result.prompt_tokens_reused for result in meter.last_results]
    cached = [list(req.prompt_ids[:n]) for req, n in zip(requests, hits, strict=True)]
    primers = [
        replace(req, prompt_ids=ids, max_new_tokens=1)
        for req, ids in zip(requests, cached, strict=True)
    ]
    figures: list[KvFigures] = []
    for repeat in range(repeats):
        order = ("reuse", "re-prefill") if repeat % 2 == 0 else ("re-prefill", "reuse")
        for variant in order:
            meter.close()
            if variant == "reuse":
                meter.label = "kv-primer"
                try:
                    meter.generate(primers)
                finally:
                    meter.label = None
                meter.take_calls()
            figures.append(timed(variant, repeat))
    meter.close()
    context = {
        "problem": problem.id,
        "rounds_before": rounds_before,
        "paths": len(requests),
        "context_tokens_per_path": [len(r.prompt_ids) for r in requests],
        "cached_tokens_per_path": [len(c) for c in cached],
        "in_run": asdict(in_run),
    }
    return figures, context


# -- machine, statistics, printing ----------------------------------------------------------


def machine(engine: TransformersEngine) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import transformers

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "dtype": str(engine.dtype).removeprefix("torch."),
        "model": engine.model_name,
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def print_overhead(runs: list[RunFigures], config: LeapConfig, problems: int) -> dict[str, Any]:
    leap = [r for r in runs if r.variant == "leap"]
    indep = [r for r in runs if r.variant == "independent"]
    ratio = median([r.wall_seconds for r in leap]) / median([r.wall_seconds for r in indep])
    paired = [
        a.wall_seconds / b.wall_seconds
        for a in leap
        for b in indep
        if a.repeat == b.repeat and b.wall_seconds
    ]
    table = Table(
        title=(
            f"LeaP vs independent at equal tokens: {problems} problems, N={config.n_paths}, "
            f"T={config.tokens_per_round}, max_tokens={config.max_tokens}, "
            f"summary {config.summary_max_tokens}, k={config.top_k} {config.router}, "
            f"answer {config.answer_max_tokens}"
        )
    )
    for column in ("variant", "repeats", "wall s (median)", "generated tokens", "tokens/s"):
        table.add_column(column, justify="right" if column != "variant" else "left")
    summary: dict[str, Any] = {}
    for name, rows in (("leap", leap), ("independent", indep)):
        wall = median([r.wall_seconds for r in rows])
        tokens = sorted({r.generated_tokens for r in rows})
        tps = median([r.tokens_per_second for r in rows])
        table.add_row(name, str(len(rows)), f"{wall:.1f}", "/".join(map(str, tokens)), f"{tps:.1f}")
        summary[name] = {
            "wall_seconds_median": wall,
            "wall_seconds": [r.wall_seconds for r in rows],
            "generated_tokens": tokens,
            "tokens_per_second_median": tps,
            "prompt_computed": median([r.prompt_computed for r in rows]),
            "prompt_reused": median([r.prompt_reused for r in rows]),
        }
    console.print(table)
    console.print(
        f"wall ratio LeaP / independent (ratio of medians): [bold]{ratio:.3f}[/bold] "
        f"(target <= 1.10); per-repeat ratios: {', '.join(f'{p:.3f}' for p in paired)}"
    )
    equal = all(
        a.tokens_per_path == b.tokens_per_path for a in leap for b in indep if a.repeat == b.repeat
    )
    console.print(f"equal generated tokens per path in every repeat: {equal}")

    split = Table(title="Where the wall time goes (medians over repeats, seconds)")
    split.add_column("part")
    split.add_column("leap", justify="right")
    split.add_column("independent", justify="right")
    keys = sorted({k for r in runs for k in r.split})
    split_summary: dict[str, dict[str, float]] = {}
    for key in keys:
        lv = median([r.split.get(key, 0.0) for r in leap])
        iv = median([r.split.get(key, 0.0) for r in indep])
        split_summary[key] = {"leap": lv, "independent": iv}
        split.add_row(key, f"{lv:.2f}", f"{iv:.2f}")
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
        wall_ratio_of_medians=ratio,
        wall_ratio_per_repeat=paired,
        equal_tokens_per_path=equal,
        split_medians=split_summary,
        leap_round_timings_medians=round_summary,
    )
    return summary


def print_kv(figures: list[KvFigures], context: dict[str, Any]) -> dict[str, Any]:
    table = Table(
        title=(
            f"Round {context['rounds_before'] + 1} generation of {context['paths']} paths "
            f"(context {min(context['context_tokens_per_path'])}-"
            f"{max(context['context_tokens_per_path'])} tokens per path)"
        )
    )
    for column in ("variant", "repeats", "wall s (median)", "prefill s", "computed", "reused"):
        table.add_column(column, justify="right" if column != "variant" else "left")
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
        }
        summary[name] = entry
        table.add_row(
            name,
            str(len(rows)),
            f"{entry['seconds_median']:.2f}",
            f"{entry['prefill_seconds_median']:.2f}",
            str(entry["prompt_computed"]),
            str(entry["prompt_reused"]),
        )
    in_run = context["in_run"]
    table.add_row(
        "reuse (in run, once)",
        "1",
        f"{in_run['seconds']:.2f}",
        f"{in_run['prefill_seconds']:.2f}",
        str(in_run["prompt_computed"]),
        str(in_run["prompt_reused"]),
    )
    console.print(table)
    ratio = summary["re-prefill"]["seconds_median"] / summary["reuse"]["seconds_median"]
    summary["ratio_reprefill_over_reuse"] = ratio
    console.print(
        f"round wall ratio re-prefill / reuse (ratio of medians): [bold]{ratio:.3f}[/bold]"
    )
    return summary


# -- main -----------------------------------------------------------------------------------


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
            sampling=Sampling(),
            seed=args.seed,
        )
    return LeapConfig(
        method="leap",
        n_paths=4,
        tokens_per_round=256,
        max_tokens=768,
        summary_max_tokens=128,
        answer_max_tokens=args.answer_tokens,
        top_k=2,
        router="dispersed",
        sampling=Sampling(),
        seed=args.seed,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=4, help="smoke problems (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each variant")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--only", choices=["overhead", "kv"], default=None, help="run one benchmark only"
    )
    parser.add_argument(
        "--answer-tokens", type=int, default=64, help="final-answer budget per path (default 64)"
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
    engine = TransformersEngine(dtype=args.dtype)
    meter = MeteredEngine(engine, ignore_eos=True)
    config = build_config(args)
    problems = load_benchmark("smoke")[: args.problems]
    info = machine(engine)
    info["load_average_before"] = load_before
    console.print(f"machine: {json.dumps(info)}")
    console.print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    # Warm-up: first calls allocate buffers and pick kernels; keep that out of the figures.
    warm = [
        GenerationRequest(prompt_ids=meter.encode("Count: 1, 2, 3,"), max_new_tokens=8, seed=i)
        for i in range(config.n_paths)
    ]
    meter.generate(warm)
    meter.close()
    meter.take_calls()

    report: dict[str, Any] = {
        "machine": info,
        "config": json.loads(config.model_dump_json()),
        "problems": [p.id for p in problems],
        "repeats": args.repeats,
        "ignore_eos": True,
    }
    started = time.perf_counter()
    if args.only in (None, "overhead"):
        runs = overhead(meter, problems, config, args.repeats)
        report["overhead"] = print_overhead(runs, config, len(problems))
        report["overhead"]["runs"] = [asdict(r) for r in runs]
    if args.only in (None, "kv"):
        rounds_before = max(1, config.max_tokens // config.tokens_per_round - 1)
        figures, context = run_kv(meter, problems[0], config, args.repeats, rounds_before)
        report["kv"] = print_kv(figures, context)
        report["kv"]["runs"] = [asdict(f) for f in figures]
    info["load_average_after"] = load_average()
    report["total_seconds"] = time.perf_counter() - started
    console.print(
        f"load average before {load_before}, after {info['load_average_after']}; "
        f"total {report['total_seconds']:.0f} s"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"figures written to {args.json}")
    engine.close()
    return 0


def overhead(
    meter: MeteredEngine, problems: Sequence[Problem], config: LeapConfig, repeats: int
) -> list[RunFigures]:
    """Alternate the variants: LeaP first in even repeats, independent first in odd ones.

    The independent run uses the per-path totals of the latest LeaP run (repeat 0 starts
    with LeaP, so there is always one); LeaP is deterministic for fixed seeds, which the
    summary checks by comparing the totals of each repeat's pair.
    """
    runs: list[RunFigures] = []
    budgets: dict[str, list[int]] = {}
    for repeat in range(repeats):
        order = ("leap", "independent") if repeat % 2 == 0 else ("independent", "leap")
        for variant in order:
            if variant == "leap":
                figures = run_leap(meter, problems, config, repeat)
                budgets = figures.tokens_per_path
            else:
                figures = run_independent(meter, problems, config, budgets, repeat)
            runs.append(figures)
            console.print(
                f"repeat {repeat} {figures.variant:<11} {figures.wall_seconds:7.1f} s "
                f"{figures.generated_tokens:6d} tokens {figures.tokens_per_second:6.1f} tok/s "
                f"load {load_average()}"
            )
    return runs


if __name__ == "__main__":
    raise SystemExit(main())
