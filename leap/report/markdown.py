"""The short markdown summary of a run, optionally compared with an earlier run."""

from __future__ import annotations

import re

from leap.report.data import RUN_TOKEN_KINDS, pass_at_k_items, problem_groups
from leap.report.format import (
    delta_points,
    duration,
    percent,
    text_or_dash,
    verdict_counts,
    whole_number,
)
from leap.scoring.summary import RunSummary

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def _md(value: object) -> str:
    """Plain text safe inside a markdown table cell (no markup, no raw HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def write_markdown_summary(summary: RunSummary, previous: RunSummary | None = None) -> str:
    """A short markdown summary of a run (for a Prefect artifact).

    With `previous` (the summary of an earlier run), Pass@1 and Cons@N get a column with
    the change in percentage points, rounded half away from zero to 0.1 ("+3.1 pts").
    """
    lines = [
        f"### LeaP run {_md(text_or_dash(summary.run_id))}",
        "",
        " · ".join(
            f"{label}: **{_md(text_or_dash(value))}**"
            for label, value in (
                ("benchmark", summary.benchmark),
                ("method", summary.method),
                ("preset", summary.preset),
                ("model", summary.model),
            )
        )
        + f" · {whole_number(summary.n_problems)} problems × {whole_number(summary.n_paths)} paths",
        "",
    ]
    rows = [
        ("Pass@1", summary.pass_at_1, previous.pass_at_1 if previous else None),
        (f"Cons@{summary.n_paths}", summary.cons_at_n, previous.cons_at_n if previous else None),
    ]
    # Pass@1 already has its own row.
    pass_k = [(k, value) for k, value in pass_at_k_items(summary) if k != "1"]
    if previous is not None:
        prev_id = _md(text_or_dash(previous.run_id))
        lines += [f"| Metric | Value | Δ vs {prev_id} |", "|---|---:|---:|"]
        for label, value, before in rows:
            lines.append(f"| {label} | {percent(value)} | {delta_points(value, before)} |")
        for k, value in pass_k:
            lines.append(f"| Pass@{_md(k)} | {percent(value)} |  |")
    else:
        lines += ["| Metric | Value |", "|---|---:|"]
        for label, value, _ in rows:
            lines.append(f"| {label} | {percent(value)} |")
        for k, value in pass_k:
            lines.append(f"| Pass@{_md(k)} | {percent(value)} |")
    lines += [
        "",
        f"**Answered:** {percent(summary.answered_rate)} of paths · "
        + verdict_counts(summary.verdicts, summary.truncated_paths),
    ]
    if summary.influence:
        counts = summary.influence
        lines += [
            "",
            "**Peer influence:** "
            + " · ".join(
                f"{whole_number(counts.get(k, 0))} {k}" for k in ("kept", "adopted", "moved")
            )
            + f" · {whole_number(counts.get('none', 0))} without an answer to compare"
            + f" (of {whole_number(sum(counts.values()))} peer blocks)",
        ]
    lines += ["", "| Tokens | Count |", "|---|---:|"]
    lines += [
        f"| {kind.replace('_', ' ')} | {whole_number(getattr(summary.tokens, kind))} |"
        for kind in RUN_TOKEN_KINDS
    ]
    lines += [
        "",
        f"**Elapsed:** {duration(summary.elapsed_seconds)} · "
        f"**solve time** (each problem's own, added up): {duration(summary.solve_seconds)}",
        "",
    ]
    groups = problem_groups(summary)
    lines.append(
        "**Problems not solved:** "
        + " · ".join(f"{whole_number(group.count)} {group.label}" for group in groups)
    )
    for group in groups:
        if group.ids:
            ids = ", ".join(_md(pid) for pid in group.ids)
            lines.append(f"- {group.label.capitalize()} ({group.meaning}): {ids}")
    return "\n".join(lines) + "\n"
