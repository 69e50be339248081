"""The LeaP loop on the real default model: rounds, routing, finishing, resume."""

from __future__ import annotations

import pytest

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import PathAnswer, Segment
from leap.benchmarks import Problem
from leap.methods.peers import PeerGroup, own_text
from leap.scoring.answers import score_text

PROBLEM = Problem(id="p-17", question="What is 17 + 25?", answer="42")


def small(**extra) -> LeapConfig:
    base = dict(
        n_paths=3,
        tokens_per_round=24,
        summary_max_tokens=16,
        max_tokens=72,
        top_k=2,
        answer_max_tokens=8,
        seed=11,
    )
    return LeapConfig(**{**base, **extra})


def run(engine, config, records=()):
    engine.reset_cache()  # every run starts from an empty cache, as a new process would
    group = PeerGroup(engine, config, PROBLEM, records=records)
    out = []
    final = group.run(on_round=out.append)
    return out, final


def token_trace(records):
    return [
        [(row.path, s.kind, tuple(s.token_ids)) for row in r.paths for s in row.segments]
        for r in records
    ]


@pytest.fixture(scope="module")
def leap_run(engine):
    return run(engine, small())


def test_rounds_follow_the_algorithm(leap_run):
    records, final = leap_run
    assert [r.round for r in records] == list(range(len(records)))
    assert records[0].paths[0].segments[0].kind == "prompt"
    for record in records:
        active = {row.path for row in record.paths if not row.finished}
        for row in record.paths:
            kinds = [s.kind for s in row.segments if s.kind != "prompt"]
            assert kinds[0] == "reasoning"
            if row.finished:
                assert row.peers == [] and "summary" not in kinds
                continue
            # A LeaP block: cue, summary (closed), then the peers' summaries.
            assert kinds[kinds.index("summary") - 1] == "cue"
            assert kinds[-1] == "peers"
            assert row.path not in row.peers
            assert set(row.peers) <= active
            assert len(row.peers) == min(2, len(active) - 1)
            assert len(row.similarities) == len(row.peers)
    assert len(final.answers) == 3
    assert all(a.finish_reason in ("think_end", "eos", "budget") for a in final.answers)


def test_reasoning_budget_is_respected(leap_run):
    records, final = leap_run
    for answer in final.answers:
        rows = [row for r in records for row in r.paths if row.path == answer.path]
        assert rows[-1].finished
        assert rows[-1].reasoning_tokens <= 72
        if answer.finish_reason == "budget":
            assert rows[-1].reasoning_tokens == 72
            assert answer.forced and answer.segments[0].kind == "cue"
            assert answer.own_text.count(prompts.FORCED_ANSWER_OPENER) >= 1


def test_no_earlier_context_is_recomputed(leap_run, engine):
    records, _ = leap_run
    prompt_len = len(records[0].paths[0].segments[0].token_ids)
    for path in range(3):
        rows = [row for r in records for row in r.paths if row.path == path]
        computed = sum(row.prompt_computed for row in rows)
        injected = rows[-1].injected_tokens
        calls = sum(1 + (row.summary_seed is not None) for row in rows)
        context = prompt_len + rows[-1].reasoning_tokens + rows[-1].summary_tokens + injected
        # Each call computes at most what was injected since the last call, plus the one
        # sampled token that was never fed back; re-prefilling would cost whole contexts.
        assert computed <= prompt_len + injected + calls
        assert sum(row.prompt_reused for row in rows[1:]) >= context - computed - len(rows) * 24


def test_same_seed_same_run_other_seed_other_run(engine, leap_run):
    records, final = leap_run
    again, final_again = run(engine, small())
    assert token_trace(again) == token_trace(records)
    assert [a.own_text for a in final_again.answers] == [a.own_text for a in final.answers]
    # Another seed already draws other tokens in the first round.
    engine.reset_cache()
    other = PeerGroup(engine, small(seed=12), PROBLEM).step()
    assert token_trace([other]) != token_trace(records[:1])


def test_resume_from_records_matches_uninterrupted_run(engine, leap_run):
    records, final = leap_run
    assert len(records) >= 2
    for cut in range(1, len(records)):
        resumed, resumed_final = run(engine, small(), records=records[:cut])
        assert token_trace(resumed) == token_trace(records[cut:])
        assert [a.own_text for a in resumed_final.answers] == [a.own_text for a in final.answers]


def test_thinking_marker_ends_a_path_and_its_answer_follows(engine):
    # A marker the model writes almost at once: every path ends its thinking in round 0.
    records, final = run(engine, small(think_end=" ", max_tokens=200))
    assert len(records) == 1
    assert all(row.finish_reason == "think_end" for row in records[0].paths)
    for answer in final.answers:
        assert not answer.forced
        assert [s.kind for s in answer.segments] == ["answer"]
        assert answer.answer_tokens > 0


def test_independent_method_never_communicates(engine):
    records, _ = run(engine, small(method="independent"))
    kinds = {s.kind for r in records for row in r.paths for s in row.segments}
    assert kinds <= {"prompt", "reasoning"}


def test_single_communication_fires_only_at_listed_positions(engine):
    records, _ = run(engine, small(method="single", communicate_at=(48,)))
    fired = [r.round for r in records if any(row.peers for row in r.paths)]
    assert fired == [1]  # round 1 covers reasoning tokens 25..48


def test_own_text_is_what_scoring_reads(leap_run):
    records, final = leap_run
    for answer in final.answers:
        rows = [row for r in records for row in r.paths if row.path == answer.path]
        written = "".join(s.text for row in rows for s in row.segments if s.kind == "reasoning")
        answered = "".join(s.text for s in answer.segments if s.kind == "answer")
        opener = prompts.FORCED_ANSWER_OPENER if answer.forced else ""
        # The path's own reasoning, then its answer; no cue, summary request or peer block.
        assert answer.own_text == written + opener + answered
        assert prompts.PEERS_OPEN not in answer.own_text
        assert prompts.SUMMARY_CUE.strip() not in answer.own_text


def test_peer_answers_are_never_credited():
    reasoning = [Segment("reasoning", [1], "I think the sum is 41.")]
    peer = Segment("peers", [2], "Peer 1: the answer is \\boxed{42}")
    answer = PathAnswer(
        path=0,
        segments=[peer, Segment("answer", [3], "")],
        forced=False,
        finish_reason="think_end",
        own_text="",
    )
    text = own_text(reasoning, answer)
    assert "42" not in text
    assert score_text(text, PROBLEM).correct is False
    forced = PathAnswer(
        path=0,
        segments=[Segment("answer", [3], "42}")],
        forced=True,
        finish_reason="budget",
        own_text="",
    )
    assert score_text(own_text(reasoning, forced), PROBLEM).correct is True
