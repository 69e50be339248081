"""Scoring a run's records: score rows, the typed run summary and their stored forms."""

from __future__ import annotations

import io
import json
from dataclasses import fields

import pyarrow.parquet as pq
import pytest

from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
from leap.benchmarks.problem import Problem
from leap.report import write_markdown_summary
from leap.runs import RunSpec
from leap.runs.results import score_problem, scores_to_parquet, summarize
from leap.scoring.metrics import TokenTotals
from leap.scoring.summary import TOKEN_COLUMNS, RunSummary, ScoreRow

# A summary.json as runs have written it since the first version (nothing scored yet has
# no pass_at_1, pass_at_k or cons_at_n).
STORED_SUMMARY = {
    "run_id": "smoke-leap-2026",
    "benchmark": "smoke",
    "method": "leap",
    "model": "smollm2-135m",
    "engine": "transformers",
    "config": {"n_paths": 2, "sampling": {"temperature": 0.6, "top_p": 0.95}},
    "n_problems": 2,
    "n_scored": 2,
    "n_paths": 2,
    "failed_problems": [],
    "wall_seconds": 12.5,
    "created_at": "2026-01-03T10:00:00+00:00",
    "pass_at_1": 0.75,
    "pass_at_k": {"1": 0.75, "2": 1.0},
    "cons_at_n": 0.5,
    "answered_rate": 0.75,
    "verdicts": {"correct": 3, "unanswered": 1},
    "truncated_paths": 1,
    "tokens": {
        "reasoning": 900,
        "summary": 60,
        "injected": 120,
        "answer": 14,
        "prompt_computed": 300,
        "prompt_reused": 2400,
    },
}

PROBLEM = Problem(id="p1", question="What is 6 * 7?", answer="42")


def test_a_stored_summary_reads_as_attributes_and_writes_the_same_keys():
    summary = RunSummary.from_json(json.dumps(STORED_SUMMARY))
    assert (summary.pass_at_1, summary.cons_at_n, summary.n_paths) == (0.75, 0.5, 2)
    assert summary.pass_at_k == {"1": 0.75, "2": 1.0}
    assert summary.tokens == TokenTotals(900, 60, 120, 14, 300, 2400)
    assert json.loads(summary.to_json()) == STORED_SUMMARY
    assert RunSummary.from_json(summary.to_json()) == summary


def test_a_summary_with_nothing_scored_has_no_metric_keys():
    metrics = ("pass_at_1", "pass_at_k", "cons_at_n", "answered_rate")
    stored = {k: v for k, v in STORED_SUMMARY.items() if k not in metrics}
    summary = RunSummary.from_json(json.dumps(stored))
    assert summary.pass_at_1 is None and summary.pass_at_k is None and summary.cons_at_n is None
    assert json.loads(summary.to_json()) == stored


def test_a_summary_from_before_verdicts_still_reads():
    older = {
        k: v
        for k, v in STORED_SUMMARY.items()
        if k not in ("answered_rate", "verdicts", "truncated_paths")
    }
    summary = RunSummary.from_json(json.dumps(older))
    assert summary.verdicts == {} and summary.answered_rate is None
    assert summary.pass_at_1 == 0.75


def test_a_damaged_summary_is_refused():
    with pytest.raises(ValueError):
        RunSummary.from_json(json.dumps({**STORED_SUMMARY, "n_paths": "two"}))
    with pytest.raises(ValueError):
        RunSummary.from_json(json.dumps({k: v for k, v in STORED_SUMMARY.items() if k != "tokens"}))


def test_score_rows_carry_every_token_total():
    assert list(TOKEN_COLUMNS) == [f.name for f in fields(TokenTotals)]
    assert set(TOKEN_COLUMNS.values()) <= {f.name for f in fields(ScoreRow)}
    totals = TokenTotals(1, 2, 3, 4, 5, 6)
    row = ScoreRow(
        problem_id="p",
        path=0,
        answer=None,
        gold="1",
        correct=False,
        finish_reason="eos",
        forced_answer=False,
        rounds=1,
        **ScoreRow.token_fields(totals),
        sequence_tokens=0,
        sequence_sha256="",
    )
    assert row.tokens == totals


def solved_problem() -> tuple[list[RoundRecord], FinalRecord]:
    def row(path: int, reasoning: int, text: str) -> PathRound:
        return PathRound(
            path=path,
            segments=[Segment("reasoning", list(range(reasoning)), text)],
            reasoning_tokens=reasoning,
            summary_tokens=path,
            prompt_computed=10,
            prompt_reused=100,
        )

    rounds = [
        RoundRecord("p1", 0, [row(0, 3, "six sevens"), row(1, 4, "hmm")]),
        RoundRecord("p1", 1, [row(0, 5, " \\boxed{42}"), row(1, 6, " \\boxed{41}")]),
    ]

    def answer(path: int, own_text: str) -> PathAnswer:
        return PathAnswer(
            path=path,
            segments=[Segment("answer", [9, 9], "!")],
            forced=False,
            finish_reason="think_end",
            own_text=own_text,
            answer_tokens=2,
            prompt_computed=1,
            prompt_reused=7,
        )

    return rounds, FinalRecord("p1", [answer(0, "\\boxed{42}"), answer(1, "\\boxed{41}")])


def test_scoring_a_problem_and_summarizing_the_run():
    rounds, final = solved_problem()
    scores = score_problem(PROBLEM, rounds, final)
    assert [(s.path, s.answer, s.correct, s.rounds) for s in scores] == [
        (0, "42", True, 2),
        (1, "41", False, 2),
    ]
    assert scores[1].tokens == TokenTotals(
        reasoning=6, summary=1, answer=2, prompt_computed=21, prompt_reused=207
    )
    assert scores[0].sequence_tokens == 3 + 5 + 2

    spec = RunSpec(benchmark="smoke", leap={"n_paths": 2})
    summary = summarize(spec, "run-x", [PROBLEM], scores, {"p1": 3.0}, [])
    assert (summary.run_id, summary.n_problems, summary.n_scored) == ("run-x", 1, 1)
    assert summary.pass_at_1 == 0.5 and summary.pass_at_k == {"1": 0.5, "2": 1.0}
    assert summary.cons_at_n == 1.0  # a tie goes to the first path's answer, 42
    assert summary.tokens == scores[0].tokens + scores[1].tokens
    assert summary.wall_seconds == 3.0


def test_scores_parquet_has_a_column_per_score_row_field():
    rounds, final = solved_problem()
    scores = score_problem(PROBLEM, rounds, final)
    table = pq.read_table(io.BytesIO(scores_to_parquet(scores)))
    assert table.column_names == [f.name for f in fields(ScoreRow)]
    assert [ScoreRow(**row) for row in table.to_pylist()] == scores
    empty = pq.read_table(io.BytesIO(scores_to_parquet([])))
    assert empty.schema.equals(table.schema) and empty.num_rows == 0


def test_unanswered_paths_are_told_apart_from_wrong_ones():
    rounds, final = solved_problem()
    final.answers[1].own_text = "I am not sure, it could be anything."
    final.answers[1].finish_reason = "budget"
    scores = score_problem(PROBLEM, rounds, final)
    assert [(s.verdict, s.answer_method) for s in scores] == [
        ("correct", "boxed"),
        ("unanswered", "none"),
    ]
    spec = RunSpec(benchmark="smoke", leap={"n_paths": 2})
    summary = summarize(spec, "run-x", [PROBLEM], scores, {"p1": 3.0}, [])
    assert summary.verdicts == {"correct": 1, "unanswered": 1}
    assert summary.answered_rate == 0.5 and summary.truncated_paths == 1
    markdown = write_markdown_summary(summary)
    assert "1 correct · 0 wrong · 1 unanswered · 0 timeout · 1 reached the budget" in markdown
    assert "**Answered:** 50.0%" in markdown


@pytest.mark.timeout(120)  # before the bounded checks, this answer stalled scoring for good
def test_a_run_with_a_tower_of_powers_answer_scores_with_that_path_timed_out(tmp_path):
    from leap.runs import RunStore
    from leap.runs.results import build_results

    rounds, final = solved_problem()
    final.answers[1].own_text = "Surely the count is \\boxed{9^{9^{9}}}."
    spec = RunSpec(benchmark="smoke", leap={"n_paths": 2}, store=str(tmp_path), run_id="tower")
    run = RunStore.open(str(tmp_path), "tower")
    run.create_or_check(spec)
    for record in rounds:
        run.save_round(record)
    run.save_final(final)
    results = build_results(spec, run, [PROBLEM])
    assert [(s.path, s.verdict) for s in results.scores] == [(0, "correct"), (1, "timeout")]
    assert results.summary.verdicts == {"correct": 1, "timeout": 1}
    assert results.summary.pass_at_1 == 0.5
    assert run.read_result("report.html") is not None
