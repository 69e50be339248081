"""`leap finetune CONFIG.yaml`: fine-tune a model on SFT data sets, through Prefect.

The config, the store, the output folder, the data and the model are checked here
(`prepare_finetune`), before Prefect starts, so a mistake is one sentence and nothing is
written; the prepared training is handed to the `leap-finetune` flow.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leap.errors import load_yaml_mapping
from leap.report.format import compact_number
from leap.report.training_page import throughput
from leap.training.finetune import FinetuneResult, prepare_finetune
from leap.training.finetune_config import parse_finetune_config

console = Console()


def run_finetune(path: Path, store: str | None = None, out: str | None = None) -> int:
    """Train (or continue) the training of the config file `path`; returns the exit code.

    `store` and `out` replace the file's; a file without a store takes $LEAP_STORE, then
    the default store.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    data = load_yaml_mapping(path, "finetune config")
    if store is None and "store" not in data and os.environ.get("LEAP_STORE"):
        store = os.environ["LEAP_STORE"]
    data.update({k: v for k, v in {"store": store, "out": out}.items() if v is not None})
    config = parse_finetune_config(data, source=str(path))
    prepared = prepare_finetune(config)
    where = f"store {prepared.store.store.url}"
    if prepared.finished:
        console.print(f"training [bold]{config.name}[/] is finished · {where}")
    elif prepared.train_set is not None:
        examples = prepared.train_set
        console.print(
            f"training [bold]{config.name}[/] · {config.model} · {len(examples.examples)} "
            f"examples, {examples.trained_tokens} of {examples.tokens} tokens trained · "
            f"{'LoRA' if config.lora else 'full'} · {prepared.precision} · {where}"
        )
        for count, note in (
            (examples.retokenized, "tokenized again for this model's tokenizer"),
            (examples.truncated, f"cut to max_length {config.max_length}"),
            (examples.dropped, "left out (no trained token within max_length)"),
        ):
            if count:
                console.print(f"[yellow]examples:[/] {count} {escape(note)}", soft_wrap=True)
    from flows.api import start_ephemeral_api

    api = start_ephemeral_api()
    from flows.finetune import finetune

    if api is not None:
        api.join()
    state = finetune(config=config.model_dump(mode="json"), prepared=prepared, return_state=True)
    result = state.result(raise_on_failure=False) if state.is_completed() else None
    if not isinstance(result, FinetuneResult):
        message = escape(state.message or "")
        console.print(
            f"[bold red]training {config.name} did not complete:[/] {message}", soft_wrap=True
        )
        return 1
    _print_result(result)
    return 0


def _print_result(result: FinetuneResult) -> None:
    rows = result.metrics
    table = Table("", "value", title=f"training {result.name}")
    if rows:
        table.add_row("steps", str(rows[-1]["step"]))
        table.add_row("loss, first → last step", f"{rows[0]['loss']:.4f} → {rows[-1]['loss']:.4f}")
        tokens, trained = throughput(rows)
        if tokens is not None and trained is not None:
            table.add_row(
                "tokens/s (trained tokens/s)",
                f"{compact_number(tokens)} ({compact_number(trained)})",
            )
    if result.resumed_from is not None:
        table.add_row("resumed from", f"checkpoint of step {result.resumed_from}")
    if result.already_finished:
        table.add_row("note", "finished before: nothing trained again")
    console.print(table)
    console.print(f"model: {result.out}", soft_wrap=True)
    if result.model_location != result.out.as_uri():
        console.print(f"stored: {result.model_location}", soft_wrap=True)
    if result.report_location:
        console.print(f"report: {result.report_location}", soft_wrap=True)
