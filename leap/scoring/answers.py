"""Score what a path wrote: find its answer, check it, and say how it was found.

Callers pass only what a path itself wrote (never the prompt or injected peer blocks), so
an answer quoted from a peer can never be credited to the path. The rules are written
down in docs/scoring.md.

Math answers: the last ``\\boxed{...}``, or several boxes read as one answer when the gold
answer has several parts (see parts.py), checked with math-verify in a worker process
under a time and memory bound (see equivalence.py). Choice answers: see choices.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leap.benchmarks.problem import CHOICE_LETTERS, Problem, ProblemKind
from leap.errors import LeapError
from leap.scoring.boxes import last_boxed
from leap.scoring.choices import extract_choice, find_choice
from leap.scoring.equivalence import compare_math, math_equal
from leap.scoring.parts import math_answer

__all__ = [
    "Method",
    "Scored",
    "Verdict",
    "answers_equivalent",
    "extract_choice",
    "find_answer",
    "last_boxed",
    "math_answer",
    "math_equal",
    "score_text",
]

# How a path's answer was found: "boxed" (a box, or for math the final run of boxes),
# "answer-line" ("Answer: C"), "phrase" ("the correct option is C"), "none" (no answer),
# "timeout" (an answer was found but checking it ran out of time or memory).
Method = Literal["boxed", "answer-line", "phrase", "none", "timeout"]
Verdict = Literal["correct", "wrong", "unanswered", "timeout"]


@dataclass(frozen=True)
class Scored:
    """The answer extracted from one path, whether it matches the gold answer, and how it
    was found (`method`). `correct` is False for "none" and "timeout"."""

    answer: str | None
    correct: bool
    method: Method

    @property
    def verdict(self) -> Verdict:
        """ "correct", "wrong", "unanswered" (no answer found) or "timeout" (not checkable)."""
        if self.method == "none":
            return "unanswered"
        if self.method == "timeout":
            return "timeout"
        return "correct" if self.correct else "wrong"


def score_text(own_text: str, problem: Problem) -> Scored:
    """Extract and check the answer in what a path wrote itself (prompt and peers excluded).

    An empty box counts as no answer. A math check never takes much longer than its
    timeout (5 s); one that would is reported with method "timeout".
    """
    if problem.kind == "math":
        answer = math_answer(own_text, problem.answer)
        if answer is None:
            return Scored(None, False, "none")
        outcome = compare_math(problem.answer, answer)
        if outcome == "timeout":
            return Scored(answer, False, "timeout")
        return Scored(answer, outcome == "equal", "boxed")
    if problem.kind == "choice":
        letters = CHOICE_LETTERS[: len(problem.choices)]
        found = find_choice(own_text, letters, problem.choices)
        if found is None:
            return Scored(None, False, "none")
        return Scored(found.letter, found.letter == problem.answer, found.method)
    raise LeapError(f"problem {problem.id!r} has unknown kind {problem.kind!r}; use math or choice")


def find_answer(own_text: str, problem: Problem) -> str | None:
    """The answer `score_text` would check in this text, without checking it (cheap: used
    for every path after every round)."""
    if problem.kind == "math":
        return math_answer(own_text, problem.answer)
    letters = CHOICE_LETTERS[: len(problem.choices)]
    found = find_choice(own_text, letters, problem.choices)
    return None if found is None else found.letter


def answers_equivalent(a: str | None, b: str | None, kind: ProblemKind) -> bool:
    """True when two extracted answers are the same answer (used for majority voting).

    None never equals anything. Letters compare case-insensitively. Math answers are equal
    when math-verify accepts either one as gold for the other, which makes the relation
    symmetric; a comparison that times out counts as not equal.
    """
    if a is None or b is None:
        return False
    if kind == "choice":
        return a.strip().upper() == b.strip().upper()
    return math_equal(a, b) or math_equal(b, a)
