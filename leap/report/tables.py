"""The HTML tables of the report: answers by round, the per-problem table, the config."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from leap.report.data import Equivalence, ProblemResult
from leap.report.format import MISSING, clip, empty_note, escape, text_or_dash, whole_number


def _share_color(share: float) -> str:
    """Red (no agreement) through yellow to green (all paths agree), light enough for text."""
    return f"hsl({share * 120:.0f}, 65%, 82%)"


def _answer_cell(answer: str | None, reference: str | None, equivalent: Equivalence) -> str:
    if answer is None:
        return '<td class="ans none" title="no answer yet">·</td>'
    same = reference is not None and equivalent(reference, answer)
    css = "ans match" if same else "ans other"
    return f'<td class="{css}" title="{escape(answer)}">{escape(clip(answer, 12))}</td>'


def agreement_tables(problems: Sequence[ProblemResult], equivalent: Equivalence) -> str:
    with_rounds = [problem for problem in problems if problem.rounds]
    if not with_rounds:
        return ""
    all_rounds = sorted({r for problem in with_rounds for r in problem.rounds})
    head = "".join(f"<th>{escape(r)}</th>" for r in all_rounds)
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
            tip = f"round {r}: {votes}/{len(answers)} paths agree on {text_or_dash(majority)}"
            cells.append(
                f'<td class="heat" style="background:{_share_color(share)}" '
                f'title="{escape(tip)}">{votes}/{len(answers)}</td>'
            )
        rows.append(f'<tr><th class="pid">{escape(problem.pid)}</th>{"".join(cells)}</tr>')
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
        round_head = "".join(f"<th>{escape(r)}</th>" for r in rounds)
        details.append(
            f"<details><summary>{escape(problem.pid)} — final majority "
            f"<code>{escape(text_or_dash(reference))}</code></summary>"
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


def _finish_reasons(problem: ProblemResult) -> str:
    counts: dict[str, int] = {}
    for path in problem.paths:
        reason = path.finish_reason or MISSING
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{reason}×{n}" for reason, n in counts.items())


def problem_table(problems: Sequence[ProblemResult]) -> str:
    if not problems:
        return empty_note("No problems.")
    rows = []
    for problem in problems:
        n = len(problem.paths)
        rounds = [path.rounds for path in problem.paths]
        n_rounds = max(rounds) if rounds else (len(problem.rounds) or None)
        total = sum(path.total for path in problem.paths)
        if problem.majority is None:
            majority = f'<span class="none">{MISSING}</span>'
        else:
            mark = {True: ' <span class="ok">✓</span>', False: ' <span class="bad">✗</span>'}
            majority = (
                f"<code>{escape(clip(problem.majority, 40))}</code>"
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
        gold = MISSING if problem.gold is None else f"<code>{escape(clip(problem.gold, 40))}</code>"
        rows.append(
            f"<tr{row_class}>"
            f'<td class="pid">{escape(problem.pid)}{badge}</td>'
            f"<td>{gold}</td><td>{majority}</td>"
            f'<td class="num">{problem.n_correct}/{n} {meter}</td>'
            f'<td class="num">{whole_number(n_rounds)}</td>'
            f'<td class="num">{total:,}</td>'
            f'<td class="num">{whole_number(total / n) if n else MISSING}</td>'
            f"<td>{escape(_finish_reasons(problem))}</td></tr>"
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


def config_table(config: object) -> str:
    if not isinstance(config, Mapping) or not config:
        return empty_note("No configuration was recorded.")
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td><code>{escape(value)}</code></td></tr>"
        for name, value in _flatten(config)
    )
    return f'<table class="config"><tbody>{rows}</tbody></table>'
