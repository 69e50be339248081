"""The whole HTML report page: header, sections, CSS, and `render_report` tying them up.

The page is self-contained: the CSS is inline, the charts are inline SVG, and nothing is
loaded from elsewhere. Text that comes from a user, a dataset or a model goes through
`escape` before it is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leap.report.charts import (
    INFLUENCE_COLORS,
    TOKEN_COLORS,
    accuracy_chart,
    agreement_chart,
    influence_chart,
    legend,
    tokens_chart,
)
from leap.report.data import (
    RUN_TOKEN_KINDS,
    TOKEN_KINDS,
    Equivalence,
    collect_problems,
    curve_from_problems,
    pass_at_k_items,
    problem_groups,
    same_text,
)
from leap.report.format import (
    MISSING,
    duration,
    escape,
    percent,
    text_or_dash,
    verdict_counts,
    whole_number,
)
from leap.report.style import html_page
from leap.report.tables import agreement_tables, config_table, problem_table
from leap.scoring.influence import (
    CATEGORIES,
    REFLECTION_MARKERS,
    InfluenceRow,
    influence_by_position,
)
from leap.scoring.summary import RunOrigin, RunSummary, ScoreRow

# Rules of this page only; the shared ones are in leap.report.style.
_CSS = """
h2 { margin: 28px 0 10px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 10px 0 0; color: #52606d; }
.meta b { color: #1f2933; font-weight: 600; }
.card.alert { border-color: #e5a3a3; background: #fff5f5; }
tr.failed { background: #fff5f5 !important; }
.inline { display: inline-table; margin-right: 28px; vertical-align: top; }
.empty, .note, .muted { color: #7b8794; }
.note { margin: 2px 0 8px; }
.badge { background: #c53030; color: #fff; border-radius: 3px; padding: 0 5px; font-size: 11px; }
.failures { border-color: #e5a3a3; background: #fff5f5; }
.failures li code { background: #fde2e2; }
.meter { display: inline-block; width: 60px; height: 8px; background: #e4e7eb;
  border-radius: 4px; vertical-align: middle; overflow: hidden; }
.meter span { display: block; height: 100%; background: #4c9a6a; }
svg.chart { display: block; font-size: 11px; }
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
a { color: #2b6cb0; }
"""


def _origin(origin: RunOrigin | None) -> str:
    """The flow run that scored the run: its name linked to its dashboard page, its id."""
    if origin is None:
        return MISSING
    name = escape(text_or_dash(origin.flow_run_name))
    url = origin.dashboard_url
    if url is not None and url.startswith(("http://", "https://")):
        name = f'<a href="{escape(url)}">{name}</a>'
    return f"{name} <code>{escape(origin.flow_run_id)}</code>"


def _versions(versions: Mapping[str, str] | None) -> str:
    if not versions:
        return MISSING
    return " · ".join(f"{escape(name)} {escape(v)}" for name, v in versions.items())


def _header(summary: RunSummary) -> str:
    meta = "".join(
        f"<span>{label}: <b>{escape(text_or_dash(value))}</b></span>"
        for label, value in (
            ("Benchmark", summary.benchmark),
            ("Method", summary.method),
            ("Preset", summary.preset),
            ("Model", summary.model),
            ("Engine", summary.engine),
            ("dtype", summary.dtype),
            ("Spec hash", summary.spec_hash),
            ("Created", summary.created_at),
        )
    )
    cards = [
        ("Pass@1", percent(summary.pass_at_1), ""),
        (f"Cons@{summary.n_paths}", percent(summary.cons_at_n), ""),
        ("Answered", percent(summary.answered_rate), ""),
        ("Problems", whole_number(summary.n_problems), ""),
        ("Paths / problem", whole_number(summary.n_paths), ""),
        ("Elapsed", duration(summary.elapsed_seconds), ""),
        ("Solve time", duration(summary.solve_seconds), ""),
    ]
    for group in problem_groups(summary):
        alert = " alert" if group.label == "errored" and group.count else ""
        cards.append((group.label.capitalize(), whole_number(group.count), alert))
    paths = verdict_counts(summary.verdicts, summary.truncated_paths)
    card_html = "".join(
        f'<div class="card{css}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div></div>'
        for label, value, css in cards
    )
    return (
        "<header><h1>LeaP run report</h1>"
        f'<p class="sub">run <code>{escape(text_or_dash(summary.run_id))}</code>'
        f" · flow run {_origin(summary.origin)}</p>"
        f'<div class="meta">{meta}</div><div class="cards">{card_html}</div>'
        f'<p class="sub">paths: {escape(paths)}</p>'
        '<p class="sub">elapsed: from the start of the first round to the last final answer; '
        "solve time: each problem's own time, added up (problems solved at once overlap)</p>"
        f'<p class="sub">versions: {_versions(summary.versions)}</p></header>'
    )


def _metrics_section(summary: RunSummary) -> str:
    items = pass_at_k_items(summary)
    if items:
        pass_k = (
            '<table class="inline"><thead><tr><th>k</th><th>Pass@k</th></tr></thead><tbody>'
            + "".join(
                f'<tr><td>{escape(k)}</td><td class="num">{escape(percent(v))}</td></tr>'
                for k, v in items
            )
            + "</tbody></table>"
        )
    else:
        pass_k = (
            '<table class="inline"><tbody>'
            f"<tr><th>Pass@k</th><td>{MISSING}</td></tr></tbody></table>"
        )
    tokens = summary.tokens
    token_rows = "".join(
        f"<tr><td>{escape(kind.replace('_', ' '))}</td>"
        f'<td class="num">{whole_number(getattr(tokens, kind))}</td></tr>'
        for kind in RUN_TOKEN_KINDS
    )
    computed, reused = tokens.prompt_computed, tokens.prompt_reused
    if computed + reused > 0:
        token_rows += (
            f'<tr><td>prompt cache reuse</td><td class="num">'
            f"{percent(reused / (computed + reused))}</td></tr>"
        )
    token_table = (
        '<table class="inline"><thead><tr><th>tokens</th><th>count</th></tr></thead>'
        f"<tbody>{token_rows}</tbody></table>"
    )
    return f"<section><h2>Metrics</h2>{pass_k}{token_table}</section>"


def _failures_section(summary: RunSummary) -> str:
    groups = [group for group in problem_groups(summary) if group.ids]
    if not groups:
        return ""
    parts = []
    for group in groups:
        items = "".join(f"<li><code>{escape(pid)}</code></li>" for pid in group.ids or ())
        parts.append(
            f"<h3>{escape(group.label.capitalize())} ({group.count})</h3>"
            f'<p class="note">{escape(group.meaning.capitalize())}.</p><ul>{items}</ul>'
        )
    total = sum(group.count or 0 for group in groups)
    return (
        f'<section class="failures"><h2>Problems not solved ({total})</h2>'
        '<p class="note">Errored problems are missing from the metrics; wrong and unanswered '
        f"ones count as wrong in Cons@N.</p>{''.join(parts)}</section>"
    )


def _reflections_note(rows: Sequence[InfluenceRow]) -> str:
    total = sum(row.reflections for row in rows)
    paths = {(row.problem_id, row.path) for row in rows}
    markers = ", ".join(f"“{name}”" for name, _ in REFLECTION_MARKERS)
    per_path = f"{total / len(paths):.1f}" if paths else MISSING
    return (
        f'<p class="note">Reflection markers in the paths\' own reasoning ({escape(markers)}): '
        f"{whole_number(total)} in all, {escape(per_path)} per path.</p>"
    )


def _influence_section(rows: Sequence[InfluenceRow]) -> str:
    """Peer influence by token position, as the paper's communication analysis plots it."""
    buckets = influence_by_position(rows)
    head = "<section><h2>Peer influence</h2>"
    if not buckets:
        return (
            f'{head}<p class="note">No communication in this run: no path was shown a peer '
            f"summary.</p>{_reflections_note(rows)}</section>"
        )
    total = {kind: sum(getattr(b, kind) for b in buckets) for kind in CATEGORIES}
    blocks = sum(total.values())
    table_rows = "".join(
        f'<tr><td class="num">{b.position:,}</td><td class="num">{b.blocks:,}</td>'
        f'<td class="num">{b.kept:,}</td><td class="num">{b.adopted:,}</td>'
        f'<td class="num">{b.moved:,}</td><td class="num">{b.none:,}</td>'
        f'<td class="num">{percent(b.influenced_share)}</td></tr>'
        for b in buckets
    )
    table = (
        '<table class="influence"><thead><tr><th>tokens</th><th>peer blocks</th><th>kept</th>'
        "<th>adopted</th><th>moved</th><th>no answer</th><th>influenced</th></tr></thead>"
        f"<tbody>{table_rows}</tbody></table>"
    )
    return (
        f'{head}<p class="note">After each peer block a path received: <b>kept</b> its answer, '
        "<b>adopted</b> an answer a peer it was shown stated, <b>moved</b> to an answer no "
        "shown peer stated, or had no answer after it to compare (docs/analysis.md). Bars: "
        "adopted and moved blocks as a share of all blocks received at that position "
        f"(cumulative reasoning tokens). In all: {total['kept']:,} kept · "
        f"{total['adopted']:,} adopted · {total['moved']:,} moved · {total['none']:,} no "
        f"answer, of {blocks:,} blocks.</p>"
        f"{legend(list(INFLUENCE_COLORS.items()))}"
        f'<div class="scroll">{influence_chart(buckets)}</div>{table}'
        f"{_reflections_note(rows)}</section>"
    )


def render_report(
    summary: RunSummary,
    scores: Sequence[ScoreRow],
    agreement: Sequence[Mapping[str, Any]],
    *,
    equivalent: Equivalence | None = None,
    influence: Sequence[InfluenceRow] | None = None,
) -> str:
    """One self-contained HTML page for one benchmark run.

    `scores` holds one row per problem x path, `agreement` one row per problem x round
    (keys "problem_id", "round", "answers": every path's current answer); an agreement row
    with a missing or malformed value is skipped, and a missing value shows as "—".
    Headline metrics are shown as the summary gives them, never recomputed; majority
    answers and agreement are computed here with `equivalent` (default: equal text up to
    whitespace). `influence`, when given, holds the run's analysis rows
    (`leap.scoring.influence`): the page gets a peer influence section, which says so
    when the run had no communication.
    """
    same = equivalent or same_text
    problems = collect_problems(scores, agreement, same, set(summary.failed_problems))
    curve = curve_from_problems(problems, same)
    title = f"LeaP report — {text_or_dash(summary.run_id)}"
    token_legend = legend([(kind, TOKEN_COLORS[kind]) for kind in TOKEN_KINDS])
    agreement_legend = legend(
        [("paths agreeing with the majority", "#4c78a8"), ("paths with an answer", "#9aa5b1")]
    )
    body = [
        _header(summary),
        "<main>",
        _failures_section(summary),
        _metrics_section(summary),
        "<section><h2>Accuracy per problem</h2>"
        '<p class="note">Share of paths whose final answer is correct.</p>'
        f'<div class="scroll">{accuracy_chart(problems)}</div></section>',
        "<section><h2>Tokens per path</h2>"
        '<p class="note">One bar per path, grouped by problem.</p>'
        f'{token_legend}<div class="scroll">{tokens_chart(problems)}</div></section>',
        "<section><h2>Agreement across rounds</h2>"
        '<p class="note">Per round, averaged over problems; a problem that already finished '
        "keeps its final answers.</p>"
        f'{agreement_legend}<div class="scroll">{agreement_chart(curve)}</div>'
        f"{agreement_tables(problems, same)}</section>",
        "" if influence is None else _influence_section(influence),
        f"<section><h2>Problems</h2>{problem_table(problems)}</section>",
        f"<section><h2>Configuration</h2>{config_table(summary.config)}</section>",
        "</main>",
    ]
    return html_page(title, body, _CSS)
