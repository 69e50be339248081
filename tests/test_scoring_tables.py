"""The scoring tables: every ending in tests/data/choice_endings.yaml and every answer in
tests/data/math_answers.yaml is extracted and judged as written there (docs/scoring.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leap.benchmarks.problem import Problem
from leap.scoring.answers import score_text

DATA = Path(__file__).parent / "data"
CHOICE = yaml.safe_load((DATA / "choice_endings.yaml").read_text(encoding="utf-8"))
MATH = yaml.safe_load((DATA / "math_answers.yaml").read_text(encoding="utf-8"))


def _problem(kind: str, case: dict[str, Any]) -> Problem:
    if kind == "choice":
        options = tuple(case.get("options", CHOICE["options"]))
        return Problem(
            id="table", question="Which value?", answer=case["gold"], kind="choice", choices=options
        )
    return Problem(id="table", question="Compute it.", answer=case["gold"])


def _method(kind: str, case: dict[str, Any]) -> str:
    """Math cases leave the method implicit: it follows from the verdict."""
    if kind == "choice":
        return case["method"]
    return {"unanswered": "none", "timeout": "timeout"}.get(case["verdict"], "boxed")


CASES = [
    pytest.param("choice", case, id=f"choice-{number:03d}")
    for number, case in enumerate(CHOICE["cases"], start=1)
] + [
    pytest.param("math", case, id=f"math-{number:03d}")
    for number, case in enumerate(MATH["cases"], start=1)
]


def test_the_tables_are_large_enough():
    assert len(CHOICE["cases"]) >= 80
    assert len(MATH["cases"]) >= 60
    verdicts = {case["verdict"] for case in CHOICE["cases"] + MATH["cases"]}
    assert verdicts == {"correct", "wrong", "unanswered", "timeout"}


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_scoring_table(kind: str, case: dict[str, Any]) -> None:
    scored = score_text(case["text"], _problem(kind, case))
    assert scored.answer == case["answer"], case["text"]
    assert scored.verdict == case["verdict"], case["text"]
    assert scored.method == _method(kind, case), case["text"]
    assert scored.correct is (case["verdict"] == "correct")
