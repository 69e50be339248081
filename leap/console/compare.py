"""`leap compare`: the console side of a comparison of runs (`leap.experiments.compare`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from leap.experiments.compare import Comparison, compare_runs, default_out_dir, write_comparison
from leap.report.compare_page import interval_text, versus_cells
from leap.scoring.statistics import DEFAULT_RESAMPLES

console = Console()


def run_compare(
    store: str,
    run_ids: Sequence[str],
    out: Path | None = None,
    seed: int = 0,
    resamples: int | None = None,
) -> dict[str, Path]:
    """Compare the runs, write the outputs into `out` (default ./comparisons/<run ids>),
    print the headline table and where the outputs are; returns their paths."""
    resamples = DEFAULT_RESAMPLES if resamples is None else resamples
    comparison = compare_runs(store, run_ids, seed=seed, resamples=resamples)
    written = write_comparison(comparison, out if out is not None else default_out_dir(run_ids))
    console.print(_table(comparison))
    for path in written.values():
        console.print(f"{path.name}: {path}", highlight=False, soft_wrap=True)
    return written


def _table(comparison: Comparison) -> Table:
    table = Table(
        "run",
        "method",
        "Pass@1",
        "Cons@N",
        "tokens/problem",
        "W/L/T",
        "Δ Pass@1",
        "p",
        title=f"{comparison.benchmark}: {len(comparison.problem_ids)} problems, "
        f"baseline {comparison.runs[0].run_id}",
        caption="[95% intervals]; tokens: generated per problem; W/L/T and Δ: against the "
        "baseline, paired by problem",
    )
    for run in comparison.runs:
        table.add_row(
            run.run_id,
            run.method,
            interval_text(run.metrics.pass_at_1),
            interval_text(run.metrics.cons_at_n),
            f"{run.generated_per_problem:,.0f}",
            *versus_cells(run),
        )
    return table
