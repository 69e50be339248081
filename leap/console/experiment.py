"""`leap experiment FILE`: every cell of an experiment file as a run, through Prefect.

The file and every cell's spec are checked here, before Prefect starts, so a mistake is
one sentence and nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leap.experiments.declaration import cell_finished, experiment_cells, load_experiment

console = Console()


def run_experiment(path: Path, overrides: dict[str, Any], out_dir: str | None = None) -> int:
    """Run (or continue) the experiment in `path`, with `overrides` (store, limit, model,
    engine) in every cell, and compare its cells into `out_dir`; returns the exit code."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    cells = experiment_cells(load_experiment(path), overrides)
    done = [cell_finished(cell) for cell in cells]
    console.print(
        f"experiment [bold]{escape(str(path))}[/] · {len(cells)} cells, "
        f"{sum(done)} finished already"
    )
    from flows.api import start_ephemeral_api

    api = start_ephemeral_api()
    from flows.experiment import experiment

    if api is not None:
        api.join()
    state = experiment(file=str(path), overrides=overrides, out_dir=out_dir, return_state=True)
    table = Table("cell", "run id", "finished", title=f"experiment {path}")
    for cell in cells:
        values = ", ".join(f"{axis}={value}" for axis, value in cell.values.items())
        table.add_row(escape(values), cell.run_id, "yes" if cell_finished(cell) else "no")
    console.print(table)
    message = escape(state.message or "")
    if not state.is_completed():
        console.print(f"[bold red]experiment did not complete:[/] {message}", soft_wrap=True)
        return 1
    console.print(message, soft_wrap=True)
    return 0
