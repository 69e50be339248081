"""Math answers in several boxes: when the gold answer has parts, read the boxes as one.

A gold answer such as "(2, 2), (6, 2)", "2, 6", "\\{1, 3\\}" or a point "(1, 2)" has
several top-level comma-separated parts. A model often boxes each part on its own
(``\\boxed{(2, 2)} and \\boxed{(6, 2)}``), so the last run of adjacent boxes (see
`boxes.final_boxes`) is joined with ", " and put in the gold answer's brackets. A gold
answer with one part keeps the last box only.
"""

from __future__ import annotations

from leap.scoring.boxes import final_boxes

# Brackets a list of parts may be wrapped in; joined parts get the gold answer's pair.
_WRAPPERS = (("(", ")"), ("[", "]"), ("\\{", "\\}"), ("\\left(", "\\right)"))
_DEPTH = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def math_answer(own_text: str, gold: str) -> str | None:
    """The math answer in `own_text`: the last box, or the final run of boxes joined as
    one answer when `gold` has several parts. None when there is none or it is empty."""
    run = [content.strip() for content in final_boxes(own_text)]
    if not run or not run[-1]:
        return None
    count, (opener, closer) = _gold_parts(gold)
    if len(run) == 1 or count < 2 or not all(run):
        return run[-1]
    return f"{opener}{', '.join(run)}{closer}"


def _gold_parts(gold: str) -> tuple[int, tuple[str, str]]:
    """How many top-level comma-separated parts `gold` has, and the brackets around them.

    "(2, 2), (6, 2)" has two parts and no brackets; "(1, 2)" and "\\{1, 3\\}" have two
    parts inside brackets; "1,000" and "1,234,567" are one number with thousands separators.
    """
    value = gold.strip().strip("$").strip()
    wrapper = ("", "")
    for opener, closer in _WRAPPERS:
        inner = value[len(opener) : -len(closer)]
        if value.startswith(opener) and value.endswith(closer) and _balanced(inner):
            value, wrapper = inner, (opener, closer)
            break
    items = _split_top_level(value)
    if len(items) > 1 and items[0].strip().isdigit() and _thousands(items):
        return 1, wrapper
    return len(items), wrapper


def _thousands(items: list[str]) -> bool:
    head, *groups = (item.strip() for item in items)
    return len(head) <= 3 and all(len(group) == 3 and group.isdigit() for group in groups)


def _split_top_level(value: str) -> list[str]:
    items, depth, start, i = [], 0, 0, 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            depth += {"{": 1, "}": -1}.get(value[i + 1 : i + 2], 0)
            i += 2
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(value[start:i])
            start = i + 1
        i += 1
    items.append(value[start:])
    return items


def _balanced(value: str) -> bool:
    """True when no bracket in `value` closes one opened before it (so "(1), (2)" is not
    one wrapped pair)."""
    depth = 0
    for char in value.replace("\\{", "(").replace("\\}", ")"):
        depth += _DEPTH.get(char, 0)
        if depth < 0:
            return False
    return True
