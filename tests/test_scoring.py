"""Tests for leap.scoring.answers: box extraction, choice letters, math-verify checks.

The large tables of endings and answers are in test_scoring_tables.py; the time and
memory bound of math checks in test_scoring_bounds.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import leap.scoring.answers as scoring
import leap.scoring.equivalence as equivalence
from leap.benchmarks.problem import Problem
from leap.errors import LeapError
from leap.scoring.answers import (
    Scored,
    answers_equivalent,
    extract_choice,
    last_boxed,
    math_equal,
    score_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so the answer is \boxed{84}.", "84"),
        (r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{1}{\sqrt{2}}"),  # nested braces
        (r"\boxed{{a}{b}{{c}}}", "{a}{b}{{c}}"),
        (r"first \boxed{1}, then \boxed{2}, finally \boxed{3}", "3"),  # last wins
        (r"\boxed{7} and \fbox{8}", "8"),
        (r"\fbox{x+1}", "x+1"),
        (r"\boxed {5}", "5"),  # space before the brace
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces are not structure
        (r"\boxed{}", ""),
        (r"\boxed{\boxed{9}}", "9"),  # the innermost box starts last
        ("no box here", None),
        (r"\boxed{12", None),  # unclosed
        (r"\boxed{1} then \boxed{2", None),  # the last box is unclosed: no answer
        (r"\boxed{\frac{1}{2}", None),
        (r"\boxedx{3}", None),
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"\boxed{C}", "C"),
        (r"$\boxed{\text{C}}$", "C"),
        (r"\boxed{(C)}", "C"),
        (r"\boxed{\text{(B)}}", "B"),
        (r"\boxed{c}", "C"),  # lowercase accepted inside a box
        (r"\boxed{\textbf{D}.}", "D"),
        ("The answer is (C).", "C"),
        ("(C)", "C"),
        ("Answer: C", "C"),
        ("answer: b", None),  # outside a box the letter must be uppercase
        ("So the answer is D", "D"),
        ("THE ANSWER IS B.", "B"),
        ('ANSWER: "C"', "C"),
        ("**Answer:** C", "C"),
        ("**Answer**: B", "B"),
        ("The correct answer is: **A**", "A"),
        ("Final answer: option B", "B"),
        ("The answer is A because the field vanishes.", "A"),
        # A capital "A" used as an article is prose, not option A.
        ("A ball is dropped from rest.", None),
        ("Answer: A ball of mass m hits the wall.", None),
        ("A ball is dropped. The answer is (B).", "B"),
        # Last occurrence wins within the same kind of evidence.
        ("Answer: A. Wait, that is wrong. Answer: D", "D"),
        ("(A) fails, (B) fails, so (C)", "C"),
        (r"\boxed{A} ... on reflection \boxed{B}", "B"),
        # Stronger evidence beats a later, weaker mention.
        (r"\boxed{B}. Options (A) and (C) were ruled out.", "B"),
        ("The answer is (C); (A) and (B) violate energy conservation.", "C"),
        # A box holding a number is not a letter; the statement decides.
        (r"we get \boxed{42}, so Answer: B", "B"),
        ("Answer: E", None),  # not one of the default letters ABCD
        ("P(A) is 0.3 and f(B) is undefined", None),  # function notation, not options
        ("Answer: Carbon", None),
        ("", None),
    ],
)
def test_extract_choice(text: str, expected: str | None) -> None:
    assert extract_choice(text) == expected


def test_extract_choice_respects_letters() -> None:
    assert extract_choice("Answer: E", letters="ABCDE") == "E"
    assert extract_choice(r"\boxed{E}", letters="ABCD") is None
    assert extract_choice(r"\boxed{B} then (E)", letters="ABCD") == "B"


@pytest.mark.parametrize(
    ("gold", "predicted", "expected"),
    [
        ("84", "84", True),
        ("84", " 84 ", True),
        ("84", "85", False),
        ("84", "8.4", False),
        # Decision: math-verify compares numbers by value, so a leading zero is accepted.
        ("84", "084", True),
        ("84", "84.0", True),
        (r"\frac{1}{2}", "0.5", True),
        ("0.5", r"\frac{1}{2}", True),
        (r"\frac{1}{2}", r"\dfrac{1}{2}", True),
        (r"\frac{1}{2}", r"\frac12", True),
        ("1/2", "0.5", True),
        (r"\frac{1}{2}", r"\frac{1}{3}", False),
        ("1000", "1,000", True),  # thousands separators are understood
        ("1,000", "1000", True),
        ("1000", "1{,}000", True),
        (r"2\sqrt{3}", r"\sqrt{12}", True),
        (r"\sqrt{2}", "2^{1/2}", True),
        ("x+1", "1+x", True),
        (r"\pi", "3.14159", False),
        ("(1, 2)", "(1,2)", True),
        (r"\infty", r"\infty", True),
        ("5", r"$5$", True),
        ("5", "", False),
    ],
)
def test_math_equal(gold: str, predicted: str, expected: bool) -> None:
    assert math_equal(gold, predicted) is expected


def test_math_verify_defaults_fail_in_threads_but_math_equal_does_not() -> None:
    from math_verify import parse

    with ThreadPoolExecutor(max_workers=2) as pool:
        # What happens without our wrapper: math-verify refuses to run off the main thread.
        with pytest.raises(ValueError, match="thread"):
            pool.submit(parse, r"\boxed{1/2}").result()
        assert pool.submit(math_equal, r"\frac{1}{2}", "0.5").result() is True
        assert pool.submit(math_equal, "84", "85").result() is False

    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(math_equal("1,000", "1000")))
    thread.start()
    thread.join(30)
    assert results == [True]


def test_identical_and_integer_answers_never_reach_math_verify(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_worker() -> None:
        raise AssertionError("math-verify should not be needed here")

    monkeypatch.setattr(equivalence, "shared_pool", no_worker)
    assert math_equal("7", "7") is True
    assert math_equal(r"\frac{1}{2}", r" \frac{1}{2} ") is True
    assert math_equal("84", "084") is True
    assert math_equal("84", "85") is False


MATH = Problem(id="m1", question="What is 12 * 7?", answer="84")
HALF = Problem(id="m2", question="What is 1 / 2?", answer=r"\frac{1}{2}")
CHOICE = Problem(
    id="c1", question="Pick one.", answer="C", kind="choice", choices=("1", "2", "3", "4", "5")
)


@pytest.mark.parametrize(
    ("text", "problem", "expected"),
    [
        (r"12*7 = 84, so \boxed{84}", MATH, Scored("84", True, "boxed")),
        (r"\boxed{84} hmm, no: \boxed{85}", MATH, Scored("85", False, "boxed")),
        (r"I think \boxed{84", MATH, Scored(None, False, "none")),
        (r"\boxed{ }", MATH, Scored(None, False, "none")),
        ("The answer is 84.", MATH, Scored(None, False, "none")),  # only boxed answers count
        (r"\boxed{0.5}", HALF, Scored("0.5", True, "boxed")),
        (r"\boxed{\dfrac{1}{2}}", HALF, Scored(r"\dfrac{1}{2}", True, "boxed")),
        (r"\boxed{9^{9^{9}}}", MATH, Scored("9^{9^{9}}", False, "timeout")),
        (r"\boxed{C}", CHOICE, Scored("C", True, "boxed")),
        ("Answer: B", CHOICE, Scored("B", False, "answer-line")),
        # E exists: the problem has five choices
        ("Answer: E", CHOICE, Scored("E", False, "answer-line")),
        ("So the correct option is C.", CHOICE, Scored("C", True, "phrase")),
        ("no idea", CHOICE, Scored(None, False, "none")),
        ("(A) 1 (B) 2 (C) 3", CHOICE, Scored(None, False, "none")),  # echoed options
    ],
)
def test_score_text(text: str, problem: Problem, expected: Scored) -> None:
    assert score_text(text, problem) == expected


@pytest.mark.parametrize(
    ("scored", "verdict"),
    [
        (Scored("84", True, "boxed"), "correct"),
        (Scored("85", False, "boxed"), "wrong"),
        (Scored("C", False, "phrase"), "wrong"),
        (Scored(None, False, "none"), "unanswered"),
        (Scored("9^{9^{9}}", False, "timeout"), "timeout"),
    ],
)
def test_verdict_separates_unanswered_and_timeout_from_wrong(scored: Scored, verdict: str) -> None:
    assert scored.verdict == verdict


def test_score_text_rejects_unknown_kind() -> None:
    odd = Problem(id="x", question="q", answer="1", kind="essay")  # type: ignore[arg-type]
    with pytest.raises(LeapError, match="unknown kind"):
        score_text(r"\boxed{1}", odd)


@pytest.mark.parametrize(
    ("a", "b", "kind", "expected"),
    [
        (None, None, "math", False),
        (None, "1", "math", False),
        ("1", None, "choice", False),
        ("C", "C", "choice", True),
        ("c", "C", "choice", True),
        ("B", "C", "choice", False),
        ("1/2", "0.5", "math", True),
        ("0.5", r"\frac{1}{2}", "math", True),
        ("3", "4", "math", False),
    ],
)
def test_answers_equivalent(a: str | None, b: str | None, kind: str, expected: bool) -> None:
    assert answers_equivalent(a, b, kind) is expected  # type: ignore[arg-type]


def test_answers_equivalent_is_symmetric_for_math(monkeypatch: pytest.MonkeyPatch) -> None:
    # A one-way checker: "big" accepts "small" as a match but not the reverse.
    def one_way(gold: str, predicted: str, timeout_s: float = 5.0) -> bool:
        return (gold, predicted) == ("big", "small")

    monkeypatch.setattr(scoring, "math_equal", one_way)
    assert answers_equivalent("big", "small", "math") is True
    assert answers_equivalent("small", "big", "math") is True
    assert answers_equivalent("small", "other", "math") is False
