"""Small shared pieces for tests (fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
from leap.benchmarks import Problem
from leap.runs import RunSpec, RunStore, load_run_problems

# Two smoke problems, two paths, two rounds: seconds per problem on the CPU model.
TINY_LEAP = {
    "n_paths": 2,
    "tokens_per_round": 16,
    "max_tokens": 32,
    "summary_max_tokens": 8,
    "answer_max_tokens": 6,
    "top_k": 1,
    "seed": 3,
}


def tiny_spec(store: str, run_id: str = "tiny", **extra: Any) -> RunSpec:
    """A run spec in float32, so resumed runs match uninterrupted ones token for token."""
    fields: dict[str, Any] = {
        "benchmark": "smoke",
        "limit": 2,
        "dtype": "float32",
        "leap": LeapConfig(**TINY_LEAP),
    }
    return RunSpec(**{**fields, "store": store, "run_id": run_id, **extra})


# How much of a context the engine served from its cache depends on what ran before in the
# same process (a resumed run re-prefills once), not on what the run computed.
CACHE_COLUMNS = ("prompt_computed", "prompt_reused")


def comparable(score_rows: list[dict]) -> list[dict]:
    """Score rows without cache figures, in a fixed order: equal for equal runs."""
    rows = [{k: v for k, v in r.items() if k not in CACHE_COLUMNS} for r in score_rows]
    return sorted(rows, key=lambda r: (r["problem_id"], r["path"]))


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (also handy as a 'nothing listens here' port)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def store_source(
    store: Path, encode, right: bool = True, run_id: str = "src", **fields
) -> list[Problem]:
    """A finished source run `run_id` of the first smoke problem: path 0 right (unless not
    `right`), path 1 wrong; `encode` turns their text into token ids."""
    # The smoke benchmark draws its problems with the run seed: the source uses the new
    # runs' seed unless `fields` says otherwise.
    fields = {"leap": {"seed": TINY_LEAP["seed"]}, **fields}
    spec = RunSpec(benchmark="smoke", limit=1, store=str(store), run_id=run_id, **fields)
    (problem,) = load_run_problems(RunSpec(benchmark="smoke", limit=1, leap=spec.leap))
    run = RunStore.open(str(store), run_id)
    run.create_or_check(spec)
    first = problem.answer if right else "999"
    texts = [f"Adding up, the total is {first}.", "Adding up, the total is 1000."]
    rows = [
        PathRound(i, [Segment("prompt", [1], "q"), Segment("reasoning", encode(t), t)])
        for i, t in enumerate(texts)
    ]
    run.save_round(RoundRecord(problem.id, 0, rows))
    boxed = [first, "1000"]
    answers = [
        PathAnswer(i, [], False, "eos", own_text=f"{texts[i]} \\boxed{{{boxed[i]}}}")
        for i in range(2)
    ]
    run.save_final(FinalRecord(problem.id, answers))
    return [problem]


def chromium_dom(page: Path, profile: Path) -> str:
    """The DOM headless Chromium builds from `page` with no network at all (every host
    resolves to nothing, every request goes to a dead proxy); skips when Chromium is
    missing (`make browser` installs it, and `make test` runs that first)."""
    import pytest

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed: `make browser` installs Debian's package")
    command = [
        chromium,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--enable-logging=stderr",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    # Script errors and refused loads are logged as console messages.
    errors = [line for line in result.stderr.splitlines() if "Uncaught" in line]
    assert not errors, errors
    return result.stdout
