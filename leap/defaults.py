"""Defaults every layer shares, declared once: the model a run uses and where it is stored."""

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_STORE = "./runs"
