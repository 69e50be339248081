"""The training loop itself: transformers' `Trainer`, LoRA through peft, and a callback
that stores every checkpoint and every step's loss and throughput.

Throughput is measured per optimizer step, from its first micro-batch to the end of the
optimizer update (checkpoint uploads and logging are not counted): training tokens are
the tokens the model read (padding left out), trained tokens those whose prediction
carried loss.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from leap.errors import LeapError
from leap.stop import check_stop
from leap.training.train_set import IGNORED, PadAndMask, pad_id_of

if TYPE_CHECKING:
    from leap.training.finetune import PreparedFinetune, StepHook
    from leap.training.finetune_config import FinetuneConfig

log = logging.getLogger("leap")


class _TokenCount:
    """Tokens of the micro-batches of the current optimizer step."""

    def __init__(self) -> None:
        self.tokens = 0
        self.trained = 0

    def add(self, inputs: dict[str, Any]) -> None:
        self.tokens += int(inputs["attention_mask"].sum())
        self.trained += int((inputs["labels"][:, 1:] != IGNORED).sum())

    def reset(self) -> None:
        self.tokens = self.trained = 0


class _CountingTrainer(Trainer):
    """The Trainer, counting the tokens of every training micro-batch."""

    def __init__(self, *args: Any, count: _TokenCount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.count = count

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self.count.add(inputs)
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )


class _StoreSync(TrainerCallback):
    """Per step: a metrics row, stored; per checkpoint: the folder, uploaded."""

    def __init__(
        self,
        prepared: PreparedFinetune,
        count: _TokenCount,
        rows: list[dict[str, Any]],
        on_step: StepHook | None,
    ) -> None:
        self.prepared = prepared
        self.count = count
        self.rows = rows
        self.on_step = on_step
        self.started = 0.0
        self.seconds = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        check_stop()
        self.count.reset()
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self.started

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return  # the end-of-training summary
        seconds = max(self.seconds, 1e-9)
        row = {
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": round(float(state.epoch or 0.0), 4),
            "loss": float(logs["loss"]),
            "grad_norm": _number(logs.get("grad_norm")),
            "learning_rate": _number(logs.get("learning_rate")),
            "seconds": round(self.seconds, 4),
            "tokens": self.count.tokens,
            "trained_tokens": self.count.trained,
            "tokens_per_second": round(self.count.tokens / seconds, 2),
            "trained_tokens_per_second": round(self.count.trained / seconds, 2),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.rows.append(row)
        self.prepared.store.write_metrics(self.rows)
        if self.on_step is not None:
            self.on_step(row)

    def on_save(self, args, state, control, **kwargs):
        step = state.global_step
        self.prepared.store.upload_checkpoint(Path(args.output_dir) / f"checkpoint-{step}", step)
        log.info("training %s: checkpoint of step %d stored", self.prepared.config.name, step)
        from leap.training.finetune import write_report

        write_report(self.prepared.store, self.prepared.config, self.rows)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def training_arguments(prepared: PreparedFinetune, scratch: Path) -> TrainingArguments:
    import torch

    config = prepared.config
    return TrainingArguments(
        output_dir=str(scratch),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        num_train_epochs=config.passes,
        seed=config.seed,
        data_seed=config.seed,
        bf16=prepared.precision == "bfloat16",
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        # Older local checkpoints are already in the store; only the newest stays here.
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )


def with_adapters(model: Any, config: FinetuneConfig) -> Any:
    """The model with LoRA adapters on the configured modules (peft), drawn with the
    config's seed; LeapError when the model has none of those modules."""
    from peft import LoraConfig, get_peft_model

    lora = config.lora
    assert lora is not None
    set_seed(config.seed)
    settings = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, settings)
    except ValueError as exc:  # e.g. a target module the model does not have
        first = str(exc).strip().splitlines()[0][:200]
        raise LeapError(
            f"LoRA cannot be set up on {config.model}: {first}; check lora."
            "target_modules against the model's layer names."
        ) from None


def run_trainer(
    prepared: PreparedFinetune,
    scratch: Path,
    resume: Path | None,
    rows: list[dict[str, Any]],
    on_step: StepHook | None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Train to the end, from `resume` (a checkpoint folder) when given; returns the model
    to save (LoRA merged into the base) and the metrics rows of every step."""
    config = prepared.config
    count = _TokenCount()
    trainer = _CountingTrainer(
        model=prepared.model,
        args=training_arguments(prepared, scratch),
        train_dataset=prepared.train_set.examples,
        data_collator=PadAndMask(pad_id_of(prepared.tokenizer)),
        processing_class=prepared.tokenizer,
        callbacks=[_StoreSync(prepared, count, rows, on_step)],
        count=count,
    )
    for quiet in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(quiet)
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    trained = trainer.model
    if config.lora is not None:
        trained = trained.merge_and_unload()
    return trained, rows
