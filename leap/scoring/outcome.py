"""One problem at a glance: how many paths are right, the majority answer, and whether the
problem counts as correct, wrong or unanswered.

The same functions serve the solve task's one-line message and the run summary, so the
dashboard and the report never disagree about a problem. Voting is Cons@N's
(`leap.scoring.metrics.majority_answer` with `answers_equivalent`), and the majority is
checked the way Cons@N checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from leap.algorithm.records import FinalRecord
from leap.benchmarks.problem import Problem
from leap.scoring.answers import answers_equivalent, score_text
from leap.scoring.metrics import majority_answer

ProblemVerdict = Literal["correct", "wrong", "unanswered"]
SHOWN_CHARS = 40  # of an answer in a one-line message


@dataclass(frozen=True, slots=True)
class ProblemOutcome:
    """The final answers of one problem's paths, summed up.

    A problem with no extractable answer on any path is "unanswered"; otherwise it is
    "correct" or "wrong" by its majority answer (what Cons@N counts).
    """

    problem_id: str
    gold: str
    paths: int
    correct_paths: int
    answered_paths: int
    majority: str | None
    majority_correct: bool

    @property
    def verdict(self) -> ProblemVerdict:
        if self.majority is None:
            return "unanswered"
        return "correct" if self.majority_correct else "wrong"

    def message(self) -> str:
        """One line for the dashboard, e.g. `2/4 correct, majority 121.20 (gold 35)`."""
        head = f"{self.correct_paths}/{self.paths} correct"
        gold = _shown(self.gold)
        if self.majority is None:
            return f"{head}, no path gave an answer (gold {gold})"
        return f"{head}, majority {_shown(self.majority)} (gold {gold})"


def majority_is_correct(answer: str, problem: Problem) -> bool:
    """Whether an extracted answer is right, checked as Cons@N checks a majority answer."""
    return score_text(f"\\boxed{{{answer}}}", problem).correct


def problem_outcome(
    problem: Problem, answers: Sequence[str | None], correct: Sequence[bool]
) -> ProblemOutcome:
    """The outcome of `problem` from each path's extracted answer and whether it is right,
    in path order (a tie between equally large groups goes to the earliest path)."""
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} verdicts for {problem.id}")
    majority = majority_answer(answers, lambda a, b: answers_equivalent(a, b, problem.kind))
    return ProblemOutcome(
        problem_id=problem.id,
        gold=problem.answer,
        paths=len(answers),
        correct_paths=sum(map(bool, correct)),
        answered_paths=sum(answer is not None for answer in answers),
        majority=majority,
        majority_correct=majority is not None and majority_is_correct(majority, problem),
    )


def final_outcome(problem: Problem, final: FinalRecord) -> ProblemOutcome:
    """The outcome of a solved problem, scored from its final record alone."""
    answers = sorted(final.answers, key=lambda answer: answer.path)
    scored = [score_text(answer.own_text, problem) for answer in answers]
    return problem_outcome(problem, [s.answer for s in scored], [s.correct for s in scored])


def _shown(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SHOWN_CHARS else flat[: SHOWN_CHARS - 1] + "…"
