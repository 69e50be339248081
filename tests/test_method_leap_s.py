"""LeaP-S: N groups of M paths talk once, inside their group; one path per group goes on.

Table cases on the scripted engine (tokens are characters; each path's outputs are written
here, request by request), then resume on the real CPU model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from scripted_engine import EOS_TEXT, ScriptedEngine, queues

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, RoundRecord, Segment
from leap.algorithm.routing import route
from leap.algorithm.seeds import derive_seed
from leap.benchmarks import Problem
from leap.methods.leap_s import LeapS, kept_paths

PROBLEM = Problem(id="p-1", question="What is 1 + 1?", answer="2")
BASE = dict(
    method="leap-s",
    n_paths=2,
    group_size=2,
    first_tokens=12,
    tokens_per_round=10,
    max_tokens=32,
    top_k=1,
    summary_max_tokens=16,
    answer_max_tokens=12,
    seed=5,
)

Seg = tuple[str, str]


def reasoning(text: str) -> Seg:
    return ("reasoning", text)


def discarded(text: str) -> Seg:
    return ("discarded", text)


def summary(text: str) -> Seg:
    return ("summary", text)


def peers(*summaries: str) -> Seg:
    return ("peers", prompts.peer_block(summaries))


def answer(text: str) -> Seg:
    return ("answer", text)


CUE = ("cue", prompts.SUMMARY_CUE)
NO_PEERS = ("peers", prompts.NO_PEERS_CUE)
FORCED_CUE = ("cue", prompts.forced_answer_cue("</think>"))
BOXED_2 = "\\boxed{2}" + EOS_TEXT


@dataclass
class Case:
    """What each path says (`script`) and what must come out: `rounds[r]` maps each row of
    round r to its segments (after the prompt), `kept` the path kept in each group,
    `finish[path]` the (round, reason) a path finished in, `answers` the final segments."""

    name: str
    config: dict[str, Any]
    script: dict[int, list[str]]
    rounds: list[dict[int, list[Seg]]]
    kept: list[int]
    finish: dict[int, tuple[int, str]]
    answers: dict[int, list[Seg]]


CASES = [
    Case(
        "two groups of two talk inside their group once; each first member goes on alone, "
        "trimmed only before the talk, until its budget is spent",
        config={},
        script={
            0: ["ab\n\ncdefghij", "s0</summarize>", "x\n\nyzwvuts", "abcdefghij", "2}" + EOS_TEXT],
            1: ["one plus one", "s1</summarize>"],
            2: ["1 and 1 more", "s2</summarize>", "2</think>", BOXED_2],
            3: ["two, I think", "s3</summarize>"],
        },
        rounds=[
            {
                0: [reasoning("ab\n\n"), discarded("cdefghij"), CUE, summary("s0</summarize>")]
                + [peers("s1")],
                1: [reasoning("one plus one"), CUE, summary("s1</summarize>"), peers("s0")],
                2: [reasoning("1 and 1 more"), CUE, summary("s2</summarize>"), peers("s3")],
                3: [reasoning("two, I think"), CUE, summary("s3</summarize>"), peers("s2")],
            },
            {0: [reasoning("x\n\nyzwvuts")], 2: [reasoning("2</think>")]},
            {0: [reasoning("abcdefghij")]},
        ],
        kept=[0, 2],
        finish={0: (2, "budget"), 2: (1, "think_end")},
        answers={0: [FORCED_CUE, answer("2}")], 2: [answer("\\boxed{2}")]},
    ),
    Case(
        "a member that ended its thinking in round 0 is passed over for the next one; a "
        "group whose members all ended keeps its first, and does not talk",
        config={"group_size": 3, "top_k": 2},
        script={
            0: ["2</think>"],
            1: ["one plus one", "a</summarize>", "2</think>", BOXED_2],
            2: ["1 and 1 more", "b</summarize>"],
            3: ["2</think>", BOXED_2],
            4: ["It is 2." + EOS_TEXT],
            5: ["two</think>"],
        },
        rounds=[
            {
                0: [reasoning("2</think>")],
                1: [reasoning("one plus one"), CUE, summary("a</summarize>"), peers("b")],
                2: [reasoning("1 and 1 more"), CUE, summary("b</summarize>"), peers("a")],
                3: [reasoning("2</think>")],
                4: [reasoning("It is 2.")],
                5: [reasoning("two</think>")],
            },
            {1: [reasoning("2</think>")]},
        ],
        kept=[1, 3],
        finish={0: (0, "think_end"), 1: (1, "think_end"), 3: (0, "think_end")}
        | {4: (0, "eos"), 5: (0, "think_end")},
        answers={1: [answer("\\boxed{2}")], 3: [answer("\\boxed{2}")]},
    ),
    Case(
        "the last unfinished member of a group still summarizes, and hears that no peer has "
        "a summary",
        config={"n_paths": 1},
        script={0: ["2</think>"], 1: ["one plus one", "me</summarize>", "2</think>", BOXED_2]},
        rounds=[
            {
                0: [reasoning("2</think>")],
                1: [reasoning("one plus one"), CUE, summary("me</summarize>"), NO_PEERS],
            },
            {1: [reasoning("2</think>")]},
        ],
        kept=[1],
        finish={0: (0, "think_end"), 1: (1, "think_end")},
        answers={1: [answer("\\boxed{2}")]},
    ),
    Case(
        "top_k 0: no talk and no trim; the first member still goes on alone",
        config={"n_paths": 1, "top_k": 0},
        script={0: ["ab\n\ncdefghij", "2</think>", BOXED_2], 1: ["one plus one"]},
        rounds=[
            {0: [reasoning("ab\n\ncdefghij")], 1: [reasoning("one plus one")]},
            {0: [reasoning("2</think>")]},
        ],
        kept=[0],
        finish={0: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")]},
    ),
]


def key(path: int) -> str:
    return f"{PROBLEM.id}/path-{path}"


def config_of(case: Case) -> LeapConfig:
    return LeapConfig(**{**BASE, **case.config})


def solve(case: Case, records: Sequence[RoundRecord] = (), skip: dict[str, int] | None = None):
    """Run the case (continuing `records`); `skip` drops the requests already answered."""
    skip = skip or {}
    outputs = {key(p): said[skip.get(key(p), 0) :] for p, said in case.script.items()}
    engine = ScriptedEngine(queues(outputs))
    policy = LeapS(engine, config_of(case), PROBLEM, records=records)
    out: list[RoundRecord] = []
    final = policy.run(on_round=out.append)
    assert final is not None
    return engine, policy, out, final


def segments(found: Sequence[Segment]) -> list[Seg]:
    return [(s.kind, s.text) for s in found]


def requests_in(record: RoundRecord) -> int:
    """Requests a round made: one reasoning request per row, one summary per summarizer."""
    return sum(1 + (row.summary_seed is not None) for row in record.paths)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_records_hold_what_each_path_said_and_which_paths_were_kept(case: Case):
    engine, policy, records, final = solve(case)
    assert [r.round for r in records] == list(range(len(case.rounds)))
    for record, expected in zip(records, case.rounds, strict=True):
        assert [row.path for row in record.paths] == sorted(expected)
        for row in record.paths:
            got = segments(row.segments)
            if record.round == 0:
                assert got[0] == ("prompt", engine.decode(policy.prompt_ids))
                got = got[1:]
            assert got == expected[row.path], f"round {record.round}, path {row.path}"
            ended = case.finish.get(row.path)
            assert row.finished == (ended is not None and ended[0] == record.round)
            assert row.finish_reason == (ended[1] if row.finished else None)
    assert policy.kept == case.kept == kept_paths(records[0], *group_shape(case))
    assert [a.path for a in final.answers] == case.kept
    for got in final.answers:
        assert segments(got.segments) == case.answers[got.path]
        assert got.finish_reason == case.finish[got.path][1]
    asked = [request.cache_key for request, _ in engine.calls]
    assert {k: asked.count(k) for k in set(asked)} == {
        key(p): len(said) for p, said in case.script.items()
    }


def group_shape(case: Case) -> tuple[int, int]:
    config = config_of(case)
    return config.n_paths, config.group_size


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_only_round_zero_talks_and_only_inside_groups(case: Case):
    engine, policy, records, _ = solve(case)
    config = config_of(case)
    n, m = group_shape(case)
    first, later = records[0], records[1:]
    assert [row.path for row in first.paths] == list(range(n * m))
    for row in first.paths:
        group = row.path // m
        mates = [
            r.path
            for r in first.paths
            if r.path // m == group and not r.finished and r.path != row.path
        ]
        assert set(row.peers) <= set(mates)
        expected = 0 if row.finished or config.top_k == 0 else min(config.top_k, len(mates))
        assert len(row.peers) == len(row.similarities) == expected
    ended = {row.path for row in first.paths if row.finished}
    still = set(policy.kept) - ended
    for record in later:
        assert [row.path for row in record.paths] == sorted(still)
        for row in record.paths:
            assert {s.kind for s in row.segments} == {"reasoning"}
            assert row.peers == [] and row.summary_seed is None
        still -= {row.path for row in record.paths if row.finished}
    # Round 0 reasons to `first_tokens`; later rounds T at a time, within the budget.
    reasoning_calls = [r.max_new_tokens for r, _ in engine.calls if r.stop == ("</think>",)]
    assert reasoning_calls[: n * m] == [config.communication_tokens] * (n * m)
    assert all(tokens <= config.tokens_per_round for tokens in reasoning_calls[n * m :])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_policy_rebuilt_from_its_records_continues_exactly(case: Case):
    engine, _, records, final = solve(case)
    for cut in range(1, len(records)):
        answered = sum(requests_in(r) for r in records[:cut])
        before = [request.cache_key for request, _ in engine.calls[:answered]]
        skip = {k: before.count(k) for k in set(before)}
        again, policy, resumed, resumed_final = solve(case, records[:cut], skip)
        assert policy.kept == case.kept
        assert trace(resumed) == trace(records[cut:])
        assert [r.prompt_ids for r, _ in again.calls] == [
            r.prompt_ids for r, _ in engine.calls[answered:]
        ]
        assert answer_ids(resumed_final) == answer_ids(final)


def trace(records: Sequence[RoundRecord]) -> list:
    return [
        (r.round, row.path, s.kind, tuple(s.token_ids), tuple(row.peers), row.finish_reason)
        for r in records
        for row in r.paths
        for s in row.segments
    ]


def answer_ids(final: FinalRecord) -> list:
    return [(a.path, [tuple(s.token_ids) for s in a.segments]) for a in final.answers]


def test_each_group_routes_with_its_own_seed():
    # Every summary is the same, so only the seed decides whom the random router picks.
    config = LeapConfig(**{**BASE, "group_size": 4, "router": "random", "seed": 3})
    script = {key(p): ["one plus one", "same</summarize>"] for p in range(8)}
    record = LeapS(ScriptedEngine(queues(script)), config, PROBLEM).step()
    picks = []
    for g in range(2):
        seed = derive_seed(config.seed, PROBLEM.id, -1 - g, 0, "route")
        routes = route(["same"] * 4, [True] * 4, 1, "random", seed=seed)
        rows = record.paths[4 * g : 4 * g + 4]
        assert [row.peers for row in rows] == [[4 * g + r.peers[0]] for r in routes if r]
        picks.append([r.peers for r in routes if r])
    assert picks[0] != picks[1]


def test_paths_are_told_about_peers_and_start_from_their_beginnings():
    config = LeapConfig(**BASE)
    beginnings = [[ord("a") + i] for i in range(4)]
    script = {key(p): ["2</think>", BOXED_2] for p in range(4)}
    engine = ScriptedEngine(queues(script))
    policy = LeapS(engine, config, PROBLEM, beginnings=beginnings)
    assert "Other solvers" in engine.decode(policy.prompt_ids)
    record = policy.step()
    assert [segments(row.segments[1:2]) for row in record.paths] == [
        [("beginning", chr(b[0]))] for b in beginnings
    ]
    with pytest.raises(ValueError, match="4 starting paths"):
        LeapS(engine, config, PROBLEM, beginnings=beginnings[:2])


# -- the real model ------------------------------------------------------------------------

REAL_PROBLEM = Problem(id="p-17", question="What is 17 + 25?", answer="42")
REAL = LeapConfig(
    method="leap-s",
    n_paths=2,
    group_size=2,
    first_tokens=16,
    tokens_per_round=16,
    max_tokens=48,
    summary_max_tokens=8,
    answer_max_tokens=6,
    top_k=1,
    seed=11,
)


def run_real(engine, records: Sequence[RoundRecord] = ()):
    engine.reset_cache()  # every run starts from an empty cache, as a new process would
    policy = LeapS(engine, REAL, REAL_PROBLEM, records=records)
    out: list[RoundRecord] = []
    final = policy.run(on_round=out.append)
    return out, final


def test_resume_on_the_real_model_matches_the_uninterrupted_run(engine):
    records, final = run_real(engine)
    assert len(records[0].paths) == 4
    assert len(final.answers) == 2
    assert len(records) >= 3, "the budget should take rounds 0, 1 and 2"
    for cut in (1, 2):
        resumed, resumed_final = run_real(engine, records[:cut])
        assert trace(resumed) == trace(records[cut:])
        assert answer_ids(resumed_final) == answer_ids(final)
