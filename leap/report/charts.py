"""The charts of the HTML report: accuracy, tokens per path, agreement by round and peer
influence by token position, drawn with matplotlib into inline SVG (`leap.report.svg`).

Each chart is returned as markup ready to drop into the page (or a short note when there
is nothing to draw). Hovering a bar, a path's stack or a round's point shows its numbers
(an SVG `<title>`). The legends are HTML (`legend`), above the charts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from leap.report.data import TOKEN_KINDS, ProblemResult
from leap.report.format import clip, compact_number, empty_note, escape, nice_ceiling
from leap.report.svg import STYLE, drawing, inline_svg
from leap.scoring.influence import PositionShare

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TOKEN_COLORS = {
    "reasoning": "#4c78a8",
    "summary": "#f58518",
    "injected": "#b279a2",
    "answer": "#54a24b",
}
INFLUENCE_COLORS = {"adopted": "#4c78a8", "moved": "#f58518"}
BAR_COLOR, FAILED_COLOR = "#4c78a8", "#c53030"
AGREE_COLOR, ANSWERED_COLOR = "#4c78a8", "#9aa5b1"
GRID_COLOR = "#e4e7eb"

_PX = 1 / 96  # inches per CSS pixel: the page shows matplotlib's SVG points at 4/3 px
Box = tuple[float, float, float, float]  # x, width, bottom, height (data units)


def _canvas(width_px: float, height_px: float) -> tuple[Figure, Axes]:
    """A figure whose whole area is the plot; the axis labels are added around it on save."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px * _PX, height_px * _PX))
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.spines[["top", "right", "left"]].set_visible(False)
    axes.tick_params(length=0)
    axes.set_axisbelow(True)
    return figure, axes


def _y_axis(axes: Axes, top: float, fmt: Callable[[float], str]) -> None:
    """Grid lines with labels at 0, 1/5, ..., top."""
    from matplotlib.ticker import FuncFormatter

    axes.set_ylim(0, top)
    axes.set_yticks([top * step / 5 for step in range(6)])
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: fmt(value)))
    axes.grid(axis="y", color=GRID_COLOR, linewidth=0.75)


def _x_labels(axes: Axes, places: Sequence[float], labels: Sequence[str], room: float) -> None:
    """Category labels under the axis, slanted when they do not fit side by side in `room`
    px; text artists rather than ticks, which cost several artists each."""
    from matplotlib.transforms import offset_copy

    slanted = max((len(text) for text in labels), default=0) * 6.5 > room
    under = offset_copy(axes.get_xaxis_transform(), fig=axes.figure, y=-4, units="points")
    axes.set_xticks([])
    for place, text in zip(places, labels, strict=True):
        axes.text(
            place, 0, text, transform=under, color=STYLE["xtick.color"], clip_on=False,
            parse_math=False,  # a "$" in a problem id is text, not mathtext
            rotation=40 if slanted else 0, rotation_mode="anchor",
            horizontalalignment="right" if slanted else "center", verticalalignment="top",
        )  # fmt: skip


def _corners(boxes: Sequence[Box]) -> list[list[tuple[float, float]]]:
    return [[(x, b), (x, b + h), (x + w, b + h), (x + w, b)] for x, w, b, h in boxes]


def _boxes(axes: Axes, boxes: Sequence[Box], colors: Sequence[str]) -> None:
    """Rectangles, drawn as one SVG path per colour (much faster than an artist each)."""
    import numpy as np
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    for color in dict.fromkeys(colors):
        mine = [box for box, c in zip(boxes, colors, strict=True) if c == color]
        shape = Path.make_compound_path_from_polys(np.array(_corners(mine), dtype=float))
        axes.add_artist(PathPatch(shape, facecolor=color, edgecolor="none"))  # no autoscale


def _hover(axes: Axes, boxes: Sequence[Box], tips: Sequence[str]) -> dict[str, str]:
    """Invisible boxes on top that show `tips` when hovered; the urls for `inline_svg`."""
    from matplotlib.collections import PolyCollection

    urls = {f"tip-{i}": tip for i, tip in enumerate(tips)}
    hover = PolyCollection(_corners(boxes), facecolors="none", edgecolors="none", zorder=5)
    hover.set_urls(list(urls))
    axes.add_collection(hover, autolim=False)
    return urls


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def accuracy_chart(problems: Sequence[ProblemResult]) -> str:
    scored = [problem for problem in problems if problem.paths]
    if not scored:
        return empty_note("No per-path scores were recorded.")
    step = max(16.0, min(56.0, 720 / len(scored)))  # px per problem
    tips = [
        f"{p.pid}: {p.n_correct}/{len(p.paths)} paths correct "
        f"({(p.accuracy or 0.0) * 100:.1f}%)" + (" · errored" if p.failed else "")
        for p in scored
    ]
    with drawing():
        figure, axes = _canvas(step * len(scored), 170)
        _boxes(
            axes,
            [(i - 0.35, 0.7, 0.0, p.accuracy or 0.0) for i, p in enumerate(scored)],
            [FAILED_COLOR if p.failed else BAR_COLOR for p in scored],
        )
        urls = _hover(axes, [(i - 0.5, 1.0, 0.0, 1.0) for i in range(len(scored))], tips)
        axes.set_xlim(-0.5, len(scored) - 0.5)
        _y_axis(axes, 1.0, _percent)
        _x_labels(axes, range(len(scored)), [clip(p.pid, 14) for p in scored], step)
        return inline_svg(figure, "Accuracy per problem", "acc", tips=urls)


def tokens_chart(problems: Sequence[ProblemResult]) -> str:
    scored = [problem for problem in problems if problem.paths]
    if not scored:
        return empty_note("No per-path token counts were recorded.")
    most_paths = max(len(problem.paths) for problem in scored)
    bar_px = 10.0 if most_paths <= 4 else 7.0  # one path: one unit on the x axis
    gap = 14.0 / bar_px  # between problems
    width = 1 - 1 / bar_px
    top = nice_ceiling(max(path.total for problem in scored for path in problem.paths))
    segments: list[Box] = []
    colors: list[str] = []
    slots: list[Box] = []
    tips: list[str] = []
    centres: list[float] = []
    x = gap / 2
    for problem in scored:
        start = x
        for path in problem.paths:
            bottom = 0.0
            for kind in TOKEN_KINDS:
                if path.tokens[kind] > 0:
                    segments.append((x, width, bottom, path.tokens[kind]))
                    colors.append(TOKEN_COLORS[kind])
                    bottom += path.tokens[kind]
            slots.append((x, width, 0.0, top))
            tips.append(
                f"{problem.pid} · path {path.index}: "
                + ", ".join(f"{kind} {path.tokens[kind]:,}" for kind in TOKEN_KINDS)
                + f" (total {path.total:,})"
            )
            x += 1
        centres.append((start + x - 1 + width) / 2)
        x += gap
    with drawing():
        figure, axes = _canvas((x - gap / 2) * bar_px, 190)
        _boxes(axes, segments, colors)
        urls = _hover(axes, slots, tips)
        axes.set_xlim(0, x - gap / 2)
        _y_axis(axes, top, compact_number)
        labels = [clip(problem.pid, 14) for problem in scored]
        _x_labels(axes, centres, labels, (most_paths + gap) * bar_px)
        return inline_svg(figure, "Tokens per path, grouped by problem", "tok", tips=urls)


def legend(items: Sequence[tuple[str, str]]) -> str:
    entries = "".join(
        f'<span><i style="background:{color}"></i>{escape(name)}</span>' for name, color in items
    )
    return f'<div class="legend">{entries}</div>'


def agreement_chart(curve: Sequence[Mapping[str, float | int]]) -> str:
    if not curve:
        return empty_note("No per-round answers were recorded.")
    count = len(curve)
    places = list(range(count))
    agree = [float(point["agree"]) for point in curve]
    answered = [float(point["answered"]) for point in curve]
    tips = [
        f"round {point['round']}: {float(point['agree']) * 100:.1f}% agree with the "
        f"majority, {float(point['answered']) * 100:.1f}% have an answer "
        f"({point['problems']} problems)"
        for point in curve
    ]
    urls = {f"tip-{i}": tip for i, tip in enumerate(tips)}
    every = max(1, math.ceil(count / 20))
    shown = [i for i in places if i % every == 0 or i == count - 1]
    with drawing():
        figure, axes = _canvas(616, 200)
        axes.plot(places, answered, color=ANSWERED_COLOR, lw=1.5, ls=(0, (2.5, 2)), gid="answered")
        axes.plot(places, agree, color=AGREE_COLOR, lw=1.5, gid="agree")
        axes.scatter(
            places, agree, s=28, color=AGREE_COLOR, edgecolors="white", linewidths=1.1,
            zorder=3, urls=list(urls), clip_on=False,
        )  # fmt: skip
        margin = 0.5 if count == 1 else 0.02 * (count - 1)
        axes.set_xlim(-margin, count - 1 + margin)
        _y_axis(axes, 1.0, _percent)
        axes.set_xticks(shown, [str(curve[i]["round"]) for i in shown], parse_math=False)
        axes.set_xlabel("round")
        return inline_svg(figure, "Agreement among paths by round", "agr", tips=urls)


def influence_chart(buckets: Sequence[PositionShare]) -> str:
    """Share of peer blocks after which the path adopted a peer's answer or moved to
    another one, by token position: stacked bars (adopted below, moved on top)."""
    if not buckets:
        return empty_note("No path was shown a peer summary.")
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    with drawing():
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
        axes.grid(axis="y", color=GRID_COLOR)
        axes.set_axisbelow(True)
        axes.spines[["top", "right"]].set_visible(False)
        return inline_svg(figure, "Peer influence by token position", "influence")
