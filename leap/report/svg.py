"""Matplotlib figures as inline SVG for the self-contained HTML pages (run report, comparison).

`inline_svg` saves a figure as SVG and cleans it so that it can be dropped into a page that
opens offline: text stays text in the system's sans-serif fonts, nothing refers to anything
outside the chart (no namespace URLs, no `<use>` links, no stylesheet), and every id is
prefixed so that several charts share a page without sharing an id. Items drawn with a
`url` (e.g. `Collection.set_urls`) become groups carrying a tooltip instead of links.

matplotlib's settings are global: `drawing()` holds them (the report's chart style) for
one chart at a time, so pages built in parallel threads never see each other's settings.
matplotlib is imported on first use, so importing the report stays cheap.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from leap.report.format import escape

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Reentrant: `inline_svg` takes it too, inside or outside `drawing()`.
_LOCK = threading.RLock()

STYLE = {
    "font.size": 8,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "axes.edgecolor": "#9aa5b1",
    "axes.labelcolor": "#52606d",
    "xtick.color": "#52606d",
    "ytick.color": "#52606d",
}


@contextmanager
def drawing() -> Iterator[None]:
    """The report's chart style, held against other threads while a figure is built."""
    import matplotlib

    with _LOCK, matplotlib.rc_context(STYLE):
        yield


_USE = re.compile(r'<use xlink:href="#([^"]+)" x="([^"]+)" y="([^"]+)"((?: [^/>]*)?)/>')
_DEFINED_PATH = re.compile(r'<path id="([^"]+)" d="([^"]*)"')
_DEFINED_PATH_ELEMENT = re.compile(r'<path id="[^"]+" d="[^"]*"[^>]*/>')
_LINK = re.compile(r'<a xlink:href="([^"]*)"[^>]*>')
_OUTSIDE = re.compile(r"\b(?:href|src)=|url\((?!#)|<(?:use|a|image|script|style)\b")


def inline_svg(
    figure: Figure,
    label: str,
    prefix: str,
    *,
    tips: Mapping[str, str] | None = None,
    css_class: str = "chart",
) -> str:
    """`figure` as SVG markup to drop into a page, named `label` for screen readers.

    Text is written as text (`svg.fonttype` "none"); the XML prolog, metadata, stylesheet
    (its rule becomes the root's style) and namespace declarations are dropped; every
    `<use>` is written out as the path it points to; ids and `url(#...)` references get
    `prefix`. An item drawn with url `key` becomes a group titled `tips[key]` that takes
    the pointer over its whole area (a hover tooltip); any other url is an error.
    """
    import matplotlib

    buffer = io.StringIO()
    with _LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        figure.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            pad_inches=0.04,
            metadata={"Date": None, "Creator": None},
        )
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(
        r"<!--.*?-->|<metadata>.*?</metadata>|<style[^>]*>.*?</style>", "", svg, flags=re.S
    )
    shapes = dict(_DEFINED_PATH.findall(svg))

    def written_out(match: re.Match[str]) -> str:
        ref, x, y, rest = match.groups()
        return f'<path d="{shapes[ref]}" transform="translate({x} {y})"{rest}/>'

    svg = _DEFINED_PATH_ELEMENT.sub("", _USE.sub(written_out, svg))  # now used nowhere
    svg = re.sub(r"<defs>\s*</defs>", "", svg)
    tips = tips or {}

    def tooltip(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in tips:
            raise ValueError(f"the chart links to {key!r}")
        return f'<g pointer-events="all"><title>{escape(tips[key])}</title>'

    svg = _LINK.sub(tooltip, svg).replace("</a>", "</g>")

    def prefixed(match: re.Match[str]) -> str:  # inside a tag: text never holds "<" or ">"
        tag = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", match.group(0))
        if _OUTSIDE.search(tag):
            raise ValueError(f"the chart still refers to something outside itself: {tag}")
        tag = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', tag)
        return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", tag)

    svg = re.sub(r"<[^>]*>", prefixed, svg)
    return svg.replace(
        "<svg ",
        f'<svg class="{escape(css_class)}" role="img" aria-label="{escape(label)}" '
        'style="stroke-linejoin: round; stroke-linecap: butt" ',
        1,
    ).strip()
