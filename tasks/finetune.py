"""Task: one fine-tuning, with its loss and throughput on the dashboard.

A thin wrapper around `leap.training.finetune.train`: a progress artifact follows the
steps, and at the end a table artifact holds every step (loss, learning rate, tokens/s)
and a markdown artifact the summary, keyed by the training's name so a continued
training adds to the same history.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from leap.errors import StoreError
from leap.report.training_page import step_table, training_markdown
from leap.training.finetune import FinetuneResult, PreparedFinetune, train
from tasks.dashboard import artifact_key


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(prepared: PreparedFinetune) -> FinetuneResult:
    """Train to the end (resuming from the store's latest checkpoint) and publish the steps."""
    logger = get_run_logger()
    name = prepared.config.name
    key = artifact_key(f"finetune-{name}")
    progress = create_progress_artifact(
        key=f"{key}-progress", progress=0.0, description=f"Steps done in training {name}"
    )

    def on_step(row: dict[str, Any]) -> None:
        logger.info(
            "step %d/%d: loss %.4f, %.0f tokens/s (%.0f trained tokens/s)",
            row["step"],
            row["max_steps"],
            row["loss"],
            row["tokens_per_second"],
            row["trained_tokens_per_second"],
        )
        update_progress_artifact(progress, progress=100.0 * row["step"] / max(1, row["max_steps"]))

    result = train(prepared, on_step)
    if result.resumed_from is not None:
        logger.info("resumed from the checkpoint of step %d", result.resumed_from)
    create_table_artifact(
        key=f"{key}-steps",
        table=step_table(result.metrics),
        description=f"Loss and throughput per step of training {name}",
    )
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=training_markdown(name, result.metrics, result.model_location)
        + f"\n\nLocal model folder: `{result.out}`\n",
        description=f"Summary of training {name}",
    )
    try:
        link = prepared.store.link("report.html")
    except StoreError as exc:  # the report is stored; only the way to open it is missing
        logger.warning("no link to the report of training %s: %s", name, exc)
    else:
        create_link_artifact(
            key=f"{key}-report",
            link=link,
            link_text=f"Report of training {name}",
            description=f"The HTML page of training {name} (a presigned link lasts a week)",
        )
    return result
