"""Turn source rows into validated `Problem`s, naming the row and field of any bad one."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leap.benchmarks.choices import parse_options
from leap.benchmarks.declarations import FieldMap
from leap.benchmarks.problem import CHOICE_LETTERS, Problem, ProblemKind
from leap.errors import LeapError

logger = logging.getLogger("leap")

_AIME_URL = re.compile(r"(\d{4})_AIME_(I{1,2})_Problems/Problem_(\d+)")
_ROMAN = {"1": "I", "2": "II", "I": "I", "II": "II"}
# Ids become folder names in the run store, so they must be safe there.
_UNSAFE_ID = re.compile(r"[/\\\x00-\x1f]")


class InvalidRow(ValueError):
    """One row cannot become a problem; `field` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class NormalizedRows:
    problems: list[Problem]
    skipped: int


def normalize_rows(
    rows: Sequence[Any],
    *,
    source: str,
    fields: FieldMap,
    kind: ProblemKind,
    skip_invalid: bool = False,
    option_count: int | None = None,
) -> NormalizedRows:
    """Validate every row and build problems in source order.

    A bad row (no question, no answer, repeated id, a choice answer that is not one of
    the choices, unreadable options, a number of options other than `option_count`)
    raises LeapError naming `source`, the 1-based row and the field; with `skip_invalid`
    it is logged as a warning and left out instead.
    """
    problems: list[Problem] = []
    first_row_of: dict[str, int] = {}
    skipped = 0
    for row_number, row in enumerate(rows, start=1):
        try:
            problem = _row_to_problem(row, row_number, fields, kind, option_count)
            if problem.id in first_row_of:
                raise InvalidRow(
                    _names(fields.id),
                    f"repeats id {problem.id!r} already used by row {first_row_of[problem.id]}",
                )
        except InvalidRow as bad:
            message = f"{source} row {row_number}: field {bad.field} {bad.reason}"
            if not skip_invalid:
                raise LeapError(
                    f"{message}; fix the row or load with skip_invalid to leave such rows out."
                ) from None
            logger.warning("skipping invalid row: %s", message)
            skipped += 1
            continue
        first_row_of[problem.id] = row_number
        problems.append(problem)
    if skipped:
        logger.warning("skipped %d invalid rows of %s", skipped, source)
    return NormalizedRows(problems=problems, skipped=skipped)


def _row_to_problem(
    row: Any, row_number: int, fields: FieldMap, kind: ProblemKind, option_count: int | None
) -> Problem:
    if not isinstance(row, dict):
        raise InvalidRow("(row)", "is not an object with named fields")
    question = _first_text(row, fields.question)
    if question is None:
        raise InvalidRow(_names(fields.question), "is missing or empty")
    problem_id = _problem_id(row, row_number, fields)
    metadata = _metadata(row, fields)
    if kind == "choice":
        choices, answer = _choices_and_answer(row, fields, option_count)
    else:
        choices = ()
        answer = _first_text(row, fields.answer)
        if answer is None:
            raise InvalidRow(_names(fields.answer), "is missing or empty")
    try:
        return Problem(
            id=problem_id,
            question=question,
            answer=answer,
            kind=kind,
            choices=choices,
            metadata=metadata,
        )
    except ValueError as exc:
        raise InvalidRow("(row)", f"is not a valid problem ({exc})") from exc


def _choices_and_answer(
    row: dict[str, Any], fields: FieldMap, option_count: int | None
) -> tuple[tuple[str, ...], str]:
    column = next((name for name in fields.choices if row.get(name) is not None), None)
    if column is not None:
        try:
            options = parse_options(row[column])
        except ValueError as exc:
            raise InvalidRow(repr(column), str(exc)) from exc
        if option_count is not None and len(options.texts) != option_count:
            raise InvalidRow(
                repr(column),
                f"has {len(options.texts)} options, but every question of this benchmark "
                f"has {option_count}",
            )
        answer = _first_text(row, fields.answer)
        if answer is None:
            raise InvalidRow(_names(fields.answer), "is missing or empty")
        index = options.index_of_answer(answer)
        if index is None:
            raise InvalidRow(
                _names(fields.answer), f"is {answer!r}, which is not among the choices"
            )
        return options.texts, CHOICE_LETTERS[index]
    if fields.option_columns:
        texts = []
        for name in fields.option_columns:
            text = _text(row.get(name))
            if text is None:
                raise InvalidRow(repr(name), "is missing or empty")
            texts.append(text)
        # Declared option columns list the correct option first.
        return tuple(texts), CHOICE_LETTERS[0]
    raise InvalidRow(_names(fields.choices), "is missing, so the row has no choices")


def _problem_id(row: dict[str, Any], row_number: int, fields: FieldMap) -> str:
    problem_id = _aime_id(row) if fields.aime_ids else None
    problem_id = problem_id or _first_text(row, fields.id)
    problem_id = problem_id or f"{fields.id_prefix}-{row_number}"
    if _UNSAFE_ID.search(problem_id) or problem_id in (".", ".."):
        raise InvalidRow(
            _names(fields.id), f"is {problem_id!r}; ids may not hold slashes or control characters"
        )
    return problem_id


def _aime_id(row: dict[str, Any]) -> str | None:
    """AIME ids like "2024-II-7", from contest fields or an AoPS problem url."""
    year, contest, number = (_text(row.get(k)) for k in ("year", "aime_number", "problem_number"))
    if year and number and contest in _ROMAN:
        # Contests have problems 1-15; the public AIME 2024 copy writes problem 15 as 0.
        number = "15" if number == "0" else number
        return f"{year}-{_ROMAN[contest]}-{number}"
    match = _AIME_URL.search(_text(row.get("url")) or "")
    if match:
        return "-".join(match.groups())
    return None


def _metadata(row: dict[str, Any], fields: FieldMap) -> dict[str, Any]:
    metadata = {}
    for key, candidates in fields.metadata:
        value = next((row[name] for name in candidates if row.get(name) not in (None, "")), None)
        if value is not None:
            metadata[key] = value
    return metadata


def _first_text(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        text = _text(row.get(name))
        if text is not None:
            return text
    return None


def _text(value: Any) -> str | None:
    """A cell as stripped text; None for missing, empty or non-scalar cells."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float):
        if value != value:  # NaN, as Parquet/CSV tools write for a missing cell
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


def _names(candidates: tuple[str, ...]) -> str:
    return " or ".join(repr(name) for name in candidates)
