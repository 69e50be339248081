"""Reports for one benchmark run: a self-contained HTML page and a short markdown summary.

Both take plain dicts and lists (what the storage layer hands out), so this module knows
nothing about how a run is stored. The HTML page has no external references at all: the
CSS is inline and every chart is an inline SVG drawn here. Every string that comes from a
user, a dataset or a model is HTML-escaped before it is written.

Answers are grouped into votes with `equivalent(a, b)`. The default compares the answers
as text with runs of whitespace collapsed; pass e.g.
``lambda a, b: answers_equivalent(a, b, kind)`` from `leap.scoring` to vote the way Cons@N
is scored. Voting follows the rule of `leap.metrics.majority_answer` (largest group wins,
ties go to the group that appeared first, None answers never vote).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

Equivalence = Callable[[str, str], bool]

MISSING = "—"
TOKEN_KINDS: tuple[str, ...] = ("reasoning", "summary", "injected", "answer")
_TOKEN_COLORS = {
    "reasoning": "#4c78a8",
    "summary": "#f58518",
    "injected": "#b279a2",
    "answer": "#54a24b",
}
_RUN_TOKEN_KINDS: tuple[str, ...] = (*TOKEN_KINDS, "prompt_computed", "prompt_reused")
_CLIP = 24  # characters of an answer shown in a grid cell (the full text is in a tooltip)


# --------------------------------------------------------------------------- formatting


def _e(value: object) -> str:
    """HTML-escape anything (quotes included, so the result is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _number(value: object) -> float | None:
    """A finite int/float as float; anything else (None, text, bool, NaN) as None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: object) -> int:
    number = _number(value)
    return int(number) if number is not None and number > 0 else 0


def _pct(value: object) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number * 100:.1f}%"


def _int(value: object) -> str:
    number = _number(value)
    return MISSING if number is None else f"{round(number):,}"


def _duration(value: object) -> str:
    seconds = _number(value)
    if seconds is None or seconds < 0:
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _text(value: object) -> str:
    return MISSING if value is None or value == "" else str(value)


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: float) -> str:
    """Axis label: 1200 -> 1.2k, 3000000 -> 3M."""
    for bound, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= bound:
            return f"{value / bound:.3g}{suffix}"
    return f"{value:.3g}"


def _nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.5, 2, ..., 8 x 10^e) >= value; fifths of it stay round."""
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= factor * scale:
            return factor * scale
    return 10 * scale


def _delta_points(current: object, previous: object) -> str:
    """Difference of two fractions in percentage points, e.g. "+3.1 pts" (half away from 0)."""
    cur, prev = _number(current), _number(previous)
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


# --------------------------------------------------------------------------- voting


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _vote(answers: Sequence[str | None], equivalent: Equivalence) -> tuple[int | None, int]:
    """(index of the first member of the winning group, size of that group)."""
    groups: list[list[int]] = []  # [index of first member, size]
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            first = answers[group[0]]
            if first is not None and equivalent(first, answer):
                group[1] += 1
                break
        else:
            groups.append([index, 1])
    if not groups:
        return None, 0
    best = max(groups, key=lambda group: group[1])  # max keeps the earliest of equal sizes
    return best[0], best[1]


def _answer(value: object) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- data model


@dataclass
class _Path:
    index: int
    answer: str | None
    correct: bool
    finish_reason: str | None
    tokens: dict[str, int]
    rounds: int | None

    @property
    def total(self) -> int:
        return sum(self.tokens.values())


@dataclass
class _Problem:
    pid: str
    gold: str | None = None
    paths: list[_Path] = field(default_factory=list)
    rounds: dict[int, list[str | None]] = field(default_factory=dict)
    failed: bool = False
    majority: str | None = None
    majority_votes: int = 0
    majority_correct: bool | None = None

    @property
    def n_correct(self) -> int:
        return sum(path.correct for path in self.paths)

    @property
    def accuracy(self) -> float | None:
        return self.n_correct / len(self.paths) if self.paths else None

    def final_reference(self, equivalent: Equivalence) -> str | None:
        """The answer round cells are compared with: the final majority, else the last one."""
        if self.majority is not None or not self.rounds:
            return self.majority
        return self.round_majority(max(self.rounds), equivalent)[0]

    def round_majority(self, round_index: int, equivalent: Equivalence) -> tuple[str | None, int]:
        answers = self.rounds[round_index]
        winner, votes = _vote(answers, equivalent)
        return (answers[winner] if winner is not None else None), votes


def _problem_id(row: Mapping[str, Any]) -> str:
    return _text(row.get("problem_id"))


def _collect(
    summary: Mapping[str, Any],
    scores: Sequence[Mapping[str, Any]],
    agreement: Sequence[Mapping[str, Any]],
    equivalent: Equivalence,
) -> list[_Problem]:
    """Problems in order of first appearance (scores first, then agreement rows)."""
    problems: dict[str, _Problem] = {}
    for row in scores:
        problem = problems.setdefault(_problem_id(row), _Problem(_problem_id(row)))
        if problem.gold is None:
            problem.gold = _answer(row.get("gold"))
        index = row.get("path")
        rounds = _number(row.get("rounds"))
        problem.paths.append(
            _Path(
                index=index if isinstance(index, int) else len(problem.paths),
                answer=_answer(row.get("answer")),
                correct=row.get("correct") is True or row.get("correct") == 1,
                finish_reason=_answer(row.get("finish_reason")),
                tokens={kind: _count(row.get(f"{kind}_tokens")) for kind in TOKEN_KINDS},
                rounds=int(rounds) if rounds is not None else None,
            )
        )
    for row in agreement:
        problem = problems.setdefault(_problem_id(row), _Problem(_problem_id(row)))
        round_index = row.get("round")
        raw = row.get("answers")
        if not isinstance(round_index, int) or not isinstance(raw, list | tuple):
            continue
        problem.rounds[round_index] = [_answer(answer) for answer in raw]
    failed = {str(pid) for pid in summary.get("failed_problems") or []}
    for problem in problems.values():
        problem.paths.sort(key=lambda path: path.index)
        problem.failed = problem.pid in failed
        winner, votes = _vote([path.answer for path in problem.paths], equivalent)
        if winner is not None:
            problem.majority = problem.paths[winner].answer
            problem.majority_votes = votes
            problem.majority_correct = problem.paths[winner].correct
    return list(problems.values())


def agreement_curve(
    agreement: Sequence[Mapping[str, Any]], equivalent: Equivalence | None = None
) -> list[dict[str, float | int]]:
    """How far the paths agree after each round, averaged over problems.

    For each problem and round: `agree` is the share of its paths whose answer is in the
    majority group (paths without an answer count as not agreeing) and `answered` is the
    share of paths that have an answer at all. A problem that stopped before a later round
    keeps its last answers (they are final), so every round averages over the same
    problems once they have started. Returns one dict per round, in round order:
    ``{"round", "agree", "answered", "problems"}``.
    """
    same = equivalent or _same_text
    return _curve(_collect({}, [], agreement, same), same)


def _curve(problems: Sequence[_Problem], equivalent: Equivalence) -> list[dict[str, float | int]]:
    all_rounds = sorted({r for problem in problems for r in problem.rounds})
    shares: dict[str, dict[int, tuple[float, float]]] = {}
    for problem in problems:
        per_round: dict[int, tuple[float, float]] = {}
        for r, answers in problem.rounds.items():
            if answers:
                votes = problem.round_majority(r, equivalent)[1]
                answered = sum(answer is not None for answer in answers)
                per_round[r] = (votes / len(answers), answered / len(answers))
        shares[problem.pid] = per_round
    curve: list[dict[str, float | int]] = []
    for r in all_rounds:
        values = []
        for per_round in shares.values():
            started = [known for known in per_round if known <= r]
            if started:
                values.append(per_round[max(started)])
        if values:
            curve.append(
                {
                    "round": r,
                    "agree": sum(v[0] for v in values) / len(values),
                    "answered": sum(v[1] for v in values) / len(values),
                    "problems": len(values),
                }
            )
    return curve


# --------------------------------------------------------------------------- charts

_AXIS_LEFT = 48


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


def _svg_open(width: float, height: float, label: str) -> str:
    return (
        f'<svg class="chart" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{_e(label)}">'
    )


def _y_axis(width: float, top: float, height: float, top_value: float, fmt: Callable) -> str:
    """Horizontal grid lines with labels at 0, 1/5, ..., top_value."""
    parts = []
    for step in range(6):
        value = top_value * step / 5
        y = top + height - height * step / 5
        parts.append(
            f'<line class="grid" x1="{_AXIS_LEFT}" x2="{width - 8:.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}" />'
            f'<text class="tick" x="{_AXIS_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_e(fmt(value))}</text>'
        )
    return "".join(parts)


def _x_labels(
    labels: Sequence[tuple[float, str]], y: float, room: float
) -> tuple[str, float, float]:
    """Category labels under an axis, rotated when they do not fit side by side.

    Returns (svg, height the labels need, how far they reach left of x = 0).
    """
    longest = max((len(text) for _, text in labels), default=0)
    rotate = longest * 6.5 > room
    parts = []
    for x, text in labels:
        if rotate:
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="end" '
                f'transform="rotate(-40 {x:.1f} {y:.1f})">{_e(text)}</text>'
            )
        else:
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{_e(text)}</text>'
            )
    if not rotate:
        return "".join(parts), 16.0, 0.0
    first = min((x for x, _ in labels), default=0.0)
    overhang = max(0.0, longest * 5.0 - first + 4)
    return "".join(parts), 14 + longest * 4.6, overhang


def _framed(width: float, height: float, label: str, pad: float, body: str) -> str:
    """An <svg> holding `body`, shifted right by `pad` so nothing is cut off on the left."""
    return (
        _svg_open(width + pad, height, label)
        + f'<g transform="translate({pad:.1f} 0)">{body}</g></svg>'
    )


def _accuracy_chart(problems: Sequence[_Problem]) -> str:
    scored = [problem for problem in problems if problem.paths]
    if not scored:
        return _empty("No per-path scores were recorded.")
    step = max(16.0, min(56.0, 720 / len(scored)))
    top, plot_h = 12.0, 170.0
    width = _AXIS_LEFT + step * len(scored) + 12
    labels = [(_AXIS_LEFT + step * (i + 0.5), _clip(p.pid, 14)) for i, p in enumerate(scored)]
    label_svg, label_h, pad = _x_labels(labels, top + plot_h + 14, step)
    height = top + plot_h + label_h + 8
    parts = [_y_axis(width, top, plot_h, 1.0, lambda v: f"{v * 100:.0f}%")]
    bar_w = step * 0.7
    for i, problem in enumerate(scored):
        accuracy = problem.accuracy or 0.0
        x = _AXIS_LEFT + step * i + (step - bar_w) / 2
        bar_h = plot_h * accuracy
        tip = (
            f"{problem.pid}: {problem.n_correct}/{len(problem.paths)} paths correct "
            f"({accuracy * 100:.1f}%)"
        )
        parts.append(
            f"<g><title>{_e(tip)}</title>"
            f'<rect class="slot" x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" />'
            f'<rect class="bar{" failed" if problem.failed else ""}" x="{x:.1f}" '
            f'y="{top + plot_h - bar_h:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" /></g>'
        )
    parts.append(label_svg)
    return _framed(width, height, "Accuracy per problem", pad, "".join(parts))


def _tokens_chart(problems: Sequence[_Problem]) -> str:
    scored = [problem for problem in problems if problem.paths]
    if not scored:
        return _empty("No per-path token counts were recorded.")
    most_paths = max(len(problem.paths) for problem in scored)
    bar_w = 10.0 if most_paths <= 4 else 7.0
    gap = 14.0
    top, plot_h = 12.0, 190.0
    top_value = _nice_ceiling(max(path.total for problem in scored for path in problem.paths))
    x = float(_AXIS_LEFT + gap / 2)
    bars, labels = [], []
    for problem in scored:
        start = x
        for path in problem.paths:
            y = top + plot_h
            tip = (
                f"{problem.pid} · path {path.index}: "
                + ", ".join(f"{kind} {path.tokens[kind]:,}" for kind in TOKEN_KINDS)
                + f" (total {path.total:,})"
            )
            segments = []
            for kind in TOKEN_KINDS:
                h = plot_h * path.tokens[kind] / top_value
                if h <= 0:
                    continue
                y -= h
                segments.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                    f'fill="{_TOKEN_COLORS[kind]}" />'
                )
            bars.append(
                f'<g class="stack"><title>{_e(tip)}</title>'
                f'<rect class="slot" x="{x:.1f}" y="{top}" width="{bar_w - 1:.1f}" '
                f'height="{plot_h}" />{"".join(segments)}</g>'
            )
            x += bar_w
        labels.append(((start + x) / 2, _clip(problem.pid, 14)))
        x += gap
    width = x - gap / 2 + 8
    room = most_paths * bar_w + gap
    label_svg, label_h, pad = _x_labels(labels, top + plot_h + 14, room)
    height = top + plot_h + label_h + 8
    body = _y_axis(width, top, plot_h, top_value, _compact) + "".join(bars) + label_svg
    return _framed(width, height, "Tokens per path, grouped by problem", pad, body)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    entries = "".join(
        f'<span><i style="background:{color}"></i>{_e(name)}</span>' for name, color in items
    )
    return f'<div class="legend">{entries}</div>'


def _agreement_chart(curve: Sequence[Mapping[str, float | int]]) -> str:
    if not curve:
        return _empty("No per-round answers were recorded.")
    width, top, plot_h = 680.0, 12.0, 200.0
    left, right = float(_AXIS_LEFT), 16.0
    span = width - left - right
    count = len(curve)

    def x_at(i: int) -> float:
        return left + span / 2 if count == 1 else left + 12 + (span - 24) * i / (count - 1)

    def y_at(share: float) -> float:
        return top + plot_h * (1 - share)

    parts = [
        _svg_open(width, top + plot_h + 40, "Agreement among paths by round"),
        _y_axis(width, top, plot_h, 1.0, lambda v: f"{v * 100:.0f}%"),
    ]
    for key, css in (("answered", "line answered"), ("agree", "line agree")):
        points = " ".join(f"{x_at(i):.1f},{y_at(float(p[key])):.1f}" for i, p in enumerate(curve))
        parts.append(f'<polyline class="{css}" points="{points}" />')
    every = max(1, math.ceil(count / 20))
    for i, point in enumerate(curve):
        tip = (
            f"round {point['round']}: {float(point['agree']) * 100:.1f}% agree with the "
            f"majority, {float(point['answered']) * 100:.1f}% have an answer "
            f"({point['problems']} problems)"
        )
        parts.append(
            f'<g><title>{_e(tip)}</title><circle class="dot" cx="{x_at(i):.1f}" '
            f'cy="{y_at(float(point["agree"])):.1f}" r="3.5" /></g>'
        )
        if i % every == 0 or i == count - 1:
            parts.append(
                f'<text class="tick" x="{x_at(i):.1f}" y="{top + plot_h + 16:.1f}" '
                f'text-anchor="middle">{_e(point["round"])}</text>'
            )
    parts.append(
        f'<text class="tick" x="{left + span / 2:.1f}" y="{top + plot_h + 34:.1f}" '
        'text-anchor="middle">round</text></svg>'
    )
    return "".join(parts)


# --------------------------------------------------------------------------- tables


def _share_color(share: float) -> str:
    """Red (no agreement) through yellow to green (all paths agree), light enough for text."""
    return f"hsl({share * 120:.0f}, 65%, 82%)"


def _answer_cell(answer: str | None, reference: str | None, equivalent: Equivalence) -> str:
    if answer is None:
        return '<td class="ans none" title="no answer yet">·</td>'
    same = reference is not None and equivalent(reference, answer)
    css = "ans match" if same else "ans other"
    return f'<td class="{css}" title="{_e(answer)}">{_e(_clip(answer, 12))}</td>'


def _agreement_tables(problems: Sequence[_Problem], equivalent: Equivalence) -> str:
    with_rounds = [problem for problem in problems if problem.rounds]
    if not with_rounds:
        return ""
    all_rounds = sorted({r for problem in with_rounds for r in problem.rounds})
    head = "".join(f"<th>{_e(r)}</th>" for r in all_rounds)
    rows = []
    for problem in with_rounds:
        cells = []
        for r in all_rounds:
            answers = problem.rounds.get(r)
            if not answers:
                cells.append('<td class="heat blank"></td>')
                continue
            majority, votes = problem.round_majority(r, equivalent)
            share = votes / len(answers)
            tip = f"round {r}: {votes}/{len(answers)} paths agree on {_text(majority)}"
            cells.append(
                f'<td class="heat" style="background:{_share_color(share)}" '
                f'title="{_e(tip)}">{votes}/{len(answers)}</td>'
            )
        rows.append(f'<tr><th class="pid">{_e(problem.pid)}</th>{"".join(cells)}</tr>')
    overview = (
        "<h3>Majority size by round</h3>"
        '<p class="note">Each cell: paths in the largest group of equal answers / all paths.'
        " Hover for the answer.</p>"
        f'<div class="scroll"><table class="heatmap"><thead><tr><th>problem \\ round</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    details = []
    for problem in with_rounds:
        rounds = sorted(problem.rounds)
        n_paths = max(len(problem.rounds[r]) for r in rounds)
        reference = problem.final_reference(equivalent)
        grid_rows = []
        for path in range(n_paths):
            cells = []
            for r in rounds:
                answers = problem.rounds[r]
                answer = answers[path] if path < len(answers) else None
                cells.append(_answer_cell(answer, reference, equivalent))
            grid_rows.append(f"<tr><th>path {path}</th>{''.join(cells)}</tr>")
        round_head = "".join(f"<th>{_e(r)}</th>" for r in rounds)
        details.append(
            f"<details><summary>{_e(problem.pid)} — final majority "
            f"<code>{_e(_text(reference))}</code></summary>"
            f'<div class="scroll"><table class="answers"><thead><tr><th>path \\ round</th>'
            f"{round_head}</tr></thead><tbody>{''.join(grid_rows)}</tbody></table></div>"
            "</details>"
        )
    key = (
        '<p class="note"><span class="key match">same as final majority</span> '
        '<span class="key other">different answer</span> '
        '<span class="key none">no answer yet</span></p>'
    )
    return overview + "<h3>Answers by round</h3>" + key + "".join(details)


def _finish_reasons(problem: _Problem) -> str:
    counts: dict[str, int] = {}
    for path in problem.paths:
        reason = path.finish_reason or MISSING
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{reason}×{n}" for reason, n in counts.items())


def _problem_table(problems: Sequence[_Problem]) -> str:
    if not problems:
        return _empty("No problems.")
    rows = []
    for problem in problems:
        n = len(problem.paths)
        rounds = [path.rounds for path in problem.paths if path.rounds is not None]
        n_rounds = max(rounds) if rounds else (len(problem.rounds) or None)
        total = sum(path.total for path in problem.paths)
        if problem.majority is None:
            majority = f'<span class="none">{MISSING}</span>'
        else:
            mark = {True: ' <span class="ok">✓</span>', False: ' <span class="bad">✗</span>'}
            majority = (
                f"<code>{_e(_clip(problem.majority, 40))}</code>"
                f"{mark.get(problem.majority_correct, '')}"
                f' <span class="muted">({problem.majority_votes}/{n})</span>'
            )
        accuracy = problem.accuracy
        meter = (
            f'<span class="meter"><span style="width:{accuracy * 100:.0f}%"></span></span>'
            if accuracy is not None
            else ""
        )
        badge = ' <span class="badge">failed</span>' if problem.failed else ""
        row_class = ' class="failed"' if problem.failed else ""
        gold = MISSING if problem.gold is None else f"<code>{_e(_clip(problem.gold, 40))}</code>"
        rows.append(
            f"<tr{row_class}>"
            f'<td class="pid">{_e(problem.pid)}{badge}</td>'
            f"<td>{gold}</td><td>{majority}</td>"
            f'<td class="num">{problem.n_correct}/{n} {meter}</td>'
            f'<td class="num">{_int(n_rounds)}</td>'
            f'<td class="num">{total:,}</td>'
            f'<td class="num">{_int(total / n) if n else MISSING}</td>'
            f"<td>{_e(_finish_reasons(problem))}</td></tr>"
        )
    return (
        '<div class="scroll"><table class="problems"><thead><tr><th>problem</th><th>gold</th>'
        "<th>majority answer (votes)</th><th>correct paths</th><th>rounds</th>"
        "<th>tokens</th><th>tokens / path</th><th>finish</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items.extend(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            items.append((name, value))
        else:
            try:
                items.append((name, json.dumps(value, ensure_ascii=False, default=str)))
            except ValueError:  # e.g. a circular structure
                items.append((name, repr(value)))
    return items


def _config_table(config: object) -> str:
    if not isinstance(config, Mapping) or not config:
        return _empty("No configuration was recorded.")
    rows = "".join(
        f"<tr><th>{_e(name)}</th><td><code>{_e(value)}</code></td></tr>"
        for name, value in _flatten(config)
    )
    return f'<table class="config"><tbody>{rows}</tbody></table>'


def _pass_at_k_items(summary: Mapping[str, Any]) -> list[tuple[str, object]]:
    table = summary.get("pass_at_k")
    if not isinstance(table, Mapping):
        return []

    def order(item: tuple[object, object]) -> tuple[int, float, str]:
        try:
            return (0, float(str(item[0])), "")
        except ValueError:
            return (1, 0.0, str(item[0]))

    return [(str(k), v) for k, v in sorted(table.items(), key=order)]


def _paths_label(summary: Mapping[str, Any], problems: Sequence[_Problem]) -> str:
    n = _number(summary.get("n_paths"))
    if n is None and any(problem.paths for problem in problems):
        n = max(len(problem.paths) for problem in problems)
    return str(int(n)) if n is not None else "N"


# --------------------------------------------------------------------------- page

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1f2933;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header { background: #fff; border-bottom: 1px solid #e1e5ea; padding: 20px 32px; }
main { padding: 8px 32px 40px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
section { background: #fff; border: 1px solid #e1e5ea; border-radius: 8px;
  padding: 4px 20px 16px; margin-top: 18px; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #f1f3f5; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.sub { color: #52606d; margin: 0; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 10px 0 0; color: #52606d; }
.meta b { color: #1f2933; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.card { border: 1px solid #e1e5ea; border-radius: 8px; padding: 10px 16px; min-width: 130px;
  background: #fbfcfd; }
.card .label { color: #52606d; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 24px; font-weight: 600; }
.card.alert { border-color: #e5a3a3; background: #fff5f5; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eceff2; text-align: left;
  vertical-align: top; }
thead th { background: #f4f6f8; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.failed { background: #fff5f5 !important; }
.inline { display: inline-table; margin-right: 28px; vertical-align: top; }
.scroll { overflow-x: auto; max-width: 100%; }
.empty, .note, .muted { color: #7b8794; }
.note { font-size: 12px; margin: 2px 0 8px; }
.ok { color: #2f855a; font-weight: 700; }
.bad { color: #c53030; font-weight: 700; }
.badge { background: #c53030; color: #fff; border-radius: 3px; padding: 0 5px; font-size: 11px; }
.failures { border-color: #e5a3a3; background: #fff5f5; }
.failures li code { background: #fde2e2; }
.meter { display: inline-block; width: 60px; height: 8px; background: #e4e7eb;
  border-radius: 4px; vertical-align: middle; overflow: hidden; }
.meter span { display: block; height: 100%; background: #4c9a6a; }
svg.chart { display: block; font-size: 11px; }
svg .grid { stroke: #e4e7eb; stroke-width: 1; }
svg .tick { fill: #52606d; }
svg .slot { fill: transparent; }
svg g:hover .slot { fill: #eef2f7; }
svg .bar { fill: #4c78a8; }
svg .bar.failed { fill: #c53030; }
svg .line { fill: none; stroke-width: 2; }
svg .line.agree { stroke: #4c78a8; }
svg .line.answered { stroke: #9aa5b1; stroke-dasharray: 5 4; }
svg .dot { fill: #4c78a8; stroke: #fff; stroke-width: 1.5; }
.legend { display: flex; gap: 16px; font-size: 12px; color: #52606d; margin: 4px 0 8px; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
  margin-right: 5px; vertical-align: -1px; }
table.heatmap td.heat { text-align: center; min-width: 34px; font-size: 11px; padding: 2px 4px;
  border: 1px solid #fff; }
table.heatmap td.blank { background: #f4f6f8; }
table.answers td.ans { font: 11px ui-monospace, Menlo, Consolas, monospace; padding: 2px 6px;
  border: 1px solid #fff; white-space: nowrap; }
.match { background: #c6ecd2; }
.other { background: #fde3b5; }
.none { background: #eceff2; color: #7b8794; }
.key { padding: 1px 6px; border-radius: 3px; margin-right: 6px; color: #1f2933; }
details { margin: 4px 0; }
summary { cursor: pointer; }
th.pid, td.pid { white-space: nowrap; }
"""


def _header(summary: Mapping[str, Any], problems: Sequence[_Problem]) -> str:
    failed = summary.get("failed_problems") or []
    n_label = _paths_label(summary, problems)
    meta = "".join(
        f"<span>{label}: <b>{_e(_text(summary.get(key)))}</b></span>"
        for label, key in (
            ("Benchmark", "benchmark"),
            ("Method", "method"),
            ("Model", "model"),
            ("Created", "created_at"),
        )
    )
    cards = [
        ("Pass@1", _pct(summary.get("pass_at_1")), ""),
        (f"Cons@{n_label}", _pct(summary.get("cons_at_n")), ""),
        ("Problems", _int(summary.get("n_problems")), ""),
        ("Paths / problem", _int(summary.get("n_paths")), ""),
        ("Wall time", _duration(summary.get("wall_seconds")), ""),
        ("Failed problems", str(len(failed)), " alert" if failed else ""),
    ]
    card_html = "".join(
        f'<div class="card{css}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div></div>'
        for label, value, css in cards
    )
    return (
        "<header><h1>LeaP run report</h1>"
        f'<p class="sub">run <code>{_e(_text(summary.get("run_id")))}</code></p>'
        f'<div class="meta">{meta}</div><div class="cards">{card_html}</div></header>'
    )


def _metrics_section(summary: Mapping[str, Any]) -> str:
    items = _pass_at_k_items(summary)
    if items:
        pass_k = (
            '<table class="inline"><thead><tr><th>k</th><th>Pass@k</th></tr></thead><tbody>'
            + "".join(
                f'<tr><td>{_e(k)}</td><td class="num">{_e(_pct(v))}</td></tr>' for k, v in items
            )
            + "</tbody></table>"
        )
    else:
        pass_k = (
            '<table class="inline"><tbody>'
            f"<tr><th>Pass@k</th><td>{MISSING}</td></tr></tbody></table>"
        )
    tokens = summary.get("tokens")
    tokens = tokens if isinstance(tokens, Mapping) else {}
    token_rows = "".join(
        f"<tr><td>{_e(kind.replace('_', ' '))}</td>"
        f'<td class="num">{_int(tokens.get(kind))}</td></tr>'
        for kind in _RUN_TOKEN_KINDS
    )
    computed, reused = _number(tokens.get("prompt_computed")), _number(tokens.get("prompt_reused"))
    if computed is not None and reused is not None and computed + reused > 0:
        token_rows += (
            f'<tr><td>prompt cache reuse</td><td class="num">'
            f"{_pct(reused / (computed + reused))}</td></tr>"
        )
    token_table = (
        '<table class="inline"><thead><tr><th>tokens</th><th>count</th></tr></thead>'
        f"<tbody>{token_rows}</tbody></table>"
    )
    return f"<section><h2>Metrics</h2>{pass_k}{token_table}</section>"


def _failures_section(summary: Mapping[str, Any]) -> str:
    failed = summary.get("failed_problems") or []
    if not failed:
        return ""
    items = "".join(f"<li><code>{_e(pid)}</code></li>" for pid in failed)
    return (
        f'<section class="failures"><h2>Failed problems ({len(failed)})</h2>'
        '<p class="note">These problems did not finish; they are missing from the metrics '
        f"or counted as wrong, depending on the run.</p><ul>{items}</ul></section>"
    )


def render_report(
    summary: dict,
    scores: list[dict],
    agreement: list[dict],
    *,
    equivalent: Equivalence | None = None,
) -> str:
    """One self-contained HTML page for one benchmark run.

    `summary` holds run-level values (headline metrics, tokens, config, failed problem ids),
    `scores` one row per problem x path, `agreement` one row per problem x round with every
    path's current answer. Any key may be missing; missing values show as "—". Headline
    metrics are shown as given, never recomputed; majority answers and agreement are
    computed here with `equivalent` (default: equal text up to whitespace).
    """
    summary = summary if isinstance(summary, Mapping) else {}
    same = equivalent or _same_text
    problems = _collect(summary, scores or [], agreement or [], same)
    curve = _curve(problems, same)
    title = f"LeaP report — {_text(summary.get('run_id'))}"
    token_legend = _legend([(kind, _TOKEN_COLORS[kind]) for kind in TOKEN_KINDS])
    agreement_legend = _legend(
        [("paths agreeing with the majority", "#4c78a8"), ("paths with an answer", "#9aa5b1")]
    )
    body = [
        _header(summary, problems),
        "<main>",
        _failures_section(summary),
        _metrics_section(summary),
        "<section><h2>Accuracy per problem</h2>"
        '<p class="note">Share of paths whose final answer is correct.</p>'
        f'<div class="scroll">{_accuracy_chart(problems)}</div></section>',
        "<section><h2>Tokens per path</h2>"
        '<p class="note">One bar per path, grouped by problem.</p>'
        f'{token_legend}<div class="scroll">{_tokens_chart(problems)}</div></section>',
        "<section><h2>Agreement across rounds</h2>"
        '<p class="note">Per round, averaged over problems; a problem that already finished '
        "keeps its final answers.</p>"
        f'{agreement_legend}<div class="scroll">{_agreement_chart(curve)}</div>'
        f"{_agreement_tables(problems, same)}</section>",
        f"<section><h2>Problems</h2>{_problem_table(problems)}</section>",
        f"<section><h2>Configuration</h2>{_config_table(summary.get('config'))}</section>",
        "</main>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


# --------------------------------------------------------------------------- markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def _md(value: object) -> str:
    """Plain text safe inside a markdown table cell (no markup, no raw HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def write_markdown_summary(summary: dict, previous: dict | None = None) -> str:
    """A short markdown summary of a run (for a Prefect artifact).

    With `previous` (the summary of an earlier run), Pass@1 and Cons@N get a column with
    the change in percentage points, rounded half away from zero to 0.1 ("+3.1 pts").
    """
    summary = summary if isinstance(summary, Mapping) else {}
    n_label = _paths_label(summary, [])
    lines = [
        f"### LeaP run {_md(_text(summary.get('run_id')))}",
        "",
        " · ".join(
            f"{label}: **{_md(_text(summary.get(key)))}**"
            for label, key in (("benchmark", "benchmark"), ("method", "method"), ("model", "model"))
        )
        + f" · {_int(summary.get('n_problems'))} problems × {_int(summary.get('n_paths'))} paths",
        "",
    ]
    rows = [
        ("Pass@1", summary.get("pass_at_1"), "pass_at_1"),
        (f"Cons@{n_label}", summary.get("cons_at_n"), "cons_at_n"),
    ]
    # Pass@1 already has its own row.
    pass_k = [(k, value) for k, value in _pass_at_k_items(summary) if k != "1"]
    if previous is not None:
        prev_id = _md(_text(previous.get("run_id")))
        lines += [f"| Metric | Value | Δ vs {prev_id} |", "|---|---:|---:|"]
        for label, value, key in rows:
            lines.append(f"| {label} | {_pct(value)} | {_delta_points(value, previous.get(key))} |")
        for k, value in pass_k:
            lines.append(f"| Pass@{_md(k)} | {_pct(value)} |  |")
    else:
        lines += ["| Metric | Value |", "|---|---:|"]
        for label, value, _ in rows:
            lines.append(f"| {label} | {_pct(value)} |")
        for k, value in pass_k:
            lines.append(f"| Pass@{_md(k)} | {_pct(value)} |")
    tokens = summary.get("tokens")
    tokens = tokens if isinstance(tokens, Mapping) else {}
    lines += ["", "| Tokens | Count |", "|---|---:|"]
    lines += [
        f"| {kind.replace('_', ' ')} | {_int(tokens.get(kind))} |" for kind in _RUN_TOKEN_KINDS
    ]
    lines += ["", f"**Wall time:** {_duration(summary.get('wall_seconds'))}", ""]
    failed = summary.get("failed_problems") or []
    if failed:
        lines.append(f"**Failed problems ({len(failed)}):** " + ", ".join(_md(p) for p in failed))
    else:
        lines.append("**Failed problems:** none")
    return "\n".join(lines) + "\n"
