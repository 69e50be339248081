"""The `smoke` benchmark: easy arithmetic and word problems generated from a seed.

It needs no download, so it is what tests, demos and a first run on a new machine use.
The same seed always gives the same problems; answers are integers.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from leap.benchmarks.problem import Problem

DEFAULT_COUNT = 8

# Each template draws its numbers from the generator and returns (question, answer).
Template = Callable[[random.Random], tuple[str, int]]


def _addition(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} + {b}?", a + b


def _subtraction(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(50, 150), rng.randint(1, 49)
    return f"What is {a} - {b}?", a - b


def _multiplication(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(3, 12), rng.randint(3, 12)
    return f"What is {a} times {b}?", a * b


def _boxes(rng: random.Random) -> tuple[str, int]:
    boxes, each = rng.randint(2, 9), rng.randint(2, 12)
    name = rng.choice(["Tom", "Ana", "Lee", "Priya"])
    return (
        f"{name} has {boxes} boxes with {each} apples in each box. "
        f"How many apples does {name} have?",
        boxes * each,
    )


def _marbles(rng: random.Random) -> tuple[str, int]:
    had, gave = rng.randint(20, 60), rng.randint(1, 19)
    return (
        f"Sam had {had} marbles and gave {gave} of them to a friend. "
        "How many marbles does Sam have now?",
        had - gave,
    )


def _sharing(rng: random.Random) -> tuple[str, int]:
    children, each = rng.randint(2, 8), rng.randint(2, 9)
    return (
        f"{children * each} cookies are shared equally among {children} children. "
        "How many cookies does each child get?",
        each,
    )


def _reading(rng: random.Random) -> tuple[str, int]:
    per_day, days = rng.randint(5, 20), rng.randint(2, 6)
    pages = per_day * days + rng.randint(10, 90)
    return (
        f"A book has {pages} pages. Mia reads {per_day} pages every day. "
        f"How many pages are left after {days} days?",
        pages - per_day * days,
    )


def _bus(rng: random.Random) -> tuple[str, int]:
    seats, trips = rng.randint(12, 40), rng.randint(2, 5)
    return (
        f"A bus carries {seats} people on each trip. "
        f"How many people does it carry in {trips} trips?",
        seats * trips,
    )


TEMPLATES: dict[str, Template] = {
    "addition": _addition,
    "subtraction": _subtraction,
    "multiplication": _multiplication,
    "boxes": _boxes,
    "marbles": _marbles,
    "sharing": _sharing,
    "reading": _reading,
    "bus": _bus,
}


def generate_smoke(seed: int = 0, count: int = DEFAULT_COUNT) -> list[Problem]:
    """`count` distinct easy problems with integer answers, ids "smoke-1", "smoke-2", ...

    Templates are dealt in a seed-shuffled order so a set of eight uses each once.
    """
    rng = random.Random(seed)
    names = list(TEMPLATES)
    problems: list[Problem] = []
    seen: set[str] = set()
    while len(problems) < count:
        rng.shuffle(names)
        for name in names:
            if len(problems) == count:
                break
            question, answer = TEMPLATES[name](rng)
            if question in seen:
                continue
            seen.add(question)
            problems.append(
                Problem(
                    id=f"smoke-{len(problems) + 1}",
                    question=question,
                    answer=str(answer),
                    metadata={"template": name},
                )
            )
    return problems
