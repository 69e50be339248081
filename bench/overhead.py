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
from collections.abc import Callable, Sequence
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


# -- how busy the rest of the machine is --------------------------------------------------

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuMark:
    """CPU time used so far by the whole machine and by this process (in clock ticks)."""

    wall: float
    busy: int
    own: int


def cpu_mark() -> CpuMark:
    now = time.perf_counter()
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        stat = Path("/proc/self/stat").read_text()
        utime, stime = map(int, stat.rsplit(")", 1)[1].split()[11:13])
    except (OSError, ValueError):
        return CpuMark(now, 0, 0)
    return CpuMark(now, user + nice + system + irq + softirq + steal, utime + stime)


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
    foreign = foreign_cores(mark, cpu_mark())
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
    walls: dict[str, float] = {}
    mark = cpu_mark()
    started = time.perf_counter()
    try:
        for problem in problems:
            problem_started = time.perf_counter()
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
            walls[problem.id] = time.perf_counter() - problem_started
    finally:
        meter.label = None
    wall = time.perf_counter() - started
    foreign = foreign_cores(mark, cpu_mark())
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
        wall_per_problem=walls,
        foreign_cores=foreign,
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
        foreign = foreign_cores(mark, cpu_mark())
        (call,) = meter.take_calls()
        return KvFigures(
            variant=variant,
            repeat=repeat,
            seconds=call.seconds,
            prefill_seconds=call.prefill_seconds,
            prompt_computed=call.prompt_computed,
            prompt_reused=call.prompt_reused,
            generated=call.generated,
            foreign_cores=foreign,
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
                f"kv repeat {repeat} {variant:<10} {figures[-1].seconds:6.2f} s  "
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
    """Before each measured pair, wait up to `wait` s for the other processes to calm down."""

    wait: float = 0.0
    below: float = 0.25  # cores used by other processes that still count as quiet

    def wait_now(self) -> float | None:
        return wait_quiet(self.wait, self.below) if self.wait > 0 else None

    def wait(self) -> None:  # noqa: F811 - see wait_now; kept short for call sites
        busy = self.wait_now()
        if busy is not None and busy >= self.below:
            console.print(f"[yellow]machine still busy ({busy:.2f} cores), measuring anyway")
