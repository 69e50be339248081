"""The short markdown summary of a run, optionally compared with an earlier run."""

from __future__ import annotations

import re
from collections.abc import Mapping

from leap.report.data import RUN_TOKEN_KINDS, pass_at_k_items, paths_label
from leap.report.format import delta_points, duration, percent, text_or_dash, whole_number

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
    n_label = paths_label(summary, [])
    n_problems = whole_number(summary.get("n_problems"))
    n_paths = whole_number(summary.get("n_paths"))
    lines = [
        f"### LeaP run {_md(text_or_dash(summary.get('run_id')))}",
        "",
        " · ".join(
            f"{label}: **{_md(text_or_dash(summary.get(key)))}**"
            for label, key in (("benchmark", "benchmark"), ("method", "method"), ("model", "model"))
        )
        + f" · {n_problems} problems × {n_paths} paths",
        "",
    ]
    rows = [
        ("Pass@1", summary.get("pass_at_1"), "pass_at_1"),
        (f"Cons@{n_label}", summary.get("cons_at_n"), "cons_at_n"),
    ]
    # Pass@1 already has its own row.
    pass_k = [(k, value) for k, value in pass_at_k_items(summary) if k != "1"]
    if previous is not None:
        prev_id = _md(text_or_dash(previous.get("run_id")))
        lines += [f"| Metric | Value | Δ vs {prev_id} |", "|---|---:|---:|"]
        for label, value, key in rows:
            lines.append(
                f"| {label} | {percent(value)} | {delta_points(value, previous.get(key))} |"
            )
        for k, value in pass_k:
            lines.append(f"| Pass@{_md(k)} | {percent(value)} |  |")
    else:
        lines += ["| Metric | Value |", "|---|---:|"]
        for label, value, _ in rows:
            lines.append(f"| {label} | {percent(value)} |")
        for k, value in pass_k:
            lines.append(f"| Pass@{_md(k)} | {percent(value)} |")
    tokens = summary.get("tokens")
    tokens = tokens if isinstance(tokens, Mapping) else {}
    lines += ["", "| Tokens | Count |", "|---|---:|"]
    lines += [
        f"| {kind.replace('_', ' ')} | {whole_number(tokens.get(kind))} |"
        for kind in RUN_TOKEN_KINDS
    ]
    lines += ["", f"**Wall time:** {duration(summary.get('wall_seconds'))}", ""]
    failed = summary.get("failed_problems") or []
    if failed:
        lines.append(f"**Failed problems ({len(failed)}):** " + ", ".join(_md(p) for p in failed))
    else:
        lines.append("**Failed problems:** none")
    return "\n".join(lines) + "\n"
