"""The math-verify call itself; it runs inside the checking worker process (see worker.py).

math-verify guards its own work with ``signal.alarm``, which only works in a main thread
and cannot stop sympy's big-integer work anyway. Its guards are switched off here; the
worker process is what bounds a check in time and memory.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any


def _not_timeout_notice(record: logging.LogRecord) -> bool:
    """Drop math-verify's notice that its own timeout is off: the worker provides one."""
    return "Timeout is disabled" not in record.getMessage()


@functools.cache
def load() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Import math-verify once (it pulls in sympy, which is slow to import)."""
    from math_verify import parse, verify

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_not_timeout_notice)
    return parse, verify


def as_latex(answer: str) -> str:
    """Put an answer in a box so math-verify's LaTeX extraction reads all of it."""
    value = answer.strip()
    if len(value) >= 2 and value.startswith("$") and value.endswith("$") and value[-2] != "\\":
        value = value.strip("$").strip()
    if "\\boxed" in value:
        return value
    return f"\\boxed{{{value}}}"


def check(gold: str, predicted: str) -> bool:
    """True when math-verify accepts `predicted` for `gold` (gold first: it is not symmetric).

    Unbounded in time and memory: call it only inside the worker process.
    """
    parse, verify = load()
    gold_parsed = parse(as_latex(gold), parsing_timeout=None)
    predicted_parsed = parse(as_latex(predicted), parsing_timeout=None)
    if not gold_parsed or not predicted_parsed:
        return False
    return bool(verify(gold_parsed, predicted_parsed, timeout_seconds=None))
