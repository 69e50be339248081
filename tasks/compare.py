"""Task: compare stored runs of one benchmark and publish the comparison.

A thin wrapper around `leap.experiments.compare`: it writes comparison.html,
comparison.md and problems.parquet into a folder and shows the markdown summary as a
Prefect artifact, keyed by the compared run ids so its history collects every comparison
of the same runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from leap.experiments.compare import compare_runs, default_out_dir, write_comparison
from leap.report.compare_page import render_comparison_markdown
from leap.scoring.statistics import DEFAULT_RESAMPLES
from tasks.dashboard import artifact_key


@task(name="compare-runs", cache_policy=NO_CACHE)
def compare_task(
    store_url: str,
    run_ids: Sequence[str],
    out_dir: str | None = None,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, str]:
    """Compare the runs (the first is the baseline), write the outputs into `out_dir`
    (default ./comparisons/<run ids>) and publish the markdown summary; returns the
    written files by name."""
    comparison = compare_runs(store_url, list(run_ids), seed=seed, resamples=resamples)
    folder = Path(out_dir) if out_dir is not None else default_out_dir(run_ids)
    written = write_comparison(comparison, folder)
    create_markdown_artifact(
        key=comparison_key(run_ids),
        markdown=render_comparison_markdown(comparison)
        + f"\n\nPage: `{written['comparison.html'].resolve()}`\n",
        description=f"Comparison of {len(run_ids)} runs of {comparison.benchmark}",
    )
    return {name: str(path) for name, path in written.items()}


def comparison_key(run_ids: Sequence[str]) -> str:
    """The artifact key of a comparison: readable, and unique to its runs (a digest)."""
    digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:10]
    readable = artifact_key("compare-" + "-vs-".join(run_ids))[:49].rstrip("-")
    return f"{readable}-{digest}"
