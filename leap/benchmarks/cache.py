"""The local cache of normalized benchmarks under $LEAP_HOME/datasets.

A public benchmark loaded once (from a local copy or the hub) is written here so later
loads need neither. The cache holds problems before any option shuffle, so one cached
file serves every seed. Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from leap.benchmarks.declarations import Benchmark
from leap.benchmarks.problem import Problem

logger = logging.getLogger("leap")

CACHE_FORMAT = 1


@dataclass(frozen=True)
class CachedBenchmark:
    problems: list[Problem]
    source: str
    skipped: int


def leap_home() -> Path:
    """$LEAP_HOME, or ~/.cache/leap when it is not set."""
    return Path(os.environ.get("LEAP_HOME") or "~/.cache/leap").expanduser()


def cache_path(benchmark: Benchmark) -> Path:
    """One file per benchmark and declared revision, so a new pin never reads old data."""
    revision = benchmark.hub.revision if benchmark.hub else "generated"
    return leap_home() / "datasets" / f"{benchmark.name}@{revision}.json"


def read_cache(path: Path) -> CachedBenchmark | None:
    """The cached benchmark, or None when absent or unreadable (reported, never used)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"cache format {data.get('format')!r} is not {CACHE_FORMAT}")
        problems = [_problem(item) for item in data["problems"]]
        return CachedBenchmark(problems, str(data["source"]), int(data["skipped"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable benchmark cache %s (%s)", path, exc)
        return None


def write_cache(path: Path, problems: list[Problem], *, source: str, skipped: int) -> None:
    """Store `problems` at `path` atomically; a failure is logged, never raised."""
    payload: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "source": source,
        "skipped": skipped,
        "problems": [asdict(problem) for problem in problems],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(payload, out, ensure_ascii=False, default=str)
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("could not write benchmark cache %s (%s)", path, exc)


def _problem(item: dict[str, Any]) -> Problem:
    return Problem(
        id=item["id"],
        question=item["question"],
        answer=item["answer"],
        kind=item["kind"],
        choices=tuple(item["choices"]),
        metadata=dict(item["metadata"]),
    )
