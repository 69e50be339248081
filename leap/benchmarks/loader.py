"""Load a benchmark by name: the registry's one entry point.

Where a public benchmark's rows come from, first match wins:
1. `LoadOptions.local_path` (a file, or a folder holding the reference file name);
2. LEAP_DATA_DIR/<reference file name> (aime.json, aime_2025.json, aimo.json,
   gpqa_diamond.json) when that file exists;
3. the cache $LEAP_HOME/datasets/<name>@<revision>.json from an earlier load;
4. the declared Hugging Face Hub file.
Loads from 1, 2 or 4 refresh the cache. `file:PATH` reads any JSON/JSONL/Parquet/CSV file
with the column mapping in `LoadOptions`; `smoke` is generated.

Skipped rows (with `skip_invalid=True`) are logged as warnings on the "leap" logger and
counted in `LoadReport.skipped`, which `load_benchmark_with_report` returns for the CLI.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from leap.benchmarks.cache import cache_path, read_cache, write_cache
from leap.benchmarks.catalog import BENCHMARKS
from leap.benchmarks.choices import shuffle_choices, warn_if_answers_never_move
from leap.benchmarks.declarations import Benchmark, FieldMap
from leap.benchmarks.files import read_rows
from leap.benchmarks.hub import download
from leap.benchmarks.options import LoadOptions
from leap.benchmarks.problem import Problem, ProblemKind
from leap.benchmarks.rows import normalize_rows
from leap.errors import LeapError

logger = logging.getLogger("leap")

FILE_PREFIX = "file:"


@dataclass(frozen=True)
class BenchmarkInfo:
    """One line of `leap benchmarks`."""

    name: str
    size: int | None
    kind: ProblemKind
    source: str
    description: str = ""


@dataclass(frozen=True)
class LoadReport:
    """What a load did: where the problems came from and how many rows it skipped."""

    benchmark: str
    source: str
    problems: int
    skipped: int


@dataclass(frozen=True)
class LoadedBenchmark:
    problems: list[Problem]
    report: LoadReport


def benchmark_names() -> list[str]:
    """Names accepted by `load_benchmark` besides `file:PATH`."""
    return list(BENCHMARKS)


def list_benchmarks() -> list[BenchmarkInfo]:
    """The declared benchmarks with their size, kind and source."""
    return [
        BenchmarkInfo(
            name=b.name,
            size=b.size,
            kind=b.kind,
            source=b.describe_source(),
            description=b.description,
        )
        for b in BENCHMARKS.values()
    ]


def load_benchmark(name: str, options: LoadOptions | None = None) -> list[Problem]:
    """The problems of benchmark `name` (a declared name or `file:PATH`)."""
    return load_benchmark_with_report(name, options).problems


def load_benchmark_with_report(name: str, options: LoadOptions | None = None) -> LoadedBenchmark:
    """Like `load_benchmark`, also saying where the problems came from and what was skipped."""
    options = options or LoadOptions()
    if name.startswith(FILE_PREFIX):
        problems, source, skipped = _load_file(name.removeprefix(FILE_PREFIX), options)
        shuffle = bool(options.shuffle_choices)
    else:
        benchmark = _declared(name)
        if options.kind is not None and options.kind != benchmark.kind:
            raise LeapError(
                f"benchmark {name!r} is a {benchmark.kind} benchmark; "
                "set kind only for file: benchmarks."
            )
        problems, source, skipped = _load_declared(benchmark, options)
        shuffle = benchmark.shuffle_choices
        if options.shuffle_choices is not None:
            shuffle = options.shuffle_choices
    if shuffle:
        problems = [shuffle_choices(p, options.seed) if p.kind == "choice" else p for p in problems]
    else:
        warn_if_answers_never_move(problems, name)
    if options.limit is not None:
        problems = problems[: options.limit]
    report = LoadReport(benchmark=name, source=source, problems=len(problems), skipped=skipped)
    return LoadedBenchmark(problems=problems, report=report)


def _declared(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise LeapError(
            f"unknown benchmark {name!r}; use one of {', '.join(BENCHMARKS)} or file:PATH."
        ) from None


def _load_file(path_text: str, options: LoadOptions) -> tuple[list[Problem], str, int]:
    if not path_text:
        raise LeapError("file: needs a path, as in file:data/problems.jsonl.")
    path = Path(path_text).expanduser()
    kind: ProblemKind = options.kind or ("choice" if options.choices_field else "math")
    normalized = normalize_rows(
        read_rows(path),
        source=str(path),
        fields=_with_overrides(FieldMap(), options),
        kind=kind,
        skip_invalid=options.skip_invalid,
    )
    return normalized.problems, str(path), normalized.skipped


def _load_declared(benchmark: Benchmark, options: LoadOptions) -> tuple[list[Problem], str, int]:
    if benchmark.generator is not None:
        return benchmark.generator(options.seed), f"generated (seed {options.seed})", 0
    assert benchmark.hub is not None  # a Benchmark has a hub or a generator
    cache = cache_path(benchmark)
    local = _local_copy(benchmark, options)
    if local is None:
        cached = read_cache(cache)
        if cached is not None:
            logger.info("benchmark %s from cache %s", benchmark.name, cache)
            return cached.problems, f"cache {cache} (from {cached.source})", cached.skipped
        path = download(benchmark.hub, benchmark.name, benchmark.local_filename)
        source = benchmark.hub.describe()
    else:
        path, source = local, str(local)
    normalized = normalize_rows(
        read_rows(path),
        source=str(path) if local else f"{source} file {benchmark.hub.filename}",
        fields=_with_overrides(benchmark.fields, options),
        kind=benchmark.kind,
        skip_invalid=options.skip_invalid,
        option_count=benchmark.option_count,
    )
    write_cache(cache, normalized.problems, source=source, skipped=normalized.skipped)
    return normalized.problems, source, normalized.skipped


def _local_copy(benchmark: Benchmark, options: LoadOptions) -> Path | None:
    """The local file to read instead of the cache and the hub, if any."""
    if options.local_path:
        path = Path(options.local_path).expanduser()
        if path.is_dir() and benchmark.local_filename:
            path = path / benchmark.local_filename
        if not path.is_file():
            raise LeapError(
                f"local copy {path} of benchmark {benchmark.name!r} does not exist; "
                "check the --data path."
            )
        return path
    data_dir = os.environ.get("LEAP_DATA_DIR")
    if data_dir and benchmark.local_filename:
        path = Path(data_dir).expanduser() / benchmark.local_filename
        if path.is_file():
            return path
    return None


def _with_overrides(fields: FieldMap, options: LoadOptions) -> FieldMap:
    overrides = {
        "question": options.question_field,
        "answer": options.answer_field,
        "id": options.id_field,
        "choices": options.choices_field,
    }
    return replace(fields, **{key: (value,) for key, value in overrides.items() if value})
