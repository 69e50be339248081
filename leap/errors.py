"""The one error type a user ever sees.

Anything raised as `LeapError` is a mistake in the user's input or environment (config,
dataset, store, engine). Its message is one sentence that says what was wrong and what
to do; the CLI prints it without a traceback and exits non-zero. The two boundaries every
file of settings crosses live here too: reading YAML and describing a validation error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class LeapError(Exception):
    """A user-facing error: one clear sentence, no traceback."""


class StoreError(LeapError):
    """The round store could not be read or written.

    `transient` says whether trying again soon may succeed (a server restart, a network
    blip); a full disk, a refused permission or a missing bucket wait for the user.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ObjectExistsError(StoreError):
    """Another writer already stored this object (write-once conflict)."""


def load_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping a YAML file of settings holds; `what` names the file ("config file")."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise LeapError(f"cannot read {what} {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise LeapError(f"{what} {path} is not valid YAML{where}: fix its syntax.") from None
    if not isinstance(data, dict):
        raise LeapError(f"{what} {path} must hold a mapping of settings, not a list or text.")
    return data


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """The first problem pydantic found, as one sentence naming the field."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "config"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = error.get("input")
    shown = "" if isinstance(value, dict) or field == "config" else f" (got {value!r})"
    more = len(exc.errors()) - 1
    tail = f"; {more} more problem(s) after this one" if more else ""
    return f"{source}: invalid {field}{shown}: {message}{tail}."
