"""The inline SVG charts of the HTML report: accuracy, tokens per path, agreement by round
(drawn here as SVG markup), and peer influence by token position (drawn with matplotlib).

Each chart is returned as markup ready to drop into the page (or a short note when there
is nothing to draw); the styling comes from the page's CSS classes.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence

from leap.report.data import TOKEN_KINDS, ProblemResult
from leap.report.format import clip, compact_number, empty_note, escape, nice_ceiling
from leap.scoring.influence import PositionShare

TOKEN_COLORS = {
    "reasoning": "#4c78a8",
    "summary": "#f58518",
    "injected": "#b279a2",
    "answer": "#54a24b",
}

_AXIS_LEFT = 48


def _svg_open(width: float, height: float, label: str) -> str:
    return (
        f'<svg class="chart" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}">'
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
            f'text-anchor="end">{escape(fmt(value))}</text>'
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
                f'transform="rotate(-40 {x:.1f} {y:.1f})">{escape(text)}</text>'
            )
        else:
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">'
                f"{escape(text)}</text>"
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


def accuracy_chart(problems: Sequence[ProblemResult]) -> str:
    scored = [problem for problem in problems if problem.paths]
    if not scored:
        return empty_note("No per-path scores were recorded.")
    step = max(16.0, min(56.0, 720 / len(scored)))
    top, plot_h = 12.0, 170.0
    width = _AXIS_LEFT + step * len(scored) + 12
    labels = [(_AXIS_LEFT + step * (i + 0.5), clip(p.pid, 14)) for i, p in enumerate(scored)]
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
            f"<g><title>{escape(tip)}</title>"
            f'<rect class="slot" x="{x:.1f}" y="{top}" width="{bar_w:.1f}" height="{plot_h}" />'
            f'<rect class="bar{" failed" if problem.failed else ""}" x="{x:.1f}" '
            f'y="{top + plot_h - bar_h:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" /></g>'
        )
    parts.append(label_svg)
    return _framed(width, height, "Accuracy per problem", pad, "".join(parts))


def tokens_chart(problems: Sequence[ProblemResult]) -> str:
    scored = [problem for problem in problems if problem.paths]
    if not scored:
        return empty_note("No per-path token counts were recorded.")
    most_paths = max(len(problem.paths) for problem in scored)
    bar_w = 10.0 if most_paths <= 4 else 7.0
    gap = 14.0
    top, plot_h = 12.0, 190.0
    top_value = nice_ceiling(max(path.total for problem in scored for path in problem.paths))
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
                    f'fill="{TOKEN_COLORS[kind]}" />'
                )
            bars.append(
                f'<g class="stack"><title>{escape(tip)}</title>'
                f'<rect class="slot" x="{x:.1f}" y="{top}" width="{bar_w - 1:.1f}" '
                f'height="{plot_h}" />{"".join(segments)}</g>'
            )
            x += bar_w
        labels.append(((start + x) / 2, clip(problem.pid, 14)))
        x += gap
    width = x - gap / 2 + 8
    room = most_paths * bar_w + gap
    label_svg, label_h, pad = _x_labels(labels, top + plot_h + 14, room)
    height = top + plot_h + label_h + 8
    body = _y_axis(width, top, plot_h, top_value, compact_number) + "".join(bars) + label_svg
    return _framed(width, height, "Tokens per path, grouped by problem", pad, body)


def legend(items: Sequence[tuple[str, str]]) -> str:
    entries = "".join(
        f'<span><i style="background:{color}"></i>{escape(name)}</span>' for name, color in items
    )
    return f'<div class="legend">{entries}</div>'


def agreement_chart(curve: Sequence[Mapping[str, float | int]]) -> str:
    if not curve:
        return empty_note("No per-round answers were recorded.")
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
            f'<g><title>{escape(tip)}</title><circle class="dot" cx="{x_at(i):.1f}" '
            f'cy="{y_at(float(point["agree"])):.1f}" r="3.5" /></g>'
        )
        if i % every == 0 or i == count - 1:
            parts.append(
                f'<text class="tick" x="{x_at(i):.1f}" y="{top + plot_h + 16:.1f}" '
                f'text-anchor="middle">{escape(point["round"])}</text>'
            )
    parts.append(
        f'<text class="tick" x="{left + span / 2:.1f}" y="{top + plot_h + 34:.1f}" '
        'text-anchor="middle">round</text></svg>'
    )
    return "".join(parts)


INFLUENCE_COLORS = {"adopted": "#4c78a8", "moved": "#f58518"}
# matplotlib's settings are global: one chart is drawn at a time, so reports built in
# parallel threads never see each other's settings.
_MATPLOTLIB = threading.Lock()


def influence_chart(buckets: Sequence[PositionShare]) -> str:
    """Share of peer blocks after which the path adopted a peer's answer or moved to
    another one, by token position: stacked bars (adopted below, moved on top) drawn with
    matplotlib into an inline SVG (text as SVG text, nothing loaded from elsewhere)."""
    if not buckets:
        return empty_note("No path was shown a peer summary.")
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    style = {
        "svg.fonttype": "none",
        "svg.hashsalt": "leap-influence",
        "font.size": 9,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
        "axes.edgecolor": "#9aa5b1",
        "axes.labelcolor": "#52606d",
        "xtick.color": "#52606d",
        "ytick.color": "#52606d",
    }
    with _MATPLOTLIB, matplotlib.rc_context(style):
        figure = Figure(figsize=(min(9.0, 3.6 + 0.5 * len(buckets)), 2.6))
        axes = figure.add_subplot()
        places = range(len(buckets))
        adopted = [b.adopted_share for b in buckets]
        moved = [b.influenced_share - b.adopted_share for b in buckets]
        axes.bar(places, adopted, width=0.6, color=INFLUENCE_COLORS["adopted"])
        axes.bar(places, moved, width=0.6, bottom=adopted, color=INFLUENCE_COLORS["moved"])
        axes.set_xticks(list(places), [f"{b.position:,}" for b in buckets])
        highest = max(b.influenced_share for b in buckets)
        axes.set_ylim(0, min(1.02, max(0.05, highest * 1.15)))
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axes.set_xlabel("reasoning tokens at the peer block")
        axes.set_ylabel("share of peer blocks")
        axes.grid(axis="y", color="#e4e7eb")
        axes.set_axisbelow(True)
        axes.spines[["top", "right"]].set_visible(False)
        out = io.StringIO()
        figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    return inline_svg(out.getvalue(), "Peer influence by token position", "influence")


_USE = re.compile(r'<use xlink:href="#([^"]+)" x="([^"]+)" y="([^"]+)"((?: [^/>]*)?)/>')
_DEFINED_PATH = re.compile(r'<path id="([^"]+)" d="([^"]*)"')


def inline_svg(svg: str, label: str, prefix: str) -> str:
    """A matplotlib SVG document as markup to drop into the page.

    Drops the XML prolog, the metadata and the stylesheet (its two rules become the root's
    style), writes every `<use>` out as the path it points to (so no attribute refers to
    anything), prefixes the ids with `prefix`, and names the chart for screen readers.
    """
    svg = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.S)
    shapes = dict(_DEFINED_PATH.findall(svg))

    def written_out(match: re.Match[str]) -> str:
        ref, x, y, rest = match.groups()
        return f'<path d="{shapes[ref]}" transform="translate({x} {y})"{rest}/>'

    svg = _USE.sub(written_out, svg)
    svg = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    if "xlink" in svg or "<use" in svg or "http" in svg:
        raise ValueError("the chart still refers to something outside itself")
    return svg.replace(
        "<svg ",
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        'style="stroke-linejoin: round; stroke-linecap: butt" ',
        1,
    ).strip()
