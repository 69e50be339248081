"""The page of a fine-tuning: loss curve and throughput per step, and its config.

Like the run report, the page is self-contained (inline CSS, matplotlib charts as inline
SVG through `inline_svg`) and opens offline. It reads only the metrics rows a training
stores (`finetune/{name}/metrics.jsonl`) and the config; `training_markdown` says the
same in a few lines for a Prefect artifact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from leap.report.format import MISSING, compact_number, duration, escape, whole_number
from leap.report.style import html_page
from leap.report.svg import drawing, inline_svg

_LOSS_COLOR = "#4c78a8"
_TOKEN_COLORS = ("#4c78a8", "#f58518")
# The columns of the step table: metrics key -> heading.
STEP_COLUMNS = {
    "step": "step",
    "loss": "loss",
    "learning_rate": "learning rate",
    "grad_norm": "grad norm",
    "tokens": "tokens",
    "trained_tokens": "trained tokens",
    "tokens_per_second": "tokens/s",
    "trained_tokens_per_second": "trained tokens/s",
    "seconds": "seconds",
}


def throughput(rows: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    """Training and trained tokens per second over all steps (total tokens / total time)."""
    seconds = sum(float(r.get("seconds") or 0.0) for r in rows)
    if seconds <= 0:
        return None, None
    tokens = sum(int(r.get("tokens") or 0) for r in rows)
    trained = sum(int(r.get("trained_tokens") or 0) for r in rows)
    return tokens / seconds, trained / seconds


def render_training_report(
    name: str, config: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], model: str
) -> str:
    """One HTML page for the training `name`: its steps so far, where its model is."""
    rows = sorted(rows, key=lambda r: r["step"])
    title = f"LeaP-T fine-tuning — {name}"
    per_second, trained_per_second = throughput(rows)
    last = rows[-1] if rows else {}
    cards = [
        ("Steps", f"{whole_number(last.get('step'))} / {whole_number(last.get('max_steps'))}"),
        ("First loss", _fixed(rows[0]["loss"]) if rows else MISSING),
        ("Last loss", _fixed(last.get("loss"))),
        ("Tokens/s", _rate(per_second)),
        ("Trained tokens/s", _rate(trained_per_second)),
        ("Step time", duration(sum(float(r.get("seconds") or 0) for r in rows))),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div></div>'
        for label, value in cards
    )
    header = (
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="sub">model <code>{escape(config.get("model", MISSING))}</code> · '
        f"{'LoRA' if config.get('lora') else 'full fine-tuning'} · "
        f"final model <code>{escape(model)}</code></p>"
        f'<div class="cards">{card_html}</div></header>'
    )
    charts = '<p class="note">No step has finished yet.</p>'
    if rows:
        with drawing():
            charts = (
                '<div class="charts">'
                + inline_svg(_loss_figure(rows), "Training loss per step", "loss", css_class="mpl")
                + inline_svg(_speed_figure(rows), "Tokens per second", "speed", css_class="mpl")
                + "</div>"
            )
    note = (
        '<p class="note">Tokens: what the model read per optimizer step, padding left out; '
        "trained tokens: those whose prediction carried loss (what the paths wrote). Speed is "
        "measured from a step's first micro-batch to its optimizer update.</p>"
    )
    body = [
        header,
        "<main>",
        f"<section><h2>Loss and throughput</h2>{charts}{note}</section>",
        f"<section><h2>Steps</h2><div class='scroll'>{_steps_table(rows)}</div></section>",
        f"<section><h2>Configuration</h2>{_config_table(config)}</section>",
        "</main>",
    ]
    return html_page(title, body)


def training_markdown(name: str, rows: Sequence[Mapping[str, Any]], model: str) -> str:
    """A few lines on the training, for a Prefect artifact."""
    rows = sorted(rows, key=lambda r: r["step"])
    per_second, trained_per_second = throughput(rows)
    last = rows[-1] if rows else {}
    lines = [
        f"### Fine-tuning {name}",
        "",
        "| steps | first loss | last loss | tokens/s | trained tokens/s |",
        "|---:|---:|---:|---:|---:|",
        f"| {whole_number(last.get('step'))} | {_fixed(rows[0]['loss'] if rows else None)} "
        f"| {_fixed(last.get('loss'))} | {_rate(per_second)} | {_rate(trained_per_second)} |",
        "",
        f"Model: `{model}`",
    ]
    return "\n".join(lines)


def step_table(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-step rows as a table artifact shows them."""
    return [{heading: row.get(key) for key, heading in STEP_COLUMNS.items()} for row in rows]


def _fixed(value: object) -> str:
    return MISSING if not isinstance(value, int | float) else f"{value:.4f}"


def _rate(value: float | None) -> str:
    return MISSING if value is None else compact_number(value)


def _steps_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in STEP_COLUMNS.values())
    body = []
    for row in rows:
        cells = []
        for key in STEP_COLUMNS:
            value = row.get(key)
            if key == "loss" or key == "grad_norm":
                shown = _fixed(value)
            elif key == "learning_rate":
                shown = MISSING if value is None else f"{value:.3g}"
            elif isinstance(value, float):
                shown = f"{value:,.1f}"
            else:
                shown = whole_number(value)
            cells.append(f'<td class="num">{escape(shown)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _config_table(config: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{escape(key)}</th><td><code>{escape(json.dumps(value))}</code></td></tr>"
        for key, value in config.items()
    )
    return f"<table><tbody>{rows}</tbody></table>"


def _loss_figure(rows: Sequence[Mapping[str, Any]]):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.6, 3.4), layout="tight")
    axes = figure.add_subplot()
    steps = [r["step"] for r in rows]
    axes.plot(steps, [r["loss"] for r in rows], color=_LOSS_COLOR, marker="o", markersize=3, lw=1.4)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title("Loss per step", fontsize=10)
    _tidy(axes)
    return figure


def _speed_figure(rows: Sequence[Mapping[str, Any]]):
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(5.6, 3.4), layout="tight")
    axes = figure.add_subplot()
    steps = [r["step"] for r in rows]
    for key, label, color in (
        ("tokens_per_second", "tokens/s", _TOKEN_COLORS[0]),
        ("trained_tokens_per_second", "trained tokens/s", _TOKEN_COLORS[1]),
    ):
        axes.plot(steps, [r.get(key) or 0 for r in rows], color=color, lw=1.4, label=label)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: compact_number(value)))
    axes.set_xlabel("step")
    axes.set_title("Throughput per step", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    _tidy(axes)
    return figure


def _tidy(axes) -> None:
    axes.grid(axis="y", color="#e4e7eb", lw=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
