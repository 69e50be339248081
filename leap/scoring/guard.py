"""Refuse math answers whose exact value would be too big to compute.

sympy evaluates ``9^{9^{9}}`` exactly: an integer with 370 million digits, minutes of
work and gigabytes of memory that nothing can interrupt inside the process. `too_big`
reads the LaTeX cheaply (one pass, no sympy), estimates how many decimal digits each
power and factorial would need, and names the first one over the limit. It only has to
catch the obvious explosions; the worker process's hard timeout bounds everything else.

The estimate works on sizes, ``log10 |value|``: a number literal has its digit count, a
product adds sizes, a sum takes the larger one, and ``a^b`` has size ``|b| * size(a)``.
Anything that is not a number (a letter, ``\\pi``, a function) counts as size 1, so
``x^{10^{9}}`` is refused for its exponent, while ``x^{2}`` and ``e^{i\\pi}`` pass.
"""

from __future__ import annotations

import math
import re

# Far above any contest answer (AIME answers have 3 digits; 2^{2024} has 610) and well
# below what sympy settles in a fraction of a second (9^{10^{6}}, 954,243 digits, takes
# about 1 s).
MAX_DIGITS = 100_000
# 10^LIMIT is where a float stops being finite; any size past it is simply "too big".
_FLOAT_LIMIT = 300.0

_TOKEN = re.compile(
    r"\s+|(?P<number>\d+(?:\.\d*)?|\.\d+)"
    r"|(?P<command>\\[A-Za-z]+|\\.)"
    r"|(?P<power>\^|\*\*)"
    r"|(?P<char>.)",
    re.DOTALL,
)
# Commands that only space or size things; they are skipped like whitespace.
_IGNORED = frozenset(
    (r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\displaystyle", r"\limits")
    + (r"\,", r"\;", r"\:", r"\!", "\\ ", r"\quad", r"\qquad")
    + (r"\mathrm", r"\text", r"\textbf", r"\mathbf", r"\operatorname")
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_FRACTIONS = frozenset({r"\frac", r"\dfrac", r"\tfrac", r"\cfrac", r"\binom", r"\dbinom"})
_PRODUCTS = frozenset({"*", "/", r"\cdot", r"\times", r"\div"})


class _TooBig(Exception):
    """Raised inside the estimate as soon as one part is over the limit."""


def too_big(latex: str) -> str | None:
    """Why `latex` is too big to evaluate exactly, or None when it looks affordable.

    Never raises: text it cannot read is left to the worker's timeout, but nesting too
    deep to read (a tower of thousands of powers) counts as too big.
    """
    try:
        _Sizes(latex).expression()
    except _TooBig as reason:
        return str(reason)
    except RecursionError:
        return "nesting too deep to read"
    except (IndexError, ValueError, OverflowError):
        return None
    return None


class _Sizes:
    """A small recursive-descent reader of LaTeX that returns sizes, not values.

    Grammar (loosely): expression = term {("+" | "-" | "," | "=" | ...) term};
    term = factor {[product operator] factor}; factor = primary {"!"} [power factor].
    """

    def __init__(self, latex: str) -> None:
        self.tokens = [
            (match.lastgroup or "", match.group())
            for match in _TOKEN.finditer(latex)
            if match.lastgroup and match.group() not in _IGNORED
        ]
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expression(self, closer: str | None = None) -> float:
        """Size of everything up to `closer` (consumed) or the end of the text."""
        sizes = []
        while (token := self.peek()) is not None and token != closer:
            if token in _OPEN.values():
                self.take()  # an unmatched closer: skip it
                continue
            sizes.append(self.term(closer))
        # A sum is at most twice its largest term, per extra term.
        size = max(sizes, default=0.0) + math.log10(2) * max(len(sizes) - 1, 0)
        if closer is not None and self.peek() == closer:
            self.take()
        return size

    def term(self, closer: str | None) -> float:
        size = 0.0
        while (token := self.peek()) is not None and token != closer:
            if token in "+-,;=<>|&" or token in _OPEN.values():
                if size == 0.0:
                    self.take()  # a leading sign or separator
                    continue
                break
            if token in _PRODUCTS:
                self.take()
                continue
            size += self.factor()
        return size

    def factor(self) -> float:
        size = self.primary()
        while self.peek() == "!":
            self.take()
            size = _factorial_size(size)
        if self.peek() in ("^", "**"):
            self.take()
            exponent = self.factor()
            size = _power_size(size, exponent)
        return size

    def primary(self) -> float:
        kind, token = self.take()
        if kind == "number":
            return _number_size(token)
        if token in _OPEN:
            return self.expression(_OPEN[token])
        if token in _FRACTIONS:
            return self.group() + self.group()
        if token == r"\sqrt":
            if self.peek() == "[":
                self.take()
                self.expression("]")
            return self.group() / 2
        return 1.0  # a letter, a constant, a function name: size of a small number

    def group(self) -> float:
        """A braced argument, or a single token when the brace is missing (``\\frac12``)."""
        if self.peek() == "{":
            self.take()
            return self.expression("}")
        return self.primary()


def _number_size(literal: str) -> float:
    value = float(literal) if len(literal) < 300 else math.inf
    return abs(math.log10(value)) if value > 0 else 0.0


def _power_size(base: float, exponent: float) -> float:
    """Size of base^exponent, where both are sizes (so |exponent| <= 10**exponent)."""
    if exponent > _FLOAT_LIMIT:
        raise _TooBig("a power whose exponent has more than 300 digits")
    size = 10.0**exponent * base
    if size > MAX_DIGITS:
        raise _TooBig(f"a power with about {_digits(size)} digits")
    return size


def _factorial_size(size: float) -> float:
    """Size of n! for an n of the given size, by Stirling's log-gamma."""
    if size > _FLOAT_LIMIT:
        raise _TooBig("a factorial of a number with more than 300 digits")
    n = 10.0**size
    digits = math.lgamma(n + 1) / math.log(10)
    if digits > MAX_DIGITS:
        raise _TooBig(f"a factorial with about {_digits(digits)} digits")
    return digits


def _digits(size: float) -> str:
    return f"{size:.2g}" if math.isfinite(size) else "infinitely many"
