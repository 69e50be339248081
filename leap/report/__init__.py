"""Reports for one benchmark run: a self-contained HTML page and a short markdown summary.

Both read what scoring produces (`leap.scoring.summary`: a `RunSummary` and `ScoreRow`s)
and never how a run is stored. The package is split by concern:

- `format`: escaping and the formatting of numbers, shares, durations and missing values;
- `data`: per-problem results from score and agreement rows, voting, the agreement curve;
- `charts`: the inline SVG charts;
- `tables`: the HTML tables (answers by round, problems, configuration);
- `page`: the page itself, `render_report`;
- `markdown`: `write_markdown_summary`.
"""

from leap.report.data import TOKEN_KINDS, Equivalence, agreement_curve
from leap.report.format import MISSING
from leap.report.markdown import write_markdown_summary
from leap.report.page import render_report

__all__ = [
    "MISSING",
    "TOKEN_KINDS",
    "Equivalence",
    "agreement_curve",
    "render_report",
    "write_markdown_summary",
]
