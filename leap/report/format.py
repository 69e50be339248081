"""Turning raw values into the short strings the report shows.

The value formatters accept whatever a stored summary or score row might hold: a value
that is missing, non-numeric or not finite becomes the dash `MISSING` instead of raising.
`escape` makes any value safe to put into HTML text or an attribute, and `empty_note` is
the note shown where a chart or table has nothing to show.
"""

from __future__ import annotations

import html
import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MISSING = "—"
CLIP_CHARS = 24  # characters of an answer shown in a grid cell (the full text is in a tooltip)


def escape(value: object) -> str:
    """HTML-escape anything (quotes included, so the result is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def finite_number(value: object) -> float | None:
    """A finite int/float as float; anything else (None, text, bool, NaN) as None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def percent(value: object) -> str:
    number = finite_number(value)
    return MISSING if number is None else f"{number * 100:.1f}%"


def whole_number(value: object) -> str:
    number = finite_number(value)
    return MISSING if number is None else f"{round(number):,}"


def duration(value: object) -> str:
    seconds = finite_number(value)
    if seconds is None or seconds < 0:
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def text_or_dash(value: object) -> str:
    return MISSING if value is None or value == "" else str(value)


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_number(value: float) -> str:
    """Axis label: 1200 -> 1.2k, 3000000 -> 3M."""
    for bound, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= bound:
            return f"{value / bound:.3g}{suffix}"
    return f"{value:.3g}"


def nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.5, 2, ..., 8 x 10^e) >= value; fifths of it stay round."""
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= factor * scale:
            return factor * scale
    return 10 * scale


def delta_points(current: object, previous: object) -> str:
    """Difference of two fractions in percentage points, e.g. "+3.1 pts" (half away from 0)."""
    cur, prev = finite_number(current), finite_number(previous)
    if cur is None or prev is None:
        return MISSING
    try:
        points = (Decimal(repr(cur)) - Decimal(repr(prev))) * 100
    except InvalidOperation:  # pragma: no cover - finite floats always convert
        return MISSING
    rounded = points.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if rounded == 0:
        return "0.0 pts"
    return f"{rounded:+} pts"


def empty_note(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


VERDICTS = ("correct", "wrong", "unanswered", "timeout")


def verdict_counts(verdicts: dict[str, int], truncated: int) -> str:
    """Paths by verdict, so "no answer" never hides among wrong answers:
    `5 correct · 2 wrong · 1 unanswered · 0 timeout · 1 reached the budget`."""
    parts = [f"{verdicts.get(v, 0)} {v}" for v in VERDICTS]
    return " · ".join([*parts, f"{truncated} reached the budget"])
