"""Scoring a run from its stored objects: scores table, analysis (peer influence), summary,
report.

Everything here reads the round store only, so `leap report RUN` rebuilds the same
results any time after the run.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leap.algorithm.records import FinalRecord, RoundRecord, path_rows
from leap.benchmarks.problem import Problem
from leap.report import render_report
from leap.runs import RunSpec, RunStore
from leap.runs.parquet import rows_to_parquet
from leap.scoring.answers import answers_equivalent, find_answer, score_text
from leap.scoring.influence import InfluenceRow, influence_counts, influence_rows
from leap.scoring.metrics import TokenTotals, mean_pass_at_k, pass_at_1
from leap.scoring.outcome import ProblemOutcome, problem_outcome
from leap.scoring.summary import RunOrigin, RunSummary, ScoreRow
from leap.versions import library_versions

# When a problem was worked on: from the start of its first round to its final answers.
Span = tuple[datetime, datetime]


@dataclass
class RunResults:
    """A scored run: its score rows, its summary, and where the results objects are."""

    scores: list[ScoreRow]
    summary: RunSummary
    # "scores", "analysis", "summary", "report" -> URL of the stored object
    locations: dict[str, str]


def score_problem(
    problem: Problem, rounds: Sequence[RoundRecord], final: FinalRecord
) -> list[ScoreRow]:
    """One row per path: its answer, whether it is right, and what it cost."""
    rows = []
    for answer in final.answers:
        mine = path_rows(rounds, answer.path)
        scored = score_text(answer.own_text, problem)
        sequence = [t for row in mine for t in row.ids_for_sequence()]
        if not any(s.kind == "answer" for row in mine for s in row.segments):
            # the answer was written after the rounds (methods that answer inside a round,
            # moa and compute-matched sampling, already hold it in their last row)
            sequence += [t for s in answer.segments for t in s.token_ids]
        rows.append(
            ScoreRow(
                problem_id=problem.id,
                path=answer.path,
                answer=scored.answer,
                gold=problem.answer,
                correct=scored.correct,
                finish_reason=answer.finish_reason,
                forced_answer=answer.forced,
                rounds=len(mine),
                **ScoreRow.token_fields(TokenTotals.of_path(mine, answer)),
                sequence_tokens=len(sequence),
                sequence_sha256=hashlib.sha256(
                    b"".join(t.to_bytes(4, "little") for t in sequence)
                ).hexdigest(),
                answer_method=scored.method,
                verdict=scored.verdict,
            )
        )
    return rows


def agreement_rows(
    problem: Problem, rounds: Sequence[RoundRecord], final: FinalRecord
) -> list[dict[str, Any]]:
    """Each path's current answer (what scoring would read in its own reasoning so far)
    after every round, for every path seen so far in path order; then the final answers."""
    text: dict[int, str] = {}
    out = []
    for record in rounds:
        for row in record.paths:
            own = "".join(s.text for s in row.segments if s.kind == "reasoning")
            text[row.path] = text.get(row.path, "") + own
        out.append(
            {
                "problem_id": problem.id,
                "round": record.round,
                "answers": [find_answer(text[p], problem) for p in sorted(text)],
            }
        )
    finals = [score_text(a.own_text, problem).answer for a in final.answers]
    out.append({"problem_id": problem.id, "round": len(rounds), "answers": finals})
    return out


def summarize(
    spec: RunSpec,
    run_id: str,
    problems: Sequence[Problem],
    scores: Sequence[ScoreRow],
    walls: dict[str, float],
    failed: Sequence[str],
    *,
    elapsed: float | None = None,
    origin: RunOrigin | None = None,
    unscored: TokenTotals | None = None,
) -> RunSummary:
    """The run's headline: metrics over the scored problems, tokens over every score row.

    `walls` holds each scored problem's own compute time (summed into `solve_seconds`),
    `failed` the problems with no final answers, `elapsed` the run's wall-clock time
    (see `elapsed_seconds`), `origin` the flow run that scores it, when there is one,
    and `unscored` the tokens of paths that reasoned but give no final answer (moa's
    earlier layers, leap-s's dropped paths): the run's cost counts them too.
    """
    by_problem: dict[str, list[ScoreRow]] = {}
    for row in scores:
        by_problem.setdefault(row.problem_id, []).append(row)
    gold = {p.id: p for p in problems}
    outcomes = [
        problem_outcome(gold[pid], [r.answer for r in rows], [r.correct for r in rows])
        for pid, rows in by_problem.items()
    ]
    correct = [[r.correct for r in rows] for rows in by_problem.values()]
    n = spec.leap.final_paths
    metrics: dict[str, Any] = {}
    if correct:
        metrics = {
            "pass_at_1": pass_at_1(correct),
            "pass_at_k": {str(k): mean_pass_at_k(correct, k) for k in range(1, n + 1)},
            # Cons@N as `leap.scoring.metrics.cons_at_n` defines it, from the majorities
            # already found for each problem's outcome.
            "cons_at_n": sum(o.majority_correct for o in outcomes) / len(outcomes),
            "answered_rate": sum(r.verdict != "unanswered" for r in scores) / len(scores),
        }
    return RunSummary(
        run_id=run_id,
        benchmark=spec.benchmark,
        method=spec.leap.method,
        preset=spec.leap.preset,
        model=spec.model,
        engine=spec.engine,
        config=spec.leap.model_dump(mode="json"),
        n_problems=len(problems),
        n_scored=len(by_problem),
        n_paths=n,
        failed_problems=list(failed),
        wrong_problems=_with_verdict(outcomes, "wrong"),
        unanswered_problems=_with_verdict(outcomes, "unanswered"),
        solve_seconds=round(sum(walls.values()), 3),
        elapsed_seconds=None if elapsed is None else round(elapsed, 3),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tokens=sum((r.tokens for r in scores), unscored or TokenTotals()),
        verdicts=dict(Counter(r.verdict for r in scores)),
        truncated_paths=sum(r.finish_reason == "budget" for r in scores),
        dtype=spec.dtype,
        spec_hash=spec.content_hash(),
        versions=library_versions(),
        origin=origin,
        **metrics,
    )


def unscored_tokens(rounds: Sequence[RoundRecord], final: FinalRecord) -> TokenTotals:
    """Tokens of the paths in `rounds` that have no final answer in `final`."""
    answered = {a.path for a in final.answers}
    paths = sorted({row.path for r in rounds for row in r.paths} - answered)
    return sum((TokenTotals.of_path(path_rows(rounds, p)) for p in paths), TokenTotals())


def _with_verdict(outcomes: Sequence[ProblemOutcome], verdict: str) -> list[str]:
    return [o.problem_id for o in outcomes if o.verdict == verdict]


def elapsed_seconds(spans: Iterable[Span]) -> float | None:
    """Wall-clock seconds from the earliest start to the latest end; None without spans.

    Problems solved at the same time overlap, so this is less than the sum of their own
    times; a pause between a run and its resume is inside it.
    """
    spans = list(spans)
    if not spans:
        return None
    start = min(begin for begin, _ in spans)
    end = max(finish for _, finish in spans)
    return max(0.0, (end - start).total_seconds())


def problem_span(
    run: RunStore, problem_id: str, rounds: Sequence[RoundRecord], final: FinalRecord
) -> Span:
    """When a solved problem was worked on, from the times its objects were stored.

    Its first round started that round's own compute time before the round was stored;
    it ended when its final answers were stored.
    """
    end = run.store.stored_at(run.final_key(problem_id))
    if rounds:
        stored = run.store.stored_at(run.round_key(problem_id, rounds[0].round))
        start = stored - timedelta(seconds=rounds[0].wall_seconds)
    else:
        start = end - timedelta(seconds=final.wall_seconds)
    return start, end


def build_results(
    spec: RunSpec,
    run: RunStore,
    problems: Sequence[Problem],
    origin: RunOrigin | None = None,
) -> RunResults:
    """Score every problem that has final answers and write the results objects.

    `origin` names the flow run doing this (the report links to it); `leap report`
    leaves it out.
    """
    scores: list[ScoreRow] = []
    agreement: list[dict[str, Any]] = []
    analysis: list[InfluenceRow] = []
    walls: dict[str, float] = {}
    spans: list[Span] = []
    failed: list[str] = []
    unscored = TokenTotals()
    for problem in problems:
        final = run.load_final(problem.id)
        if final is None:
            failed.append(problem.id)
            continue
        rounds = run.load_rounds(problem.id)
        scores.extend(score_problem(problem, rounds, final))
        unscored += unscored_tokens(rounds, final)
        agreement.extend(agreement_rows(problem, rounds, final))
        analysis.extend(influence_rows(problem, rounds, final))
        walls[problem.id] = sum(r.wall_seconds for r in rounds) + final.wall_seconds
        spans.append(problem_span(run, problem.id, rounds, final))
    summary = summarize(
        spec,
        run.run_id,
        problems,
        scores,
        walls,
        failed,
        elapsed=elapsed_seconds(spans),
        origin=origin,
        unscored=unscored,
    ).model_copy(update={"influence": influence_counts(analysis)})
    locations = {
        "scores": run.write_result("scores.parquet", scores_to_parquet(scores)),
        "analysis": run.write_result("analysis.parquet", analysis_to_parquet(analysis)),
        "summary": run.write_result("summary.json", summary.to_json().encode()),
    }
    kind = problems[0].kind if problems else "math"
    html = render_report(
        summary,
        scores,
        agreement,
        equivalent=lambda a, b: answers_equivalent(a, b, kind),
        influence=analysis,
    )
    locations["report"] = run.write_result("report.html", html.encode())
    return RunResults(scores, summary, locations)


def scores_to_parquet(scores: Sequence[ScoreRow]) -> bytes:
    """The score rows as Parquet, one column per `ScoreRow` field."""
    return rows_to_parquet(scores, ScoreRow)


def analysis_to_parquet(rows: Sequence[InfluenceRow]) -> bytes:
    """The analysis rows (peer influence, reflection markers) as Parquet, one column per
    `InfluenceRow` field (docs/analysis.md)."""
    return rows_to_parquet(rows, InfluenceRow)
