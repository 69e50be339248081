"""Fine-tuning a model on SFT data sets (LeaP-T), with checkpoints in the run store.

`prepare_finetune` checks everything a user can get wrong (the config against the one
stored under its name, the store, the output folder, the data, the model) and writes
nothing; `train` then trains with transformers' `Trainer` (LoRA through peft when the
config asks for it), uploads every checkpoint the Trainer saves (`checkpoints.py`),
resumes from the latest complete one when the store holds any, and ends with a model
folder any engine loads (LoRA merged into the base), stored and copied to `out`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leap.engines.models import resolve_model
from leap.errors import LeapError
from leap.store import LocalStore
from leap.training.checkpoints import MARKER, TrainingStore
from leap.training.finetune_config import FinetuneConfig
from leap.training.train_set import TrainSet, check_data_folders, load_train_set

log = logging.getLogger("leap")

StepHook = Callable[[dict[str, Any]], None]


@dataclass
class PreparedFinetune:
    """A checked training: its store, where the model goes, and (unless it is already
    finished) the loaded model (with its LoRA adapters), tokenizer and examples."""

    config: FinetuneConfig
    store: TrainingStore
    out: Path
    out_in_store: bool  # `out` is the local store's own copy of the model
    finished: bool = False
    precision: str = "float32"
    model: Any = None
    tokenizer: Any = None
    train_set: TrainSet | None = None


@dataclass
class FinetuneResult:
    name: str
    out: Path
    model_location: str
    report_location: str | None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    already_finished: bool = False


def prepare_finetune(config: FinetuneConfig) -> PreparedFinetune:
    """Check the training and load what it needs; LeapError (one sentence) on a mistake.

    Nothing is written: a wrong config, data folder or model leaves the store untouched.
    """
    store = TrainingStore.open(config.store, config.name)
    store.store.check()
    store.check_config(config)
    out, in_store = _out_folder(config, store)
    prepared = PreparedFinetune(config, store, out, in_store)
    if store.model_complete():
        prepared.finished = True
        return prepared
    if not in_store and out.exists() and any(out.iterdir()):
        raise LeapError(
            f"output folder {out} already holds files: choose another out (--out) or "
            "remove that folder."
        )
    check_data_folders(config.data)  # before the model loads: a typo fails at once
    prepared.precision = training_precision(config.dtype)
    prepared.tokenizer, prepared.model = load_model(config, prepared.precision)
    if config.lora is not None:
        from leap.training.trainer import with_adapters

        prepared.model = with_adapters(prepared.model, config)
    prepared.train_set = load_train_set(
        config.data, prepared.tokenizer, config.model, config.max_length
    )
    return prepared


def _out_folder(config: FinetuneConfig, store: TrainingStore) -> tuple[Path, bool]:
    in_store = None
    if isinstance(store.store, LocalStore):
        in_store = store.store.root.joinpath(*store.key("model").split("/"))
    if config.out is not None:
        out = Path(config.out).expanduser().absolute()
        return out, in_store is not None and out == in_store
    if in_store is not None:
        return in_store, True
    return Path("finetuned", config.name).absolute(), False


def training_precision(dtype: str) -> str:
    """`auto`: bfloat16 where the hardware computes it natively, else float32."""
    if dtype != "auto":
        return dtype
    import torch

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    from leap.engines.transformers.engine import pick_cpu_dtype

    return "bfloat16" if pick_cpu_dtype() == torch.bfloat16 else "float32"


def load_model(config: FinetuneConfig, precision: str) -> tuple[Any, Any]:
    """The tokenizer and the causal LM to train; LeapError when they cannot be loaded."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_model(config.model)
    # A frozen LoRA base may sit in bfloat16; trained weights stay float32 (the Trainer's
    # bf16 is autocast over float32 master weights).
    dtype = torch.bfloat16 if config.lora is not None and precision == "bfloat16" else None
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable model
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeapError(
            f"could not load model {config.model}: {reason[:200]}; check that it is a "
            "complete Hugging Face causal language model folder or hub name."
        ) from None
    return tokenizer, model


def train(prepared: PreparedFinetune, on_step: StepHook | None = None) -> FinetuneResult:
    """Train (or continue, or just report a finished training) and return where it went."""
    config, store = prepared.config, prepared.store
    if prepared.finished:
        return _finished(prepared)
    store.create_or_check(config)
    store.set_aside_incomplete()
    scratch = _scratch(config.name)
    try:
        steps = store.checkpoint_steps()
        resume = store.download_checkpoint(steps[-1], scratch) if steps else None
        resumed_from = steps[-1] if steps else None
        if resumed_from is not None:
            log.info(
                "training %s resumes from its checkpoint of step %d", config.name, resumed_from
            )
        kept = [r for r in store.read_metrics() if r.get("step", 0) <= (resumed_from or 0)]
        from leap.training.trainer import run_trainer

        model, rows = run_trainer(prepared, scratch, resume, kept, on_step)
        final = scratch / "final"
        model.save_pretrained(final)
        prepared.tokenizer.save_pretrained(final)
        last = rows[-1]["step"] if rows else 0
        store.upload_model(final, step=last)
        if not prepared.out_in_store:
            place_folder(final, prepared.out)
        report = write_report(store, config, rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return FinetuneResult(
        config.name, prepared.out, store.location("model"), report, rows, resumed_from
    )


def _finished(prepared: PreparedFinetune) -> FinetuneResult:
    """A training whose model is stored: make sure `out` holds it, change nothing else."""
    store = prepared.store
    out = prepared.out
    if not prepared.out_in_store and not (out / MARKER).is_file():
        if out.exists() and any(out.iterdir()):
            raise LeapError(
                f"training {store.name!r} is finished but output folder {out} holds other "
                "files: choose another out (--out) to get its model there."
            )
        if out.exists():
            out.rmdir()
        store.download_model(out)
    rows = store.read_metrics()
    report = store.location("report.html") if store.store.exists(store.key("report.html")) else None
    return FinetuneResult(
        store.name, out, store.location("model"), report, rows, already_finished=True
    )


def _scratch(name: str) -> Path:
    """A local folder for the Trainer's checkpoints, under the temporary folder ($TMPDIR:
    put it on a fast local disk), emptied first: what a killed training left there is
    stale (the store holds everything it finished)."""
    folder = Path(tempfile.gettempdir()) / "leap-finetune" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def place_folder(source: Path, target: Path) -> None:
    """Copy `source` to `target`, which appears whole (copied beside it, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        if target.exists():
            target.rmdir()  # empty (checked when the training was prepared)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_report(store: TrainingStore, config: FinetuneConfig, rows: list[dict[str, Any]]) -> str:
    from leap.report.training_page import render_training_report

    config_shown = config.model_dump(mode="json", exclude={"store", "out"})
    page = render_training_report(config.name, config_shown, rows, store.location("model"))
    return store.write_report(page)
