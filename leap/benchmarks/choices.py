"""Multiple-choice options: safe parsing and the seeded per-problem shuffle.

Public GPQA copies list the correct option first (answer "A" on every row), so a loader
that keeps the source order builds a benchmark passable by always answering A. Each
problem's options are therefore reordered by a permutation derived from the run seed and
the problem id with SHA-256 (not Python's `hash()`, which changes between processes).
"""

from __future__ import annotations

import ast
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from leap.benchmarks.problem import CHOICE_LETTERS, Problem

logger = logging.getLogger("leap")

# A dict-looking string longer than this is not an option list; refuse before parsing.
_MAX_OPTIONS_TEXT = 100_000
# Fewer rows than this can share one answer letter by chance; no warning for them.
_FEW_ROWS = 4


@dataclass(frozen=True)
class Options:
    """Option texts in display order, with the key each had in the source."""

    texts: tuple[str, ...]
    keys: tuple[str, ...]

    def index_of_answer(self, answer: str) -> int | None:
        """Position of the correct option, given its key/letter or its exact text."""
        if answer in self.keys:
            return self.keys.index(answer)
        if answer.upper() in self.keys:
            return self.keys.index(answer.upper())
        if answer in self.texts:
            return self.texts.index(answer)
        return None


def parse_options(value: Any) -> Options:
    """Turn a dict, a list, or a string that looks like one into `Options`.

    Strings are parsed with `ast.literal_eval`, which evaluates literals only, so a
    string holding code is rejected rather than run. Raises ValueError (with a short
    reason) unless the result is a dict or list of 2-10 non-empty strings.
    """
    if isinstance(value, str):
        value = _literal(value)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("has option keys that are not strings")
        keys = list(value)
        if all(len(key) == 1 and key in CHOICE_LETTERS for key in keys):
            keys.sort()
        texts = [value[key] for key in keys]
    elif isinstance(value, list | tuple):
        texts = list(value)
        keys = list(CHOICE_LETTERS[: len(texts)])
    else:
        raise ValueError("is not a dict or a list of options")
    if not all(isinstance(text, str) and text.strip() for text in texts):
        raise ValueError("has an option that is not a non-empty string")
    if not 2 <= len(texts) <= len(CHOICE_LETTERS):
        raise ValueError(f"needs 2 to {len(CHOICE_LETTERS)} options, not {len(texts)}")
    return Options(texts=tuple(text.strip() for text in texts), keys=tuple(keys))


def _literal(text: str) -> Any:
    stripped = text.strip()
    if len(stripped) > _MAX_OPTIONS_TEXT or stripped[:1] not in ("{", "["):
        raise ValueError("is a string that does not look like a dict or a list")
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError("is a string that is not a plain dict or list literal") from exc


def option_order(count: int, seed: int, problem_id: str) -> list[int]:
    """The seeded permutation for one problem: source positions in display order."""

    def rank(position: int) -> bytes:
        return hashlib.sha256(f"{seed}\x1f{problem_id}\x1f{position}".encode()).digest()

    return sorted(range(count), key=rank)


def shuffle_choices(problem: Problem, seed: int) -> Problem:
    """Return `problem` with its options reordered and its answer letter moved along.

    The source order is kept in metadata["choice_order"] (source position of each
    displayed option) so a result can always be traced back to the source row.
    """
    order = option_order(len(problem.choices), seed, problem.id)
    correct = CHOICE_LETTERS.index(problem.answer)
    return replace(
        problem,
        choices=tuple(problem.choices[position] for position in order),
        answer=CHOICE_LETTERS[order.index(correct)],
        metadata={**problem.metadata, "choice_order": order},
    )


def warn_if_answers_never_move(problems: Sequence[Problem], benchmark: str) -> None:
    """Log a warning when every choice problem has its correct option at one position.

    Such a benchmark (the public GPQA copies list the correct option first) is passed by
    always answering that letter; a seeded shuffle of the options fixes it.
    """
    letters = {problem.answer for problem in problems if problem.kind == "choice"}
    count = sum(problem.kind == "choice" for problem in problems)
    if count >= _FEW_ROWS and len(letters) == 1:
        (letter,) = letters
        logger.warning(
            "benchmark %s: the correct option is (%s) in all %d questions, so always "
            "answering %s scores 100%%; shuffle the options (shuffle_choices, with a seed).",
            benchmark,
            letter,
            count,
            letter,
        )
