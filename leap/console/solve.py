"""`leap solve`: one question, one peer group, a table of what each path answered."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, PathAnswer, RoundRecord, path_rows
from leap.benchmarks.problem import CHOICE_LETTERS, Problem
from leap.engines.options import EngineOptions
from leap.errors import LeapError
from leap.scoring.metrics import TokenTotals


def make_problem(question: str, answer: str | None, choices: Sequence[str]) -> Problem:
    """The ad-hoc problem of `leap solve`, validated before any model is loaded."""
    if not question.strip():
        raise LeapError("the question is empty: pass the problem text as the first argument.")
    if choices and len(choices) < 2:
        raise LeapError("a multiple-choice question needs at least two --choice options.")
    kind = "choice" if choices else "math"
    gold = (answer or "").strip()
    if kind == "choice" and gold and gold.upper() not in CHOICE_LETTERS[: len(choices)]:
        raise LeapError(
            f"--answer {gold!r} is not the letter of one of the {len(choices)} choices: "
            f"use one of {', '.join(CHOICE_LETTERS[: len(choices)])}."
        )
    placeholder = "A" if kind == "choice" else "?"
    return Problem(
        id="question",
        question=question.strip(),
        answer=gold.upper() if kind == "choice" and gold else (gold or placeholder),
        kind=kind,
        choices=tuple(choices),
    )


def run_solve(
    question: str,
    answer: str | None,
    choices: Sequence[str],
    *,
    model: str,
    dtype: str,
    config: LeapConfig,
    engine: str = "transformers",
    engine_options: EngineOptions | None = None,
) -> FinalRecord:
    from leap.engines.factory import create_engine
    from leap.methods import policy_for

    problem = make_problem(question, answer, choices)
    console = Console()
    with console.status(f"loading {model}"):
        chosen = create_engine(engine, model, dtype, engine_options)
    group = policy_for(chosen, config, problem)
    # Every path that will ever reason (moa adds its agents layer by layer).
    paths = (config.layers - 1) * config.n_paths + 1 if config.method == "moa" else None
    budget = (paths or config.starting_paths) * config.max_tokens
    records: list[RoundRecord] = []
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} reasoning tokens"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("round 1", total=budget)

        def on_round(record: RoundRecord) -> None:
            records.append(record)
            seen = {row.path for r in records for row in r.paths}
            reasoning = {p: _totals(records, p).reasoning for p in seen}
            finished = {row.path for r in records for row in r.paths if row.finished}
            # Finished paths will not use the rest of their budget.
            spent = sum(reasoning.values())
            spent += sum(config.max_tokens - reasoning[p] for p in finished)
            active = sum(not row.finished for row in record.paths)
            progress.update(
                task, completed=spent, description=f"round {record.round + 2}, {active} active"
            )

        final = group.run(on_round=on_round)
    assert final is not None
    _print_answers(console, problem, final, records, answer is not None)
    tokens = sum((_totals(records, a.path, a) for a in final.answers), TokenTotals())
    console.print(
        f"{len(records)} rounds in {time.perf_counter() - started:.1f}s; prompt tokens "
        f"computed {tokens.prompt_computed}, served from cache {tokens.prompt_reused}"
    )
    return final


def _totals(
    records: Sequence[RoundRecord], path: int, answer: PathAnswer | None = None
) -> TokenTotals:
    return TokenTotals.of_path(path_rows(records, path), answer)


def _print_answers(
    console: Console,
    problem: Problem,
    final: FinalRecord,
    records: Sequence[RoundRecord],
    has_gold: bool,
) -> None:
    from leap.scoring.answers import score_text

    table = Table(title=f"LeaP answers ({len(final.answers)} paths)")
    for column in (
        "path",
        "answer",
        "correct",
        "finished by",
        "reasoning",
        "summary",
        "injected",
        "answer tokens",
    ):
        table.add_column(column, justify="left" if column == "answer" else "right")
    for answer in final.answers:
        scored = score_text(answer.own_text, problem)
        tokens = _totals(records, answer.path, answer)
        correct = ("yes" if scored.correct else "no") if has_gold else "-"
        table.add_row(
            str(answer.path),
            scored.answer if scored.answer is not None else "(none)",
            correct,
            answer.finish_reason,
            *(str(n) for n in (tokens.reasoning, tokens.summary, tokens.injected, tokens.answer)),
        )
    console.print(table)
