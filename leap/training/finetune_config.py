"""The fine-tuning config: what `leap finetune CONFIG.yaml` trains, on what, and where.

One type, loadable from YAML, checked when it is built: an unknown key, a bad value or a
contradiction (both `max_steps` and `epochs`) is one sentence naming the field. Two
configs of one training `name` must agree on everything that changes what is computed
(`decisive_fields`); `store` and `out` only say where things go.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leap.defaults import DEFAULT_MODEL, DEFAULT_STORE
from leap.errors import LeapError, describe_validation_error, load_yaml_mapping

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Where things go: a training may continue with other values of these.
_NOT_DECISIVE = {"store", "out"}
TrainingDtype = Literal["auto", "float32", "bfloat16"]


class LoraSettings(BaseModel):
    """LoRA adapters (peft) on the listed modules; merged into the base model at the end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(16, gt=0, description="rank of each adapter")
    alpha: int = Field(32, gt=0, description="scale numerator: updates are scaled by alpha/r")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="names of the linear layers that get adapters",
    )


class FinetuneConfig(BaseModel):
    """A supervised fine-tuning of `model` on the SFT data sets in `data` (docs/training.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, description="the training's id in the store")
    data: list[str] = Field(min_length=1, description="SFT data set folders")
    model: str = Field(DEFAULT_MODEL, description="model folder or hub name to start from")
    store: str = Field(DEFAULT_STORE, description="folder or s3://bucket/prefix")
    out: str | None = Field(
        None,
        description="local folder of the final model (default: the store's copy when the "
        "store is local, else ./finetuned/<name>)",
    )
    lora: LoraSettings | None = Field(None, description="null: full fine-tuning")
    learning_rate: float = Field(1e-5, gt=0)
    warmup_steps: int = Field(0, ge=0)
    max_steps: int | None = Field(None, gt=0, description="optimizer steps (or give epochs)")
    epochs: float | None = Field(None, gt=0, description="passes over the data (default 1)")
    batch_size: int = Field(4, gt=0, description="examples per micro-batch")
    gradient_accumulation: int = Field(1, gt=0, description="micro-batches per optimizer step")
    max_length: int = Field(1024, ge=8, description="longer examples are cut to this many tokens")
    save_steps: int = Field(50, gt=0, description="a checkpoint every this many steps")
    seed: int = 0
    gradient_checkpointing: bool = False
    dtype: TrainingDtype = Field(
        "auto", description="auto: bfloat16 where the hardware computes it, else float32"
    )

    @model_validator(mode="before")
    @classmethod
    def _data_as_list(cls, data: Any) -> Any:
        """`data: folder` is the same as `data: [folder]`."""
        if isinstance(data, dict) and isinstance(data.get("data"), str):
            return {**data, "data": [data["data"]]}
        return data

    @model_validator(mode="after")
    def _one_length(self) -> FinetuneConfig:
        if self.max_steps is not None and self.epochs is not None:
            raise ValueError("give max_steps or epochs, not both")
        return self

    @property
    def passes(self) -> float:
        """Epochs to train when `max_steps` is not given."""
        return self.epochs if self.epochs is not None else 1.0

    def decisive_fields(self) -> dict[str, Any]:
        """The fields that change what is trained, as JSON."""
        return self.model_dump(mode="json", exclude=_NOT_DECISIVE)

    def content_hash(self) -> str:
        text = json.dumps(self.decisive_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def changed_fields(self, other: FinetuneConfig) -> list[str]:
        """The decisive fields whose values differ between the two configs."""
        a, b = self.decisive_fields(), other.decisive_fields()
        return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def parse_finetune_config(data: dict[str, Any], source: str = "finetune config") -> FinetuneConfig:
    """A checked config; LeapError (one sentence naming the field) when it is wrong."""
    try:
        return FinetuneConfig.model_validate(data)
    except ValidationError as exc:
        unknown = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            key = ".".join(str(part) for part in unknown[0])
            owner = LoraSettings if len(unknown[0]) > 1 else FinetuneConfig
            raise LeapError(
                f"{source}: unknown key {key!r}: the keys are "
                f"{', '.join(owner.model_fields)} (docs/training.md)."
            ) from None
        message = describe_validation_error(exc, source)
        name = str(data.get("name", "")) if isinstance(data, dict) else ""
        if "invalid name" in message and name and not re.match(_NAME, name):
            message = (
                f"{source}: invalid name {name!r}: use 1-64 letters, digits, '.', '_' "
                "and '-', starting with a letter or digit."
            )
        raise LeapError(message) from None


def load_finetune_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> FinetuneConfig:
    """The config in the YAML file `path`, with `overrides` (e.g. --store, --out) on top.

    Relative data folders are taken relative to the working directory, as on the CLI.
    """
    data = load_yaml_mapping(path, "finetune config")
    data.update(overrides or {})
    return parse_finetune_config(data, source=str(path))
