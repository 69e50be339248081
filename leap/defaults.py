"""Defaults every layer shares, declared once: the model a run uses, where it is stored,
and the LeaP sizes that suit that model on a CPU."""

from __future__ import annotations

from typing import Any

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_STORE = "./runs"

# Sizes the default CPU model finishes in seconds per problem. They fill in the LeaP
# settings a run of the default model leaves out (on the command line, in a spec file,
# in a deployment's parameters); the paper's sizes stay the defaults for other models.
CPU_PRESET: dict[str, Any] = {
    "n_paths": 4,
    "tokens_per_round": 96,
    "max_tokens": 288,
    "summary_max_tokens": 48,
    "answer_max_tokens": 24,
    "top_k": 2,
}


def leap_defaults_for(model: str) -> dict[str, Any]:
    """The LeaP settings a run of `model` gets for those it does not set itself."""
    return dict(CPU_PRESET) if model == DEFAULT_MODEL else {}
