"""`leap sft-data`: the console side of building a LeaP-T data set (`leap.training.sft_data`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from leap.training.sft_data import (
    SftFilters,
    build_sft_data,
    check_out_folder,
    write_sft_data,
)

console = Console()


def run_sft_data(
    store: str,
    run_ids: Sequence[str],
    out: Path,
    filters: SftFilters,
    force: bool = False,
) -> dict[str, Path]:
    """Build the data set from the runs, write it into `out`, print what the filters kept
    and where the files are; returns their paths."""
    check_out_folder(out, force)  # before reading any run: a refused --out costs nothing
    data = build_sft_data(store, run_ids, filters)
    written = write_sft_data(data, out, force=force)
    console.print(_table(data.card))
    tokens = data.card["tokens"]
    console.print(
        f"{data.card['examples']} examples, {tokens['total']:,} tokens "
        f"({tokens['trained']:,} trained), {tokens['min']}-{tokens['max']} tokens each",
        highlight=False,
    )
    for path in written.values():
        console.print(f"{path.name}: {path}", highlight=False, soft_wrap=True)
    return written


def _table(card: dict[str, Any]) -> Table:
    runs = ", ".join(s["run_id"] for s in card["sources"])
    table = Table(
        "filter", "paths in", "removed", title=f"{card['paths']} paths of {runs} ({card['model']})"
    )
    for step in card["filters"]:
        removed = str(step["removed"]) if step["on"] else "off"
        table.add_row(step["filter"], str(step["paths_in"]), removed)
    return table
