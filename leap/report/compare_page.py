"""The pages of a comparison of runs: one self-contained HTML page and a markdown summary.

The HTML page opens offline: its CSS is inline and its two charts (accuracy with error
bars per run, and accuracy against generated tokens) are drawn by matplotlib and placed
inline as SVG by `leap.report.svg.inline_svg`; nothing is loaded from elsewhere. Text
from a run (ids, model names) goes through `escape`. Both pages read a
`leap.experiments.compare.Comparison` and nothing of the store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from leap.report.format import clip, compact_number, escape, percent
from leap.report.style import html_page
from leap.report.svg import inline_svg

if TYPE_CHECKING:  # the experiments layer hands its result down; no import at run time
    from leap.experiments.compare import ComparedRun, Comparison, ProblemRow
    from leap.scoring.statistics import Interval

# Rules of this page only; the shared ones are in leap.report.style.
_CSS = """
code { word-break: normal; }
span.note { white-space: nowrap; }
th, td { padding: 4px 8px; }
.win { background: #e3f4e8; }
.loss { background: #fde8e8; }
svg.mpl * { stroke-linejoin: round; stroke-linecap: butt; }
"""

_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def render_comparison(comparison: Comparison) -> str:
    """The whole comparison as one HTML page."""
    runs = comparison.runs
    title = f"Comparison of {len(runs)} runs on {comparison.benchmark}"
    sub = (
        f"{len(comparison.problem_ids)} problems, paired by problem id · baseline "
        f"<code>{escape(runs[0].run_id)}</code> · 95% intervals from a two-level bootstrap "
        f"({comparison.resamples} resamples, seed {comparison.seed})"
    )
    charts = (
        '<div class="charts">'
        + inline_svg(_accuracy_figure(runs), "Accuracy per run", "acc", css_class="mpl")
        + inline_svg(
            _tokens_figure(comparison), "Accuracy against generated tokens", "tok", css_class="mpl"
        )
        + "</div>"
    )
    body = [
        f"<header><h1>{escape(title)}</h1><p class='sub'>{sub}</p></header><main>",
        _section("Runs", _runs_table(runs) + _NOTE),
        _section("Pass@k", _pass_at_k_table(runs)),
        _section("Accuracy and what it cost", charts + _CHART_NOTE),
        _section("Problems", _problems_table(comparison)),
        "</main>",
    ]
    return html_page(title, body, _CSS)


def render_comparison_markdown(comparison: Comparison) -> str:
    """A markdown summary: one row per run (for a Prefect artifact or a pull request)."""
    runs = comparison.runs
    lines = [
        f"### Comparison on {_md(comparison.benchmark)}: {len(runs)} runs, "
        f"{len(comparison.problem_ids)} problems",
        "",
        "| Run | Method | Model | N | Pass@1 (95% CI) | Cons@N (95% CI) "
        "| Generated tokens / problem | W / L / T | Δ Pass@1 (95% CI) | p |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        cells = [
            _md(run.run_id),
            _md(run.method),
            _md(run.model),
            str(run.n_paths),
            interval_text(run.metrics.pass_at_1),
            interval_text(run.metrics.cons_at_n),
            compact_number(run.generated_per_problem),
            *versus_cells(run),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Baseline: {_md(runs[0].run_id)}. W / L / T: problems where a run's Pass@1 is "
        "higher, lower or equal; Δ and p: paired by problem (permutation test). "
        f"Intervals: two-level bootstrap, {comparison.resamples} resamples, "
        f"seed {comparison.seed}.",
    ]
    return "\n".join(lines) + "\n"


# -- tables -----------------------------------------------------------------------------

_NOTE = (
    "<p class='note'>Pass@1: mean share of correct paths; Cons@N: share of problems whose "
    "majority answer is correct. Tokens are per problem: generated = reasoning + summaries "
    "+ answers; injected (cues, peer summaries) and inherited (beginnings from another run) "
    "are not generated and shown apart. W / L / T: problems where the run's Pass@1 is "
    "higher, lower or equal than the baseline's; Δ Pass@1 is the run minus the baseline "
    "with its paired bootstrap interval, p the two-sided paired permutation test.</p>"
)
_CHART_NOTE = (
    "<p class='note'>Left: Pass@1 and Cons@N with their 95% intervals. Right: each small "
    "point is one problem of one run (its share of correct paths against the tokens its "
    "paths generated); the large point is the run's Pass@1 against its mean.</p>"
)


def _section(title: str, content: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{content}</section>"


def _runs_table(runs: Sequence[ComparedRun]) -> str:
    top = "".join(
        f"<th rowspan='2'>{h}</th>"
        for h in ("Run", "Method", "Model", "N", "Pass@1 (95% CI)", "Cons@N (95% CI)")
    )
    top += "<th colspan='3'>Tokens per problem</th><th colspan='3'>Against the baseline</th>"
    sub = "".join(
        f"<th>{h}</th>"
        for h in ("generated", "injected", "inherited", "W / L / T", "Δ Pass@1 (95% CI)", "p")
    )
    rows = []
    for run in runs:
        setting = (
            ""
            if run.setting == run.run_id
            else f"<br><span class='note'>{escape(run.setting)}</span>"
        )
        text = [
            f"<code>{escape(run.run_id)}</code>{setting}",
            escape(run.method),
            escape(run.model),
        ]
        numbers = [
            str(run.n_paths),
            interval_text(run.metrics.pass_at_1),
            interval_text(run.metrics.cons_at_n),
            f"{run.generated_per_problem:,.0f}",
            f"{run.injected_per_problem:,.0f}",
            f"{run.inherited_per_problem:,.0f}",
            *versus_cells(run),
        ]
        cells = [f"<td>{t}</td>" for t in text]
        cells += [f"<td class='num'>{escape(n)}</td>" for n in numbers]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<div class='scroll'><table><thead><tr>{top}</tr><tr>{sub}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _pass_at_k_table(runs: Sequence[ComparedRun]) -> str:
    ks = sorted({k for run in runs for k in run.metrics.pass_at_k})
    rows = []
    for run in runs:
        cells = [f"<td><code>{escape(run.run_id)}</code></td>"]
        for k in ks:
            value = run.metrics.pass_at_k.get(k)
            cells.append(f"<td class='num'>{escape(interval_text(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table(["Run", *(f"Pass@{k}" for k in ks)], rows)


def _problems_table(comparison: Comparison) -> str:
    runs = comparison.runs
    top = "<th rowspan='2'>Problem</th>" + "".join(
        f"<th colspan='{3 if i == 0 else 4}'><code>{escape(clip(run.run_id, 40))}</code></th>"
        for i, run in enumerate(runs)
    )
    sub = "".join(
        "<th>correct</th><th>majority</th><th>generated</th>"
        + ("<th>vs baseline</th>" if i else "")
        for i in range(len(runs))
    )
    by_problem: dict[str, list[ProblemRow]] = {}
    for row in comparison.problems:
        by_problem.setdefault(row.problem_id, []).append(row)
    rows = []
    for pid in comparison.problem_ids:
        cells = [f"<td><code>{escape(pid)}</code></td>"]
        for i, row in enumerate(by_problem[pid]):
            mark = (
                "<span class='ok'>✓</span>"
                if row.majority_correct
                else "<span class='bad'>✗</span>"
            )
            cells += [
                f"<td class='num'>{row.correct_paths}/{row.paths}</td>",
                f"<td>{mark}</td>",
                f"<td class='num'>{row.generated_tokens:,}</td>",
            ]
            if i:
                css = {"win": "win", "loss": "loss"}.get(row.versus_baseline, "")
                cells.append(f"<td class='{css}'>{escape(row.versus_baseline)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<div class='scroll'><table><thead><tr>{top}</tr><tr>{sub}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _table(head: Sequence[str], rows: Sequence[str]) -> str:
    heads = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (
        f"<div class='scroll'><table><thead><tr>{heads}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def interval_text(value: Interval | None) -> str:
    """A share and its interval in percent, e.g. `52.1% [33.3, 68.8]`; a dash for None."""
    if value is None:
        return "—"
    return f"{percent(value.estimate)} [{100 * value.low:.1f}, {100 * value.high:.1f}]"


def _signedinterval_text(value: Interval) -> str:
    return f"{100 * value.estimate:+.1f} pts [{100 * value.low:+.1f}, {100 * value.high:+.1f}]"


def versus_cells(run: ComparedRun) -> list[str]:
    """W / L / T, Δ Pass@1 and p against the baseline (a dash for the baseline itself)."""
    versus = run.versus
    if versus is None:
        return ["baseline", "—", "—"]
    return [
        f"{versus.wins} / {versus.losses} / {versus.ties}",
        _signedinterval_text(versus.test.difference),
        f"{versus.test.p_value:.3g}",
    ]


def _md(value: object) -> str:
    """Plain text safe inside a markdown table cell (no markup, no raw HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


# -- charts -----------------------------------------------------------------------------


def _accuracy_figure(runs: Sequence[ComparedRun]) -> Figure:
    """Pass@1 and Cons@N per run, with their intervals as error bars."""
    figure = Figure(figsize=(max(4.5, 1.1 * len(runs) + 2.5), 3.8), layout="tight")
    axes = figure.add_subplot()
    width = 0.38
    for offset, (label, color) in enumerate((("Pass@1", _COLORS[0]), ("Cons@N", _COLORS[1]))):
        values = [run.metrics.pass_at_1 if offset == 0 else run.metrics.cons_at_n for run in runs]
        xs = [i + (offset - 0.5) * width for i, v in enumerate(values) if v is not None]
        shown = [v for v in values if v is not None]
        if not shown:
            continue
        heights = [v.estimate for v in shown]
        errors = [[v.estimate - v.low for v in shown], [v.high - v.estimate for v in shown]]
        axes.bar(xs, heights, width, label=label, color=color)
        axes.errorbar(xs, heights, yerr=errors, fmt="none", ecolor="#1f2933", capsize=3, lw=1)
    axes.set_xticks(range(len(runs)), [clip(run.run_id, 28) for run in runs])
    if max(len(clip(run.run_id, 28)) for run in runs) * len(runs) > 60:
        axes.tick_params(axis="x", labelrotation=25)
        for text in axes.get_xticklabels():
            text.set_horizontalalignment("right")
    axes.set_ylim(0, 1.05)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.set_ylabel("accuracy")
    axes.set_title("Accuracy per run (95% intervals)", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="upper left", ncols=2)
    _tidy(axes)
    return figure


def _tokens_figure(comparison: Comparison) -> Figure:
    """Per-problem correct share against generated tokens, and each run's means."""
    figure = Figure(figsize=(5.8, 3.8), layout="tight")
    axes = figure.add_subplot()
    for i, run in enumerate(comparison.runs):
        color = _COLORS[i % len(_COLORS)]
        rows = comparison.rows_of(run.run_id)
        axes.scatter(
            [r.generated_tokens for r in rows],
            [r.correct_share for r in rows],
            s=14,
            color=color,
            alpha=0.35,
            linewidths=0,
        )
        point = run.metrics.pass_at_1
        axes.errorbar(
            [run.generated_per_problem],
            [point.estimate],
            yerr=[[point.estimate - point.low], [point.high - point.estimate]],
            fmt="o",
            markersize=8,
            color=color,
            capsize=3,
            label=clip(run.run_id, 32),
        )
    axes.set_ylim(-0.05, 1.05)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: compact_number(value)))
    axes.set_xlabel("generated tokens per problem")
    axes.set_ylabel("share of correct paths")
    axes.set_title("Accuracy against generated tokens", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="best")
    _tidy(axes)
    return figure


def _tidy(axes) -> None:
    axes.grid(axis="y", color="#e4e7eb", lw=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
