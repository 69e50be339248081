"""Answer extraction and checking.

Callers pass only what a path itself wrote (never the prompt or injected peer blocks), so
an answer quoted from a peer can never be credited to the path.

Math answers: the content of the last ``\\boxed{...}`` is compared with the gold answer by
math-verify. Numeric forms are compared by value, so "084" equals "84", "0.5" equals
"\\frac{1}{2}" and "1,000" equals "1000".

Choice answers: see `extract_choice`.

math-verify guards its own work with ``signal.alarm``, which only works in the main thread.
Scoring runs inside worker threads (Prefect tasks), so those guards are switched off and
`math_equal` enforces its own time limit with a daemon thread instead.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from leap.benchmarks.problem import CHOICE_LETTERS, Problem, ProblemKind
from leap.errors import LeapError

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")

# "Answer: C", "answer is C", 'ANSWER: "C"', "**Answer:** C", "The answer is (C)": the word
# "answer" in any case, then the letter (uppercase only, outside a box).
_ANSWER_STATEMENT = re.compile(
    r"\b(?i:answer)(?:\s+(?i:is))?\s*(?:\*\*)?\s*:?\s*(?:\*\*)?\s*"
    r"(?:(?i:option|choice)\s+)?[\"'(\[*]*\s*([A-Z])(?!\w)"
)
# A parenthesised letter not glued to a word, so "P(A)" or "f(C)" do not count.
_PARENTHESISED = re.compile(r"(?<![\w\\])\(([A-Z])\)")
# LaTeX wrappers a model may put around a letter inside a box.
_WRAPPER = re.compile(r"^\\(?:text|textbf|mathrm|mathbf|textrm)\s*\{(.*)\}$", re.DOTALL)
# Characters around a boxed letter that do not change it: "$(C).$" reads as C.
_LETTER_NOISE = " \t\n$()[].:"
# "A" and "I" are also English words. After "Answer: A" these words still read as a
# committed letter ("A because ..."); any other lowercase word means prose ("A ball ...").
_CONNECTIVES = frozenset(
    "and as because but for given is since so then therefore thus was which with".split()
)
_NEXT_WORD = re.compile(r"[ \t]+([a-z]+)")


def _boxes(text: str) -> Iterator[str | None]:
    """Yield the content of each box in order; None for a box that never closes."""
    for match in _BOX_OPEN.finditer(text):
        yield _braced_content(text, match.end())


def _braced_content(text: str, start: int) -> str | None:
    """Return text[start:end] up to the brace closing an already opened one, or None.

    A backslash escapes the next character, so ``\\{`` and ``\\}`` are not counted.
    """
    depth = 1
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    return None


def last_boxed(text: str) -> str | None:
    """Return the content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in `text`.

    Nested braces are kept in the content. Returns None when there is no box or when the
    last box is never closed (a truncated answer is not an answer, even if an earlier
    box was complete).
    """
    last: str | None = None
    for content in _boxes(text):
        last = content
    return last


def _letter_in_box(content: str, letters: str) -> str | None:
    """Read a single choice letter from box content such as "C", "\\text{(c)}", "C."."""
    value = content.strip(_LETTER_NOISE)
    while (match := _WRAPPER.match(value)) is not None:
        value = match.group(1).strip(_LETTER_NOISE)
    if len(value) == 1 and value.upper() in letters:
        return value.upper()
    return None


def _reads_as_prose(text: str, letter: str, end: int) -> bool:
    """True when a capital "A" or "I" at text[end - 1] starts a sentence, not an answer."""
    if letter not in "AI":
        return False
    following = _NEXT_WORD.match(text, end)
    return following is not None and following.group(1) not in _CONNECTIVES


def extract_choice(text: str, letters: str = "ABCD") -> str | None:
    """Return the option letter `text` commits to, or None.

    Three kinds of evidence, strongest first; the strongest kind present decides and,
    within it, the last occurrence wins:
    1. a box: ``\\boxed{C}``, ``\\boxed{\\text{C}}``, ``\\boxed{(C)}`` (lowercase accepted);
    2. an answer statement: "Answer: C", "the answer is (C)", 'ANSWER: "C"', "**Answer:** C";
    3. a bare parenthesised letter: "(C)".
    Outside boxes the letter must be uppercase and one of `letters`; "Answer: A ball ..."
    is read as prose, not as option A.
    """
    boxed = [_letter_in_box(content, letters) for content in _boxes(text) if content]
    boxed_letters = [letter for letter in boxed if letter is not None]
    if boxed_letters:
        return boxed_letters[-1]
    stated = [
        m.group(1)
        for m in _ANSWER_STATEMENT.finditer(text)
        if m.group(1) in letters and not _reads_as_prose(text, m.group(1), m.end())
    ]
    if stated:
        return stated[-1]
    bare = [m.group(1) for m in _PARENTHESISED.finditer(text) if m.group(1) in letters]
    return bare[-1] if bare else None


def _not_timeout_notice(record: logging.LogRecord) -> bool:
    """Drop math-verify's notice that its own timeout is off: `math_equal` provides one."""
    return "Timeout is disabled" not in record.getMessage()


@functools.cache
def _math_verify() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Import math-verify once (it pulls in sympy, which is slow to import)."""
    from math_verify import parse, verify

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_not_timeout_notice)
    return parse, verify


def _as_latex(answer: str) -> str:
    """Put an answer in a box so math-verify's LaTeX extraction reads all of it."""
    value = answer.strip()
    if len(value) >= 2 and value.startswith("$") and value.endswith("$") and value[-2] != "\\":
        value = value.strip("$").strip()
    if "\\boxed" in value:
        return value
    return f"\\boxed{{{value}}}"


def _check(gold: str, predicted: str) -> bool:
    """Run math-verify with its signal-based timeouts off (gold first: it is not symmetric)."""
    parse, verify = _math_verify()
    gold_parsed = parse(_as_latex(gold), parsing_timeout=None)
    predicted_parsed = parse(_as_latex(predicted), parsing_timeout=None)
    if not gold_parsed or not predicted_parsed:
        return False
    return bool(verify(gold_parsed, predicted_parsed, timeout_seconds=None))


def math_equal(gold: str, predicted: str, timeout_s: float = 5.0) -> bool:
    """True when `predicted` is mathematically equal to `gold` according to math-verify.

    Safe to call from any thread. The check runs in a daemon thread; if it has not finished
    after `timeout_s` seconds the answer counts as wrong (the thread is left to finish on
    its own and cannot keep the process alive). Errors inside math-verify also count as
    wrong. Identical strings (after stripping) are equal without calling math-verify.
    """
    if gold.strip() == predicted.strip():
        return True
    if not gold.strip() or not predicted.strip():
        return False
    _math_verify()  # import here, so the import time does not count against the timeout
    outcome: list[bool] = []

    def run() -> None:
        try:
            outcome.append(_check(gold, predicted))
        except Exception:  # math-verify or sympy choked on the input: not a match
            outcome.append(False)

    worker = threading.Thread(target=run, name="leap-math-verify", daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(outcome) and outcome[0]


@dataclass(frozen=True)
class Scored:
    """The answer extracted from one path and whether it matches the gold answer."""

    answer: str | None
    correct: bool


def score_text(own_text: str, problem: Problem) -> Scored:
    """Extract and check the answer in what a path wrote itself (prompt and peers excluded).

    An empty box counts as no answer.
    """
    if problem.kind == "math":
        content = last_boxed(own_text)
        answer = content.strip() if content and content.strip() else None
        correct = answer is not None and math_equal(problem.answer, answer)
        return Scored(answer, correct)
    if problem.kind == "choice":
        letter = extract_choice(own_text, CHOICE_LETTERS[: len(problem.choices)])
        return Scored(letter, letter is not None and letter == problem.answer)
    raise LeapError(f"problem {problem.id!r} has unknown kind {problem.kind!r}; use math or choice")


def answers_equivalent(a: str | None, b: str | None, kind: ProblemKind) -> bool:
    """True when two extracted answers are the same answer (used for majority voting).

    None never equals anything. Letters compare case-insensitively. Math answers are equal
    when math-verify accepts either one as gold for the other, which makes the relation
    symmetric.
    """
    if a is None or b is None:
        return False
    if kind == "choice":
        return a.strip().upper() == b.strip().upper()
    return math_equal(a, b) or math_equal(b, a)
