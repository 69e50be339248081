"""The unit of work: one benchmark problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ProblemKind = Literal["math", "choice"]
CHOICE_LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True, slots=True)
class Problem:
    """One question with its gold answer.

    `kind="math"`: `answer` is the gold answer as LaTeX or plain text ("84", "\\frac{1}{2}").
    `kind="choice"`: `choices` holds the options in the order shown to the model, and
    `answer` is the letter of the correct one ("C").
    """

    id: str
    question: str
    answer: str
    kind: ProblemKind = "math"
    choices: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a problem needs a non-empty id")
        if not self.question.strip():
            raise ValueError(f"problem {self.id!r} has an empty question")
        if not str(self.answer).strip():
            raise ValueError(f"problem {self.id!r} has an empty answer")
        if self.kind == "choice":
            letters = CHOICE_LETTERS[: len(self.choices)]
            if len(self.choices) < 2:
                raise ValueError(f"choice problem {self.id!r} needs at least two choices")
            if self.answer not in letters:
                raise ValueError(
                    f"choice problem {self.id!r} has answer {self.answer!r}, "
                    f"which is not one of {', '.join(letters)}"
                )
