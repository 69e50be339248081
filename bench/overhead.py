"""How much LeaP costs over independent sampling, and what KV reuse saves, on the CPU engine.

Two measurements, each run side by side in one process so both variants see the same
machine load: every problem (or round) is measured with both variants back to back, the
order of the two flips from one repeat to the next, and the figures are medians over the
repeats. The CPU time other processes used during each measurement is recorded, so pairs
measured while the machine was busy can be told apart (`--wait-quiet` waits for a calm
moment before each pair):

1. overhead: LeaP (N paths, T tokens per round, summaries, top-k routing) against
   independent sampling of EXACTLY the same number of generated tokens per path. EOS is
   ignored on every request (PeerGroup has no switch for it, so a thin engine wrapper sets
   `ignore_eos` on the requests it forwards), so no path stops early; the independent
   baseline is then one `engine.generate` call per problem whose per-path budget is that
   path's LeaP total (reasoning + summary + answer tokens). `--masked-baseline` adds
   `independent-masked`, the same with one masked cache slot per row (the engine now
   passes its own mask on every step, so this should match plain `independent`).
2. kv: the third round's generation of a peer group, continued from the engine's cache
   (only the injected tokens are computed) against the same requests after
   `engine.close()` (the whole context is prefilled again).

This is a measuring script, not a test: it asserts nothing about speed. Run it with
`LEAP_HOME` pointing at the converted default model and `HF_HUB_OFFLINE=1`, e.g.

    .venv/bin/python bench/overhead.py --wait-quiet 600 --json /tmp/overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from baseline import independent_requests
from common import cpu_model, load_average, median
from rich.console import Console
from rich.table import Table

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig, Sampling
from leap.algorithm.peers import PeerGroup
from leap.algorithm.records import RoundRecord
from leap.algorithm.seeds import derive_seed
from leap.benchmarks import Problem, load_benchmark
from leap.engines.base import GenerationRequest, GenerationResult
from leap.engines.transformers.engine import TransformersEngine

console = Console(width=None if sys.stdout.isatty() else 110)


# -- how busy the rest of the machine is --------------------------------------------------

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuMark:
    """CPU time used so far by the whole machine and by this process (in clock ticks).

    `process` is this process's CPU time in seconds at full resolution: with one torch
    thread it measures the work done, whatever other processes are doing meanwhile.
    """

    wall: float
    busy: int
    own: int
    process: float


def cpu_mark() -> CpuMark:
    now, process = time.perf_counter(), time.process_time()
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        stat = Path("/proc/self/stat").read_text()
        utime, stime = map(int, stat.rsplit(")", 1)[1].split()[11:13])
    except (OSError, ValueError):
        return CpuMark(now, 0, 0, process)
    return CpuMark(now, user + nice + system + irq + softirq + steal, utime + stime, process)


def foreign_cores(start: CpuMark, end: CpuMark) -> float:
    """Cores' worth of CPU that OTHER processes used between two marks."""
    seconds = end.wall - start.wall
    if seconds <= 0:
        return 0.0
    return max(0, (end.busy - start.busy) - (end.own - start.own)) / _HZ / seconds


def wait_quiet(limit: float, threshold: float) -> float:
    """Wait up to `limit` seconds for other processes to use under `threshold` cores."""
    began = time.perf_counter()
    while True:
        mark = cpu_mark()
        time.sleep(5)
        busy = foreign_cores(mark, cpu_mark())
        if busy < threshold or time.perf_counter() - began >= limit:
            return busy


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
    wall_per_problem: dict[str, float] = field(default_factory=dict)
    foreign_cores: float = 0.0  # mean CPU use of other processes during the run, in cores
    cpu_seconds: float = 0.0  # CPU time of this process during the run

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
    mark = cpu_mark()
    started = time.perf_counter()
    walls: dict[str, float] = {}
    for problem in problems:
        problem_started = time.perf_counter()
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
        walls[problem.id] = time.perf_counter() - problem_started
    wall = time.perf_counter() - started
    end = cpu_mark()
    foreign, cpu = foreign_cores(mark, end), end.process - mark.process
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
        wall_per_problem=walls,
        foreign_cores=foreign,
        cpu_seconds=cpu,
    )


def run_independent(
    meter: MeteredEngine,
    problems: Sequence[Problem],
    config: LeapConfig,
    budgets: dict[str, list[int]],
    repeat: int,
    *,
    masked_slot: bool = False,
) -> RunFigures:
    """Plain sampling: per problem one call, each path generating exactly its budget.

    With `masked_slot`, each row's cache first holds the prompt plus one extra token, which
    the real call then masks out (its prompt ends differently). The attention mask then has
    a zero in it, as LeaP's masks almost always do (padding of ragged rows, trimmed text),
    and the model takes the same attention path as in LeaP; the primer call is timed too.
    """
    meter.close()
    meter.take_calls()
    per_path: dict[str, list[int]] = {}
    meter.label = "independent"
    walls: dict[str, float] = {}
    mark = cpu_mark()
    started = time.perf_counter()
    try:
        for problem in problems:
            problem_started = time.perf_counter()
            key = f"independent-{repeat}/{problem.id}"
            requests = independent_requests(meter, problem, config, budgets[problem.id], key)
            prompt = requests[0].prompt_ids
            if masked_slot:
                # cache = prompt + one spare token; the real call masks the spare slot out
                meter.generate(
                    [
                        replace(r, prompt_ids=[*prompt, prompt[-1]], max_new_tokens=1)
                        for r in requests
                    ]
                )
            results = meter.generate(requests)
            per_path[problem.id] = [len(r.token_ids) for r in results]
            walls[problem.id] = time.perf_counter() - problem_started
    finally:
        meter.label = None
    wall = time.perf_counter() - started
    end = cpu_mark()
    foreign, cpu = foreign_cores(mark, end), end.process - mark.process
    calls = meter.take_calls()
    return RunFigures(
        variant="independent-masked" if masked_slot else "independent",
        repeat=repeat,
        wall_seconds=wall,
        generated_tokens=sum(sum(t) for t in per_path.values()),
        tokens_per_path=per_path,
        prompt_computed=sum(c.prompt_computed for c in calls),
        prompt_reused=sum(c.prompt_reused for c in calls),
        engine_seconds=sum(c.seconds for c in calls),
        split=_split_calls(calls, wall),
        wall_per_problem=walls,
        foreign_cores=foreign,
        cpu_seconds=cpu,
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
        mark = cpu_mark()
        try:
            meter.generate(requests)
        finally:
            meter.label = None
        end = cpu_mark()
        (call,) = meter.take_calls()
        return KvFigures(
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
        quiet.wait()
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
            console.print(
                f"kv repeat {repeat} {variant:<10} {figures[-1].seconds:6.2f} s "
                f"(cpu {figures[-1].cpu_seconds:6.2f} s)  "
                f"other processes {figures[-1].foreign_cores:.2f} cores"
            )
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


@dataclass(frozen=True)
class QuietPolicy:
    """Before each measured pair, wait up to `max_wait` s for other processes to calm down.

    A pair counts as quiet when other processes used under `below` cores during each of
    its two halves.
    """

    max_wait: float = 0.0
    below: float = 0.25

    def wait(self) -> None:
        if self.max_wait <= 0:
            return
        busy = wait_quiet(self.max_wait, self.below)
        if busy >= self.below:
            console.print(f"[yellow]other processes still use {busy:.2f} cores; measuring anyway")


@dataclass
class Pair:
    """One problem solved by every variant back to back."""

    repeat: int
    problem: str
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]
    foreign_cores: dict[str, float]

    def ratio(self, baseline: str) -> float:
        return self.seconds["leap"] / self.seconds[baseline]

    def cpu_ratio(self, baseline: str) -> float:
        return self.cpu_seconds["leap"] / self.cpu_seconds[baseline]

    def quiet(self, below: float) -> bool:
        return max(self.foreign_cores.values()) < below


def machine(engine: TransformersEngine) -> dict[str, Any]:
    import transformers

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "dtype": str(engine.dtype).removeprefix("torch."),
        "model": engine.model_name,
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


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


def print_kv(figures: list[KvFigures], context: dict[str, Any], below: float) -> dict[str, Any]:
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
        tokens_per_round=args.tokens_per_round,
        max_tokens=args.tokens_per_round * args.rounds,
        summary_max_tokens=args.summary_tokens,
        answer_max_tokens=args.answer_tokens,
        top_k=args.top_k,
        router="dispersed",
        sampling=Sampling(),
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
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measured pair, wait up to this long for other processes to go idle",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.25,
        metavar="CORES",
        help="CPU use of other processes under which a pair counts as quiet (default 0.25)",
    )
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
    quiet = QuietPolicy(max_wait=args.wait_quiet, below=args.quiet_below)
    problems = load_benchmark("smoke")[: args.problems]
    info = machine(engine)
    info["load_average_before"] = load_before
    console.print(f"machine: {json.dumps(info)}")
    console.print(f"command: {' '.join(['python', *sys.argv])}")

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


def overhead(
    meter: MeteredEngine,
    problems: Sequence[Problem],
    config: LeapConfig,
    repeats: int,
    quiet: QuietPolicy,
    on_progress: Callable[[list[RunFigures], list[Pair]], None] | None = None,
    baselines: Sequence[str] = ("independent",),
) -> tuple[list[RunFigures], list[Pair]]:
    """Every variant on every problem, interleaved problem by problem, `repeats` times.

    Within a repeat each problem is solved by LeaP and by both independent baselines back
    to back (LeaP first in even repeats, last in odd ones), so a change in the machine's
    load hits all variants alike. The independent run of a problem uses the
    per-path totals of that problem's latest LeaP run (repeat 0 starts with LeaP, so there
    always is one); LeaP is deterministic for fixed seeds, which the summary checks.
    Returns one RunFigures per variant and repeat (summed over the problems) and the pairs.
    """
    runs: list[RunFigures] = []
    pairs: list[Pair] = []
    budgets: dict[str, list[int]] = {}
    variants = ("leap", *baselines)
    for repeat in range(repeats):
        order = variants if repeat % 2 == 0 else variants[::-1]
        parts: dict[str, list[RunFigures]] = {v: [] for v in variants}
        for problem in problems:
            quiet.wait()
            done: dict[str, RunFigures] = {}
            for variant in order:
                if variant == "leap":
                    figures = run_leap(meter, [problem], config, repeat)
                    budgets[problem.id] = figures.tokens_per_path[problem.id]
                else:
                    figures = run_independent(
                        meter,
                        [problem],
                        config,
                        budgets,
                        repeat,
                        masked_slot=variant == "independent-masked",
                    )
                done[variant] = figures
                parts[variant].append(figures)
                console.print(
                    f"repeat {repeat} {problem.id:<9} {variant:<18} "
                    f"{figures.wall_seconds:7.1f} s {figures.generated_tokens:6d} tokens "
                    f"{figures.tokens_per_second:6.1f} tok/s  cpu {figures.cpu_seconds:7.1f} s  "
                    f"other processes {figures.foreign_cores:.2f} cores"
                )
            pairs.append(
                Pair(
                    repeat=repeat,
                    problem=problem.id,
                    seconds={v: f.wall_seconds for v, f in done.items()},
                    cpu_seconds={v: f.cpu_seconds for v, f in done.items()},
                    foreign_cores={v: f.foreign_cores for v, f in done.items()},
                )
            )
            if on_progress is not None:
                on_progress(runs, pairs)
        runs.extend(merge(parts[variant]) for variant in variants)
        if on_progress is not None:
            on_progress(runs, pairs)
    return runs, pairs


def merge(parts: Sequence[RunFigures]) -> RunFigures:
    """One variant's figures over several problems of the same repeat."""

    def summed(dicts: Sequence[dict[str, float]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for d in dicts:
            for key, value in d.items():
                out[key] = out.get(key, 0.0) + value
        return out

    per_path: dict[str, list[int]] = {}
    for part in parts:
        per_path.update(part.tokens_per_path)
    wall = sum(p.wall_seconds for p in parts)
    return RunFigures(
        variant=parts[0].variant,
        repeat=parts[0].repeat,
        wall_seconds=wall,
        generated_tokens=sum(p.generated_tokens for p in parts),
        tokens_per_path=per_path,
        prompt_computed=sum(p.prompt_computed for p in parts),
        prompt_reused=sum(p.prompt_reused for p in parts),
        engine_seconds=sum(p.engine_seconds for p in parts),
        split=summed([p.split for p in parts]),
        round_timings=summed([p.round_timings for p in parts]),
        wall_per_problem=summed([p.wall_per_problem for p in parts]),
        foreign_cores=sum(p.foreign_cores * p.wall_seconds for p in parts) / max(wall, 1e-9),
        cpu_seconds=sum(p.cpu_seconds for p in parts),
    )


if __name__ == "__main__":
    raise SystemExit(main())
