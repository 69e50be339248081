"""Find ``\\boxed{...}`` answers in what a path wrote.

A box is ``\\boxed{...}`` or ``\\fbox{...}``; its content runs to the brace that closes
the opening one, so nested braces stay inside and ``\\{`` / ``\\}`` are not structure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE_OR_ESCAPE = re.compile(r"\\.|[{}]", re.DOTALL)

# What may stand between two boxes that give the parts of one answer:
# "\boxed{2} and \boxed{6}", "$\boxed{1}$, $\boxed{4}$", "x = \boxed{1}, y = \boxed{2}".
_PART_GAP = re.compile(
    r"(?:\s|[$,;&]|\\[()\[\]]|\\\\|\\(?:quad|qquad|[,;: ])|"
    r"\\text\s*\{\s*(?:and|or|,)?\s*\}|\b(?:and|or)\b|\b[a-z](?:_\{?\w+\}?)?\s*=)*",
    re.IGNORECASE,
)
_MAX_PART_GAP = 80  # characters; a longer gap is prose, whatever it holds


@dataclass(frozen=True)
class Box:
    """One closed box: its content and where the whole ``\\boxed{...}`` starts and ends."""

    content: str
    start: int
    end: int


def boxes(text: str) -> Iterator[Box | None]:
    """Yield each box in order; None for a box that never closes (the text was cut off)."""
    closing = _closing_braces(text)
    for match in _BOX_OPEN.finditer(text):
        end = closing.get(match.end() - 1)
        yield None if end is None else Box(text[match.end() : end], match.start(), end + 1)


def _closing_braces(text: str) -> dict[int, int]:
    """Map the index of each "{" to the index of the "}" that closes it, in one pass.

    A backslash escapes the next character, so ``\\{`` and ``\\}`` are not counted; a "{"
    that never closes is absent.
    """
    pairs: dict[int, int] = {}
    opened: list[int] = []
    for match in _BRACE_OR_ESCAPE.finditer(text):
        if match.group() == "{":
            opened.append(match.start())
        elif match.group() == "}" and opened:
            pairs[opened.pop()] = match.start()
    return pairs


def last_boxed(text: str) -> str | None:
    """Return the content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in `text`.

    Nested braces are kept in the content. Returns None when there is no box or when the
    last box is never closed (a truncated answer is not an answer, even if an earlier
    box was complete).
    """
    last = final_boxes(text)
    return last[-1] if last else None


def final_boxes(text: str) -> list[str]:
    """The contents of the last run of boxes joined only by "and", commas or spacing.

    ``... so \\boxed{3}. The pairs are \\boxed{(2, 2)} and \\boxed{(6, 2)}`` gives
    ``["(2, 2)", "(6, 2)"]``: the earlier box is separated by words, so it is not part of
    the final answer. Empty when there is no box or the last one never closes. A box
    inside another box counts once, as the inner one (it starts last).
    """
    found = list(boxes(text))
    if not found or found[-1] is None:
        return []
    run = [found[-1]]
    for box in reversed(found[:-1]):
        if box is None or box.end > run[0].start:
            break
        gap = run[0].start - box.end
        if gap > _MAX_PART_GAP or _PART_GAP.fullmatch(text, box.end, run[0].start) is None:
            break
        run.insert(0, box)
    return [box.content for box in run]
