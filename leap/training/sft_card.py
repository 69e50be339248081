"""The data card of an SFT data set: where its examples come from, what the filters
removed (in order), and token statistics. Written as card.json and card.md."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from leap.training.sft_examples import SftExample
from leap.training.sft_sources import SourceRun

FORMAT_VERSION = 1


def data_card(
    sources: Sequence[SourceRun],
    steps: list[dict[str, Any]],
    paths: int,
    examples: Sequence[SftExample],
) -> dict[str, Any]:
    """The card as JSON-ready data; `steps` are the filters in order (`filter`, `on`,
    `paths_in`, `removed`), `paths` the answered paths read."""
    lengths = [e.n_tokens for e in examples]
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": sources[0].spec.model,
        "sources": [s.describe() for s in sources],
        "paths": paths,
        "filters": steps,
        "examples": len(examples),
        "with_summaries": sum(e.summaries > 0 for e in examples),
        "tokens": {
            "total": sum(lengths),
            "trained": sum(e.n_trained for e in examples),
            "min": min(lengths),
            "median": statistics.median(lengths),
            "max": max(lengths),
        },
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people."""
    lines = [
        "# LeaP-T SFT data",
        "",
        f"{card['examples']} examples for model `{card['model']}`, built {card['created_at']} "
        "by `leap sft-data`. Loss is on what each path wrote (reasoning, summaries, answer) "
        "and on the summary opener; the prompt, beginnings, cues and peer blocks carry none.",
        "",
        "## Sources",
        "",
        "| run | model | benchmark | method | spec hash | problems | paths |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in card["sources"]:
        lines.append(
            f"| {s['run_id']} | {s['model']} | {s['benchmark']} | {s['method']} | "
            f"{s['spec_hash']} | {s['problems']} | {s['paths']} |"
        )
    lines += [
        "",
        "## Filters, in order",
        "",
        "| filter | on | paths in | removed |",
        "|---|---|---|---|",
    ]
    for step in card["filters"]:
        name = step["filter"]
        if step.get("max_length"):
            name += f" ({step['max_length']} tokens)"
        on = "yes" if step["on"] else "off"
        lines.append(f"| {name} | {on} | {step['paths_in']} | {step['removed']} |")
    tokens = card["tokens"]
    lines += [
        "",
        f"{card['paths']} paths read, {card['examples']} examples kept "
        f"({card['with_summaries']} with at least one summary).",
        "",
        "## Tokens per example",
        "",
        "| examples | total | trained | min | median | max |",
        "|---|---|---|---|---|---|",
        f"| {card['examples']} | {tokens['total']} | {tokens['trained']} | {tokens['min']} | "
        f"{tokens['median']} | {tokens['max']} |",
        "",
    ]
    return "\n".join(lines)
