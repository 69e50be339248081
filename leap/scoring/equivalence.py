"""Whether two math answers are equal, with a bound on the time and memory it may take.

A comparison goes, in order: identical strings are equal; two plain integers are compared
by value (AIME answers, at no cost); an answer too big to evaluate exactly (see guard.py)
gives `timeout`; everything else goes to math-verify in a worker process that is killed
when it runs out of time (see worker.py). math-verify compares numbers by value, so "084"
equals "84", "0.5" equals "\\frac{1}{2}" and "1,000" equals "1000".

Outcomes are remembered per (gold, predicted, timeout), so a majority vote that compares
the same answers again pays once, also for a timeout.
"""

from __future__ import annotations

import functools
import logging
import re

from leap.scoring.guard import too_big
from leap.scoring.worker import Outcome, shared_pool

logger = logging.getLogger("leap")

DEFAULT_TIMEOUT_S = 5.0

# Integers short enough for Python's int() (which refuses more than 4300 digits).
_PLAIN_INTEGER = re.compile(r"[+-]?\d{1,1000}")


def compare_math(gold: str, predicted: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Outcome:
    """ "equal", "different" or "timeout" (the check would not finish within `timeout_s`
    seconds or the memory budget). Safe to call from any thread.

    math-verify is not symmetric: `gold` is the reference, `predicted` the model's answer.
    """
    gold, predicted = gold.strip(), predicted.strip()
    if gold == predicted:
        return "equal"
    if not gold or not predicted:
        return "different"
    if _PLAIN_INTEGER.fullmatch(gold) and _PLAIN_INTEGER.fullmatch(predicted):
        return "equal" if int(gold) == int(predicted) else "different"
    return _bounded_check(gold, predicted, timeout_s)


@functools.lru_cache(maxsize=4096)
def _bounded_check(gold: str, predicted: str, timeout_s: float) -> Outcome:
    for answer in (gold, predicted):
        reason = too_big(answer)
        if reason is not None:
            logger.info("not evaluating the answer %.80r: it holds %s", answer, reason)
            return "timeout"
    return shared_pool().check(gold, predicted, timeout_s)


def math_equal(gold: str, predicted: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when `predicted` is mathematically equal to `gold` according to math-verify.

    A check that times out or fails inside math-verify counts as not equal; use
    `compare_math` to tell a timeout apart.
    """
    return compare_math(gold, predicted, timeout_s) == "equal"
