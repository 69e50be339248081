"""Scoring a run from its stored objects: scores table, summary, report.

Everything here reads the round store only, so `leap report RUN` rebuilds the same
results any time after the run.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from leap.algorithm.records import FinalRecord, RoundRecord
from leap.benchmarks.problem import Problem
from leap.report import render_report
from leap.runs import RunSpec, RunStore
from leap.scoring.answers import answers_equivalent, last_boxed, score_text
from leap.scoring.metrics import TokenTotals, cons_at_n, mean_pass_at_k, pass_at_1


@dataclass
class RunResults:
    scores: list[dict[str, Any]]
    summary: dict[str, Any]
    locations: dict[str, str]


def score_problem(
    problem: Problem, rounds: Sequence[RoundRecord], final: FinalRecord
) -> list[dict[str, Any]]:
    """One row per path: its answer, whether it is right, and what it cost."""
    rows = []
    for answer in final.answers:
        mine = [row for r in rounds for row in r.paths if row.path == answer.path]
        last = mine[-1] if mine else None
        scored = score_text(answer.own_text, problem)
        sequence = [t for row in mine for t in row.ids_for_sequence()]
        sequence += [t for s in answer.segments for t in s.token_ids]
        rows.append(
            {
                "problem_id": problem.id,
                "path": answer.path,
                "answer": scored.answer,
                "gold": problem.answer,
                "correct": scored.correct,
                "finish_reason": answer.finish_reason,
                "forced_answer": answer.forced,
                "rounds": len(mine),
                "reasoning_tokens": last.reasoning_tokens if last else 0,
                "summary_tokens": last.summary_tokens if last else 0,
                "injected_tokens": last.injected_tokens if last else 0,
                "answer_tokens": answer.answer_tokens,
                "prompt_computed": sum(r.prompt_computed for r in mine) + answer.prompt_computed,
                "prompt_reused": sum(r.prompt_reused for r in mine) + answer.prompt_reused,
                "sequence_tokens": len(sequence),
                "sequence_sha256": hashlib.sha256(
                    b"".join(t.to_bytes(4, "little") for t in sequence)
                ).hexdigest(),
            }
        )
    return rows


def agreement_rows(
    problem: Problem, rounds: Sequence[RoundRecord], final: FinalRecord
) -> list[dict[str, Any]]:
    """Each path's current answer (last box of its own reasoning so far) after every round."""
    n = len(final.answers)
    text = [""] * n
    out = []
    for record in rounds:
        for row in record.paths:
            text[row.path] += "".join(s.text for s in row.segments if s.kind == "reasoning")
        out.append(
            {
                "problem_id": problem.id,
                "round": record.round,
                "answers": [last_boxed(t) for t in text],
            }
        )
    finals = [score_text(a.own_text, problem).answer for a in final.answers]
    out.append({"problem_id": problem.id, "round": len(rounds), "answers": finals})
    return out


def summarize(
    spec: RunSpec,
    run_id: str,
    problems: Sequence[Problem],
    scores: Sequence[dict[str, Any]],
    walls: dict[str, float],
    failed: Sequence[str],
) -> dict[str, Any]:
    by_problem: dict[str, list[dict[str, Any]]] = {}
    for row in scores:
        by_problem.setdefault(row["problem_id"], []).append(row)
    kind = problems[0].kind if problems else "math"
    gold = {p.id: p for p in problems}
    correct = [[r["correct"] for r in rows] for rows in by_problem.values()]
    n = spec.leap.n_paths
    summary: dict[str, Any] = {
        "run_id": run_id,
        "benchmark": spec.benchmark,
        "method": spec.leap.method,
        "model": spec.model,
        "engine": spec.engine,
        "config": spec.leap.model_dump(mode="json"),
        "n_problems": len(problems),
        "n_scored": len(by_problem),
        "n_paths": n,
        "failed_problems": list(failed),
        "wall_seconds": round(sum(walls.values()), 3),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if correct:
        summary["pass_at_1"] = pass_at_1(correct)
        summary["pass_at_k"] = {str(k): mean_pass_at_k(correct, k) for k in range(1, n + 1)}

        def check(pid: str):
            return lambda answer: score_text(f"\\boxed{{{answer}}}", gold[pid]).correct

        summary["cons_at_n"] = cons_at_n(
            [([r["answer"] for r in rows], check(pid)) for pid, rows in by_problem.items()],
            lambda a, b: answers_equivalent(a, b, kind),
        )
    totals = sum(
        (
            TokenTotals(
                reasoning=r["reasoning_tokens"],
                summary=r["summary_tokens"],
                injected=r["injected_tokens"],
                answer=r["answer_tokens"],
                prompt_computed=r["prompt_computed"],
                prompt_reused=r["prompt_reused"],
            )
            for r in scores
        ),
        TokenTotals(),
    )
    summary["tokens"] = totals.to_dict()
    return summary


def build_results(spec: RunSpec, run: RunStore, problems: Sequence[Problem]) -> RunResults:
    """Score every problem that has final answers and write the results objects."""
    scores: list[dict[str, Any]] = []
    agreement: list[dict[str, Any]] = []
    walls: dict[str, float] = {}
    failed: list[str] = []
    for problem in problems:
        final = run.load_final(problem.id)
        if final is None:
            failed.append(problem.id)
            continue
        rounds = run.load_rounds(problem.id)
        scores.extend(score_problem(problem, rounds, final))
        agreement.extend(agreement_rows(problem, rounds, final))
        walls[problem.id] = sum(r.wall_seconds for r in rounds) + final.wall_seconds
    summary = summarize(spec, run.run_id, problems, scores, walls, failed)
    locations = {
        "scores": run.write_result("scores.parquet", scores_to_parquet(scores)),
        "summary": run.write_result(
            "summary.json", json.dumps(summary, indent=2, sort_keys=True).encode()
        ),
    }
    kind = problems[0].kind if problems else "math"
    html = render_report(
        summary, scores, agreement, equivalent=lambda a, b: answers_equivalent(a, b, kind)
    )
    locations["report"] = run.write_result("report.html", html.encode())
    return RunResults(scores, summary, locations)


def scores_to_parquet(scores: Sequence[dict[str, Any]]) -> bytes:
    if scores:
        table = pa.Table.from_pylist(list(scores))
    else:
        table = pa.table({"problem_id": pa.array([], pa.string())})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
