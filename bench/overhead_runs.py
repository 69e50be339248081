"""LeaP against independent sampling of exactly the same tokens per path, problem by problem.

Each problem is solved by LeaP and by the independent baseline(s) back to back, the order
flipping every repeat, so a change in the machine's load hits all variants alike. Used by
`overhead.py` (`--only overhead`), which prints and stores the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from baseline import independent_requests
from harness import Call, MeteredEngine, QuietPolicy, console, cpu_mark, foreign_cores

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, RoundRecord, path_rows
from leap.benchmarks import Problem
from leap.methods.peers import PeerGroup
from leap.scoring.metrics import TokenTotals


@dataclass
class RunFigures:
    """One pass over some problems with one variant."""

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


# -- per-path token totals ------------------------------------------------------------------


def path_token_totals(
    rounds: Sequence[RoundRecord], final: FinalRecord, n_paths: int
) -> list[TokenTotals]:
    """Tokens of each path of one solved problem, from its round records and final record."""
    answers = {answer.path: answer for answer in final.answers}
    return [TokenTotals.of_path(path_rows(rounds, p), answers.get(p)) for p in range(n_paths)]


# -- one variant over some problems ---------------------------------------------------------


def split_calls(calls: Sequence[Call], wall: float) -> dict[str, float]:
    """Where the wall time went: decode and prefill by phase, and outside the engine."""
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
    meter.reset_cache()
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
        for record in rounds:
            timings["round generate"] += record.generate_seconds
            timings["round summary+routing"] += record.summary_seconds
        timings["final answers"] += final.wall_seconds
        totals = path_token_totals(rounds, final, config.n_paths)
        per_path[problem.id] = [t.generated for t in totals]
        computed += sum(t.prompt_computed for t in totals)
        reused += sum(t.prompt_reused for t in totals)
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
        split=split_calls(calls, wall),
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
    meter.reset_cache()
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
        split=split_calls(calls, wall),
        wall_per_problem=walls,
        foreign_cores=foreign,
        cpu_seconds=cpu,
    )


# -- every variant, interleaved ---------------------------------------------------------------


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
