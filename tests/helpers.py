"""Small shared pieces for tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket
from typing import Any

from leap.algorithm.config import LeapConfig
from leap.runs import RunSpec

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
