"""Benchmarks as declarations: a registry of problem sets usable by name."""

from leap.benchmarks.loader import (
    BenchmarkInfo,
    LoadedBenchmark,
    LoadReport,
    benchmark_names,
    list_benchmarks,
    load_benchmark,
    load_benchmark_with_report,
)
from leap.benchmarks.options import LoadOptions
from leap.benchmarks.problem import CHOICE_LETTERS, Problem, ProblemKind

__all__ = [
    "CHOICE_LETTERS",
    "BenchmarkInfo",
    "LoadOptions",
    "LoadReport",
    "LoadedBenchmark",
    "Problem",
    "ProblemKind",
    "benchmark_names",
    "list_benchmarks",
    "load_benchmark",
    "load_benchmark_with_report",
]
