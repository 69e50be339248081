"""Peer influence and reflection markers (leap.scoring.influence), their stored table, the
report's section and the dashboard line.

The records are hand-made (one case per category) or come from a PeerGroup on the scripted
engine, so every expected answer is read off the strings here.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import fields

import pyarrow.parquet as pq
import pytest
from scripted_engine import EOS_TEXT, ScriptedEngine, queues
from test_report import check_html

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord, Segment
from leap.benchmarks.problem import Problem
from leap.methods.peers import PeerGroup
from leap.report import render_report, write_markdown_summary
from leap.runs import RunSpec, RunStore
from leap.runs.results import build_results, score_problem, summarize
from leap.scoring.answers import answers_equivalent
from leap.scoring.influence import (
    InfluenceRow,
    PositionShare,
    categorize,
    count_reflections,
    influence_by_position,
    influence_counts,
    influence_rows,
)
from leap.scoring.summary import RunSummary

PROBLEM = Problem(id="p1", question="What is 2 + 3?", answer="5")
CHOICE = Problem(
    id="c1", question="Pick one.", answer="B", kind="choice", choices=("red", "blue", "green")
)


def path_row(
    path: int,
    reasoning: str,
    tokens: int,
    *,
    summary: str | None = None,
    peers: tuple[int, ...] = (),
    finished: bool = False,
) -> PathRound:
    """One path's part of a round: its reasoning, then (with `summary`) the cue, the summary
    and the peer block showing `peers`."""
    segments = [Segment("reasoning", [1] * len(reasoning), reasoning)]
    if summary is not None:
        segments += [
            Segment("cue", [2], prompts.SUMMARY_CUE),
            Segment("summary", [3] * len(summary), summary),
            Segment("peers", [4], prompts.peer_block(["(a peer's summary)"] * len(peers))),
        ]
    return PathRound(
        path,
        segments,
        peers=list(peers),
        finished=finished,
        finish_reason="think_end" if finished else None,
        reasoning_tokens=tokens,
    )


def final_record(problem_id: str, own: dict[int, str]) -> FinalRecord:
    return FinalRecord(
        problem_id, [PathAnswer(p, [], False, "think_end", text) for p, text in own.items()]
    )


def one_block_each() -> tuple[list[RoundRecord], FinalRecord]:
    """Six paths, one peer block after round 0, all finished in round 1:
    0 adopts its peer's 5, 1 keeps 5, 2 moves to 9 (no peer had it), 3 had no answer and
    takes its peer's 5, 4 has no answer before or after, 5 has none before and finds 4."""
    first = [
        path_row(0, "Wait, I think", 100, summary="So far: \\boxed{3}</summarize>", peers=(1,)),
        path_row(1, "adding", 100, summary="It is \\boxed{5}</summarize>", peers=(2,)),
        path_row(2, "Hmm. But", 100, summary="I get \\boxed{7}</summarize>", peers=(0, 1)),
        path_row(3, "thinking", 100, summary="no idea yet</summarize>", peers=(1,)),
        path_row(4, "thinking", 100, summary="still lost</summarize>", peers=(0,)),
        path_row(5, "thinking", 100, summary="still lost</summarize>", peers=(0,)),
    ]
    second = [
        path_row(0, " so \\boxed{5}</think>", 130, finished=True),
        path_row(1, " yes</think>", 110, finished=True),
        path_row(2, " no: \\boxed{9}</think>", 140, finished=True),
        path_row(3, " then</think>", 120, finished=True),
        path_row(4, " nothing</think>", 120, finished=True),
        path_row(5, " maybe</think>", 120, finished=True),
    ]
    own = {
        0: "Wait, I think so \\boxed{5}</think>\\boxed{5}",
        1: "adding yes</think>\\boxed{5}",
        2: "Hmm. But no: \\boxed{9}</think>\\boxed{9}",
        3: "thinking then</think>\\boxed{5}",
        4: "thinking nothing</think>",
        5: "thinking maybe</think>\\boxed{4}",
    }
    rounds = [RoundRecord(PROBLEM.id, 0, first), RoundRecord(PROBLEM.id, 1, second)]
    return rounds, final_record(PROBLEM.id, own)


def test_each_category_with_its_answers_and_peers():
    rounds, final = one_block_each()
    rows = influence_rows(PROBLEM, rounds, final)
    assert [(r.round, r.path) for r in rows] == [(r, p) for r in (0, 1) for p in range(6)]
    blocks = {r.path: r for r in rows if r.round == 0}
    got = {
        p: (r.answer_before, r.answer_after, r.peers_shown, r.peer_answers, r.category)
        for p, r in blocks.items()
    }
    assert got == {
        0: ("3", "5", [1], ["5"], "adopted"),
        1: ("5", "5", [2], ["7"], "kept"),
        2: ("7", "9", [0, 1], ["3", "5"], "moved"),
        3: (None, "5", [1], ["5"], "adopted"),  # no answer before, a peer's answer after
        4: (None, None, [0], ["3"], "none"),
        5: (None, "4", [0], ["3"], "moved"),  # no answer before, one no peer stated after
    }
    assert [blocks[p].answer_source for p in range(6)] == ["summary"] * 3 + ["none"] * 3
    assert all(r.token_position == 100 for r in blocks.values())
    assert [blocks[p].reflections for p in range(6)] == [1, 0, 2, 0, 0, 0]
    # Round 1 has no peer block: no category; a finished path's answer is its final one.
    last = {r.path: r for r in rows if r.round == 1}
    assert {r.category for r in last.values()} == {None}
    assert [last[p].answer_before for p in range(6)] == ["5", "5", "9", "5", None, "4"]
    assert last[0].answer_source == "final" and last[0].answer_after == "5"
    # Where answers change: path 0 (3 -> 5) and path 2 (7 -> 9), at the end of round 1.
    changed = [(r.path, r.token_position) for r in rows if r.answer_changed]
    assert changed == [(0, 130), (2, 140)]
    assert influence_counts(rows) == {"kept": 1, "adopted": 2, "moved": 2, "none": 1}


def test_an_answer_before_and_none_after_is_none_and_kept_wins_over_a_peer():
    rounds = [
        RoundRecord(
            PROBLEM.id,
            0,
            [
                path_row(0, "a", 10, summary="\\boxed{5}", peers=(1,)),
                path_row(1, "b", 10, summary="\\boxed{5}", peers=(0,)),
            ],
        ),
        # Path 0's next summary states nothing and its reasoning never boxed anything;
        # path 1 boxes 5 in its reasoning.
        RoundRecord(
            PROBLEM.id,
            1,
            [path_row(0, "c", 20, summary="unsure", peers=(1,)), path_row(1, "\\boxed{5}", 20)],
        ),
    ]
    final = final_record(PROBLEM.id, {0: "ac", 1: "b\\boxed{5}"})
    rows = influence_rows(PROBLEM, rounds, final)
    first = {r.path: r for r in rows if r.round == 0}
    assert (first[0].answer_before, first[0].answer_after, first[0].category) == ("5", None, "none")
    # Path 1 agreed with its peer before and still says 5: kept (the paper's "consistent").
    assert first[1].category == "kept" and first[1].agreed_before
    assert first[1].answer_after == "5"
    # After their last round comes the final answer: none for path 0, 5 for path 1. Path 0
    # was shown path 1, which wrote no summary in round 1: a peer answer of none.
    assert [(r.answer_after, r.peer_answers, r.category) for r in rows if r.round == 1] == [
        (None, [None], "none"),
        ("5", [], None),
    ]


def test_a_summary_without_an_answer_falls_back_to_the_reasoning_so_far():
    rounds = [
        RoundRecord(PROBLEM.id, 0, [path_row(0, "maybe \\boxed{4}", 8)]),
        RoundRecord(PROBLEM.id, 1, [path_row(0, " hmm", 16, summary="checking", peers=(1,))]),
    ]
    rows = influence_rows(PROBLEM, rounds, None)
    assert [(r.answer_before, r.answer_source) for r in rows] == [
        ("4", "reasoning"),
        ("4", "reasoning"),
    ]
    # A peer that is not in the round (never stored) states nothing.
    assert rows[1].peer_answers == [None] and rows[1].category == "none"


def test_choice_answers_are_letters_compared_without_case():
    rounds = [
        RoundRecord(
            CHOICE.id,
            0,
            [
                path_row(0, "r", 5, summary="Answer: A", peers=(1,)),
                path_row(1, "r", 5, summary="I pick \\boxed{b}", peers=(0,)),
            ],
        ),
    ]
    final = final_record(CHOICE.id, {0: "so \\boxed{B}", 1: "\\boxed{B}"})
    rows = influence_rows(CHOICE, rounds, final)
    assert [(r.answer_before, r.peer_answers, r.answer_after, r.category) for r in rows] == [
        ("A", ["B"], "B", "adopted"),
        ("B", ["A"], "B", "kept"),
    ]


@pytest.mark.parametrize(
    ("before", "after", "peers", "category"),
    [
        ("5", "5", ["5"], "kept"),
        ("5", "5.0", ["7"], "kept"),  # equivalent, not equal text
        ("3", "10/2", ["5", "7"], "adopted"),
        ("3", "6", ["5", None], "moved"),
        (None, "5", ["5"], "adopted"),
        (None, "6", ["5"], "moved"),
        (None, None, ["5"], "none"),
        ("5", None, ["5"], "none"),
    ],
)
def test_categorize(before, after, peers, category):
    def same(a, b):
        return answers_equivalent(a, b, "math")

    assert categorize(before, after, peers, same) == category


def test_reflection_markers_on_known_text():
    text = (
        "Wait, 2 + 2 is 4, but the sum is 5? Hmm. But then the total changes.\n"
        "But let me re-check: alternatively, x = 3. Let me check again, and let me "
        "double-check. Aha! awaiting hmmm, butter; let me recheck"
    )
    # wait, hmm, But (after "."), But (line start), let me re-check, alternatively,
    # let me check, let me double-check, aha, hmmm, let me recheck; not the "but" inside
    # a sentence, "awaiting" or "butter".
    assert count_reflections(text) == 11
    assert count_reflections("") == 0
    assert count_reflections("WAIT. BUT") == 2


def test_a_scripted_leap_run_adopts_and_keeps():
    def padded(text: str) -> str:
        return text.ljust(24)

    script = {
        "p1/path-0": [
            padded("Wait, so \\boxed{3}"),
            "\\boxed{3}</summarize>",
            "Yes \\boxed{5}</think>",
            "\\boxed{5}" + EOS_TEXT,
        ],
        "p1/path-1": [
            padded("Hmm. But \\boxed{5}"),
            "\\boxed{5}</summarize>",
            "still \\boxed{5}</think>",
            "\\boxed{5}" + EOS_TEXT,
        ],
    }
    config = LeapConfig(
        n_paths=2,
        tokens_per_round=24,
        max_tokens=64,
        top_k=1,
        summary_max_tokens=24,
        answer_max_tokens=12,
        seed=5,
    )
    group = PeerGroup(ScriptedEngine(queues(script)), config, PROBLEM)
    rounds: list[RoundRecord] = []
    final = group.run(on_round=rounds.append)
    rows = influence_rows(PROBLEM, rounds, final)
    assert [
        (r.round, r.path, r.token_position, r.answer_before, r.answer_after, r.category)
        for r in rows
    ] == [
        (0, 0, 24, "3", "5", "adopted"),
        (0, 1, 24, "5", "5", "kept"),
        (1, 0, 45, "5", "5", None),
        (1, 1, 47, "5", "5", None),
    ]
    assert [r.peers_shown for r in rows[:2]] == [[1], [0]]
    assert [r.peer_answers for r in rows[:2]] == [["5"], ["3"]]
    assert [r.reflections for r in rows] == [1, 2, 0, 0]
    assert [r.answer_changed for r in rows] == [False, False, True, False]


def test_positions_are_bucketed_when_there_are_many():
    def block(position: int, category: str) -> InfluenceRow:
        return InfluenceRow(
            problem_id="p",
            round=0,
            path=0,
            token_position=position,
            answer_before=None,
            answer_source="none",
            answer_after=None,
            answer_changed=False,
            peers_shown=[1],
            peer_answers=[None],
            agreed_before=False,
            category=category,
            reflections=0,
        )

    rows = [block(100, "adopted"), block(100, "kept"), block(200, "moved"), block(200, "none")]
    assert influence_by_position(rows) == [
        PositionShare(100, kept=1, adopted=1, moved=0, none=0),
        PositionShare(200, kept=0, adopted=0, moved=1, none=1),
    ]
    share = influence_by_position(rows)[0]
    assert (share.blocks, share.influenced_share, share.adopted_share) == (2, 0.5, 0.5)
    many = [block(p, "moved") for p in range(10, 260, 10)]  # 25 positions
    buckets = influence_by_position(many, max_buckets=12)
    assert [b.position for b in buckets] == list(range(50, 300, 50))  # width 50: 250 / 12 ~ 21
    assert sum(b.moved for b in buckets) == 25
    assert influence_by_position([]) == [] and influence_counts([]) is None


# --------------------------------------------------------------------------- a stored run


def stored_run(tmp_path, rounds, final, method: str = "leap") -> tuple[RunSpec, RunStore]:
    spec = RunSpec(
        benchmark="smoke",
        leap={"n_paths": len(final.answers), "method": method},
        store=str(tmp_path),
        run_id=f"influence-{method}",
    )
    run = RunStore.open(str(tmp_path), spec.run_id)
    run.create_or_check(spec)
    for record in rounds:
        run.save_round(record)
    run.save_final(final)
    return spec, run


def test_build_results_stores_the_analysis_and_reports_it(tmp_path):
    rounds, final = one_block_each()
    spec, run = stored_run(tmp_path, rounds, final)
    results = build_results(spec, run, [PROBLEM])
    table = pq.read_table(io.BytesIO(run.read_result("analysis.parquet")))
    assert table.column_names == [f.name for f in fields(InfluenceRow)]
    assert [InfluenceRow(**row) for row in table.to_pylist()] == influence_rows(
        PROBLEM, rounds, final
    )
    assert results.locations["analysis"].endswith("results/analysis.parquet")
    counts = {"kept": 1, "adopted": 2, "moved": 2, "none": 1}
    assert results.summary.influence == counts
    stored = RunSummary.from_json(run.read_result("summary.json"))
    assert stored.influence == counts
    page = run.read_result("report.html").decode()
    check_html(page)  # balanced, one <style>, nothing loaded from elsewhere
    section = re.search(r"<section><h2>Peer influence</h2>.*?</section>", page, re.S).group(0)
    assert "1 kept · 2 adopted · 2 moved · 1 no answer, of 6 blocks" in section
    assert section.count("<svg") == 1 and "xlink" not in section and "http" not in section
    assert '<td class="num">100</td><td class="num">6</td>' in section  # one position
    assert "66.7%" in section  # 4 of 6 blocks influenced (2 adopted, 2 moved)
    assert "3 in all" in section  # reflection markers: "Wait", and "Hmm. But"
    markdown = write_markdown_summary(results.summary)
    assert (
        "**Peer influence:** 1 kept · 2 adopted · 2 moved · 1 without an answer to compare "
        "(of 6 peer blocks)" in markdown
    )


def test_an_independent_run_says_it_had_no_communication(tmp_path):
    rounds = [
        RoundRecord(PROBLEM.id, 0, [path_row(0, "Wait", 8), path_row(1, "x", 8)]),
        RoundRecord(
            PROBLEM.id,
            1,
            [path_row(0, "\\boxed{5}", 16, finished=True), path_row(1, "\\boxed{4}", 9)],
        ),
    ]
    final = final_record(PROBLEM.id, {0: "Wait\\boxed{5}", 1: "x\\boxed{4}"})
    spec, run = stored_run(tmp_path, rounds, final, method="independent")
    results = build_results(spec, run, [PROBLEM])
    assert results.summary.influence is None
    assert "influence" not in json.loads(run.read_result("summary.json"))
    table = pq.read_table(io.BytesIO(run.read_result("analysis.parquet")))
    assert table.num_rows == 4 and set(table.column("category").to_pylist()) == {None}
    page = run.read_result("report.html").decode()
    assert "No communication in this run" in page
    assert page.count("<svg") == 3  # the three usual charts, no influence chart
    assert "Peer influence" not in write_markdown_summary(results.summary)


def test_the_report_leaves_the_section_out_without_analysis_rows():
    rounds, final = one_block_each()
    scores = score_problem(PROBLEM, rounds, final)
    spec = RunSpec(benchmark="smoke", leap={"n_paths": 6})
    summary = summarize(spec, "run-x", [PROBLEM], scores, {}, [])
    plain = render_report(summary, scores, [])
    assert "Peer influence" not in plain
    page = render_report(summary, scores, [], influence=influence_rows(PROBLEM, rounds, final))
    assert "Peer influence" in page and page.count("<svg") == plain.count("<svg") + 1
