"""Scoring a run's records: score rows, the typed run summary and their stored forms."""

from __future__ import annotations

import io
import json
import os
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
from leap.benchmarks.problem import Problem
from leap.report import write_markdown_summary
from leap.runs import RunSpec
from leap.runs.results import elapsed_seconds, score_problem, scores_to_parquet, summarize
from leap.scoring.answers import answers_equivalent
from leap.scoring.metrics import TokenTotals, cons_at_n
from leap.scoring.outcome import final_outcome, majority_is_correct, problem_outcome
from leap.scoring.summary import TOKEN_COLUMNS, RunSummary, ScoreRow

# A summary.json as runs wrote it before the elapsed time and the problem split (nothing
# scored yet has no pass_at_1, pass_at_k or cons_at_n). Its `wall_seconds` is the sum of
# the problems' own times.
SUMMARY_BEFORE_SPLIT = {
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

# A summary.json as runs write it now.
STORED_SUMMARY = {
    **{k: v for k, v in SUMMARY_BEFORE_SPLIT.items() if k != "wall_seconds"},
    "n_problems": 4,
    "failed_problems": ["p4"],
    "wrong_problems": ["p2"],
    "unanswered_problems": [],
    "solve_seconds": 12.5,
    "elapsed_seconds": 7.25,
    "dtype": "float32",
    "spec_hash": "0123456789abcdef",
    "versions": {"leap-pipeline": "0.1.0", "math-verify": "0.9.0"},
    "origin": {
        "flow_run_id": "8d1c2a4e-0000-4000-8000-000000000001",
        "flow_run_name": "smoke-leap-2026 · smollm2-135m",
        "dashboard_url": "http://127.0.0.1:4200/runs/flow-run/8d1c2a4e-0000-4000-8000-000000000001",
    },
}

PROBLEM = Problem(id="p1", question="What is 6 * 7?", answer="42")


def test_a_stored_summary_reads_as_attributes_and_writes_the_same_keys():
    summary = RunSummary.from_json(json.dumps(STORED_SUMMARY))
    assert (summary.pass_at_1, summary.cons_at_n, summary.n_paths) == (0.75, 0.5, 2)
    assert summary.pass_at_k == {"1": 0.75, "2": 1.0}
    assert summary.tokens == TokenTotals(900, 60, 120, 14, 300, 2400)
    assert (summary.solve_seconds, summary.elapsed_seconds) == (12.5, 7.25)
    assert summary.errored_problems == ["p4"] and summary.wrong_problems == ["p2"]
    assert summary.origin is not None and summary.origin.flow_run_name.startswith("smoke")
    assert json.loads(summary.to_json()) == STORED_SUMMARY
    assert RunSummary.from_json(summary.to_json()) == summary


def test_a_summary_with_nothing_scored_has_no_metric_keys():
    metrics = ("pass_at_1", "pass_at_k", "cons_at_n", "answered_rate")
    stored = {k: v for k, v in STORED_SUMMARY.items() if k not in metrics}
    summary = RunSummary.from_json(json.dumps(stored))
    assert summary.pass_at_1 is None and summary.pass_at_k is None and summary.cons_at_n is None
    assert json.loads(summary.to_json()) == stored


def test_a_summary_from_before_the_split_reads_with_its_sum_as_solve_time():
    summary = RunSummary.from_json(json.dumps(SUMMARY_BEFORE_SPLIT))
    # Its wall_seconds was the sum of per-problem times: that is the solve time, and the
    # elapsed time was never measured.
    assert summary.solve_seconds == 12.5 and summary.elapsed_seconds is None
    # Nothing was recorded about wrong or unanswered problems: unknown, not "none".
    assert summary.wrong_problems is None and summary.unanswered_problems is None
    assert summary.errored_problems == []
    assert summary.dtype is None and summary.versions is None and summary.origin is None
    written = json.loads(summary.to_json())
    assert written == {
        **{k: v for k, v in SUMMARY_BEFORE_SPLIT.items() if k != "wall_seconds"},
        "solve_seconds": 12.5,
    }
    # The report and the markdown summary show unknowns as a dash.
    markdown = write_markdown_summary(summary)
    assert "**Problems not solved:** 0 errored · — wrong · — unanswered" in markdown
    assert "**Elapsed:** — · **solve time** (each problem's own, added up): 12.5 s" in markdown


def test_a_summary_from_before_verdicts_still_reads():
    older = {
        k: v
        for k, v in SUMMARY_BEFORE_SPLIT.items()
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
    with pytest.raises(ValueError, match="not an http"):
        origin = {**STORED_SUMMARY["origin"], "dashboard_url": "javascript:alert(1)"}
        RunSummary.from_json(json.dumps({**STORED_SUMMARY, "origin": origin}))


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
    assert summary.solve_seconds == 3.0 and summary.elapsed_seconds is None


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


# --------------------------------------------------------------------------- one problem


@pytest.mark.parametrize(
    ("answers", "correct", "gold", "message", "verdict"),
    [
        # A tie between two groups goes to the one seen first, as in Cons@N.
        (
            ["121.20", "35", "121.20", "35"],
            [False, True, False, True],
            "35",
            "2/4 correct, majority 121.20 (gold 35)",
            "wrong",
        ),
        (
            ["35", None, "35", "7"],
            [True, False, True, False],
            "35",
            "2/4 correct, majority 35 (gold 35)",
            "correct",
        ),
        # Votes count equivalent answers together, and the majority is checked, not its text.
        (
            ["0.5", "1/2", "3"],
            [True, True, False],
            "\\frac{1}{2}",
            "2/3 correct, majority 0.5 (gold \\frac{1}{2})",
            "correct",
        ),
        (
            [None, None],
            [False, False],
            "35",
            "0/2 correct, no path gave an answer (gold 35)",
            "unanswered",
        ),
        (
            ["7", None, None],
            [False, False, False],
            "35",
            "0/3 correct, majority 7 (gold 35)",
            "wrong",
        ),
        (
            ["x" * 60],
            [False],
            "35",
            f"0/1 correct, majority {'x' * 39}… (gold 35)",
            "wrong",
        ),
    ],
)
def test_a_problems_outcome_and_its_message(answers, correct, gold, message, verdict):
    problem = Problem(id="q", question="?", answer=gold)
    outcome = problem_outcome(problem, answers, correct)
    assert outcome.message() == message
    assert outcome.verdict == verdict
    assert outcome.answered_paths == sum(a is not None for a in answers)
    # The verdict is Cons@N's for this one problem.
    cons = cons_at_n(
        [(answers, lambda a: majority_is_correct(a, problem))],
        lambda a, b: answers_equivalent(a, b, "math"),
    )
    assert cons == (1.0 if verdict == "correct" else 0.0)


def test_a_choice_problems_message_names_letters():
    problem = Problem(id="c", question="?", answer="B", kind="choice", choices=("red", "blue"))
    outcome = problem_outcome(problem, ["b", "A", "B"], [True, False, True])
    assert outcome.message() == "2/3 correct, majority b (gold B)"
    assert outcome.verdict == "correct"


def test_the_solve_message_comes_from_the_final_record_alone():
    _, final = solved_problem()
    final.answers.reverse()  # stored order never matters: paths are taken in index order
    assert final_outcome(PROBLEM, final).message() == "1/2 correct, majority 42 (gold 42)"
    final.answers[0].own_text = final.answers[1].own_text = "no idea"
    assert final_outcome(PROBLEM, final).verdict == "unanswered"


# --------------------------------------------------------------------------- the run


def rows_for(problem_id: str, gold: str, answers: list[str | None]) -> list[ScoreRow]:
    return [
        ScoreRow(
            problem_id=problem_id,
            path=path,
            answer=answer,
            gold=gold,
            correct=answer == gold,
            finish_reason="think_end",
            forced_answer=False,
            rounds=1,
            **ScoreRow.token_fields(TokenTotals()),
            sequence_tokens=0,
            sequence_sha256="",
            answer_method="none" if answer is None else "boxed",
            verdict="unanswered" if answer is None else ("correct" if answer == gold else "wrong"),
        )
        for path, answer in enumerate(answers)
    ]


def test_failed_problems_are_split_into_errored_wrong_and_unanswered():
    problems = [Problem(id=f"p{i}", question="?", answer="5") for i in range(1, 6)]
    scores = [
        *rows_for("p1", "5", ["5", "5", "4"]),  # correct
        *rows_for("p2", "5", ["4", "4", "5"]),  # wrong: majority 4
        *rows_for("p3", "5", [None, None, None]),  # unanswered
        *rows_for("p5", "5", [None, "4", None]),  # wrong: one answer, and it is wrong
    ]
    spec = RunSpec(benchmark="smoke", leap={"n_paths": 3})
    summary = summarize(spec, "run-x", problems, scores, {}, ["p4"])
    assert summary.errored_problems == summary.failed_problems == ["p4"]
    assert summary.wrong_problems == ["p2", "p5"]
    assert summary.unanswered_problems == ["p3"]
    assert summary.n_scored == 4 and summary.cons_at_n == 0.25
    assert summary.answered_rate == 7 / 12
    # Spec facts and versions travel with the summary.
    assert summary.dtype == "auto" and summary.spec_hash == spec.content_hash()
    assert summary.versions is not None and "math-verify" in summary.versions
    markdown = write_markdown_summary(summary)
    assert "**Problems not solved:** 1 errored · 2 wrong · 1 unanswered" in markdown
    assert "- Wrong (the paths answered, but the majority answer is wrong): p2, p5" in markdown
    assert "- Errored (no final answers: the solve failed or never ran): p4" in markdown


def at(seconds: float) -> datetime:
    return datetime(2026, 1, 3, 10, 0, tzinfo=UTC) + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("spans", "elapsed", "summed"),
    [
        ([], None, 0.0),
        ([(0, 10)], 10.0, 10.0),
        # Two problems solved at once: 12 s went by, 20 s of solving were done.
        ([(0, 10), (2, 12)], 12.0, 20.0),
        # One after the other, with a pause (a resume the next minute) in between.
        ([(0, 5), (100, 110)], 110.0, 15.0),
        ([(30, 40), (0, 5), (10, 20)], 40.0, 25.0),
    ],
)
def test_elapsed_time_is_the_span_of_the_run_not_the_sum(spans, elapsed, summed):
    as_times = [(at(a), at(b)) for a, b in spans]
    assert elapsed_seconds(as_times) == elapsed
    assert sum(b - a for a, b in spans) == summed


def test_elapsed_time_is_read_from_when_the_store_wrote_the_objects(tmp_path):
    from leap.runs import RunStore
    from leap.runs.results import build_results

    second = Problem(id="p2", question="What is 6 * 7?", answer="42")
    spec = RunSpec(benchmark="smoke", leap={"n_paths": 2}, store=str(tmp_path), run_id="times")
    run = RunStore.open(str(tmp_path), "times")
    run.create_or_check(spec)
    for problem_id in ("p1", "p2"):
        rounds, final = solved_problem()
        for record in rounds:
            record.problem_id = problem_id
            record.wall_seconds = 4.0
            run.save_round(record)
        final.problem_id = problem_id
        final.wall_seconds = 1.0
        run.save_final(final)
    # p1 ran from 100 s to 130 s, p2 (at the same time) from 110 s to 125 s.
    base = at(0).timestamp()
    for problem_id, first_stored, final_stored in (("p1", 104, 130), ("p2", 114, 125)):
        first = tmp_path / run.round_key(problem_id, 0)
        os.utime(first, (base + first_stored, base + first_stored))
        last = tmp_path / run.final_key(problem_id)
        os.utime(last, (base + final_stored, base + final_stored))
    summary = build_results(spec, run, [PROBLEM, second]).summary
    assert summary.elapsed_seconds == 30.0  # from 104 - 4 to 130
    assert summary.solve_seconds == 2 * (4.0 + 4.0 + 1.0)
    assert summary.wrong_problems == [] and summary.unanswered_problems == []
    stored = RunSummary.from_json(run.read_result("summary.json"))
    assert stored.elapsed_seconds == 30.0


def test_paths_without_a_final_answer_still_count_in_the_runs_tokens():
    from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
    from leap.runs.results import unscored_tokens

    def agent(path: int, reasoning: int, answer: int) -> PathRound:
        segments = [
            Segment("prompt", [1] * 5, "q"),
            Segment("reasoning", [2] * reasoning, "r"),
            Segment("answer", [3] * answer, "a"),
        ]
        return PathRound(path, segments, reasoning_tokens=reasoning, prompt_computed=5)

    # a moa-like problem: two agents answer inside round 0, the aggregator (path 2) is final
    rounds = [
        RoundRecord("p1", 0, [agent(0, 10, 2), agent(1, 7, 3)]),
        RoundRecord("p1", 1, [agent(2, 4, 1)]),
    ]
    final = FinalRecord("p1", [PathAnswer(2, [], False, "think_end", "", answer_tokens=1)])
    assert unscored_tokens(rounds, final) == TokenTotals(reasoning=17, answer=5, prompt_computed=10)
    everyone = FinalRecord("p1", [PathAnswer(p, [], False, "eos", "") for p in range(3)])
    assert unscored_tokens(rounds, everyone) == TokenTotals()
