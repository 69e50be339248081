"""PeerGroup, case by case, on the scripted engine: each path's outputs are written here.

Every case lists what each path says, request by request (its reasoning each round, its
summary when it is asked for one, its final answer), and the segments the records must
hold. Tokens are characters, so counts are read off the strings. The real-model tests in
test_peers.py stay the evidence that a real engine drives the same loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from scripted_engine import EOS_TEXT, ScriptedEngine, queues

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, RoundRecord, Segment, path_rows
from leap.benchmarks import Problem
from leap.methods.peers import PeerGroup

PROBLEM = Problem(id="p-1", question="What is 1 + 1?", answer="2")
BASE = dict(
    n_paths=2,
    tokens_per_round=12,
    max_tokens=64,
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


SUMMARY_CUE = ("cue", prompts.SUMMARY_CUE)
CLOSING_CUE = ("cue", prompts.SUMMARY_CLOSE)  # the system closes a summary the model left open
NO_PEERS = ("peers", prompts.NO_PEERS_CUE)
FORCED_CUE = ("cue", prompts.forced_answer_cue("</think>"))
BOXED_2 = "\\boxed{2}" + EOS_TEXT


@dataclass
class Case:
    """What each path says (`script`), and the records that must come out.

    `rounds[r]` maps each path active in round r to its segments (after the prompt);
    `finish[path]` is (round, reason) of the round in which the path finished;
    `answers[path]` are the final segments; `own_text` the text scoring reads, where given.
    """

    name: str
    config: dict[str, Any]
    script: dict[int, list[str]]
    rounds: list[dict[int, list[Seg]]]
    finish: dict[int, tuple[int, str]]
    answers: dict[int, list[Seg]]
    own_text: dict[int, str] = field(default_factory=dict)


CASES = [
    Case(
        "self-correct: no summary and no peers; the path reasons on over rounds",
        config={"method": "self-correct"},
        script={
            0: ["one plus one", "is 2</think>", BOXED_2],
            1: ["wrong start.", "Start over: ", "2</think>", BOXED_2],
        },
        rounds=[
            {0: [reasoning("one plus one")], 1: [reasoning("wrong start.")]},
            {0: [reasoning("is 2</think>")], 1: [reasoning("Start over: ")]},
            {1: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (2, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "leap: reasoning, cue, closed summary and the peer's summary; answers after </think>",
        config={},
        script={
            0: ["one plus one", " 2</summarize>", "so 2</think>", BOXED_2],
            1: ["1 and 1 more", "two</summarize>", "2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("one plus one"), SUMMARY_CUE, summary(" 2</summarize>")]
                + [peers("two")],
                1: [reasoning("1 and 1 more"), SUMMARY_CUE, summary("two</summarize>")]
                + [peers("2")],
            },
            {0: [reasoning("so 2</think>")], 1: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
        own_text={0: "one plus oneso 2</think>\\boxed{2}"},
    ),
    Case(
        "leap-t: a path that opens <summarize> itself ends its round there, gets no cue, and "
        "keeps its round whole (only a round cut by the length limit is trimmed)",
        config={"method": "leap-t", "tokens_per_round": 20},
        script={
            0: ["a\n\nso 2<summarize>", "2</summarize>", "2</think>", BOXED_2],
            1: ["one plus one is two, so", "two</summarize>", "2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("a\n\nso 2<summarize>"), summary("2</summarize>"), peers("two")],
                1: [reasoning("one plus one is two,"), SUMMARY_CUE, summary("two</summarize>")]
                + [peers("2")],
            },
            {0: [reasoning("2</think>")], 1: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "trimming: the unfinished last paragraph is discarded, a finished one is kept",
        config={},
        script={
            0: ["ab\n\ncd\n\nefgh", "x</summarize>", "2</think>", BOXED_2],
            1: ["ends here.\n\n", "y</summarize>", "2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("ab\n\ncd\n\n"), discarded("efgh"), SUMMARY_CUE]
                + [summary("x</summarize>"), peers("y")],
                1: [reasoning("ends here.\n\n"), SUMMARY_CUE, summary("y</summarize>")]
                + [peers("x")],
            },
            {0: [reasoning("2</think>")], 1: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
        # Discarded text was never part of the path, so scoring never reads it.
        own_text={0: "ab\n\ncd\n\n2</think>\\boxed{2}"},
    ),
    Case(
        "trimming turned off keeps the whole round",
        config={"trim_unfinished_paragraph": False},
        script={
            0: ["ab\n\ncd\n\nefgh", "x</summarize>", "2</think>", BOXED_2],
            1: ["2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("ab\n\ncd\n\nefgh"), SUMMARY_CUE, summary("x</summarize>")]
                + [NO_PEERS],
                1: [reasoning("2</think>")],
            },
            {0: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (0, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "no trimming and no summary when no LeaP block follows (independent paths)",
        config={"method": "independent"},
        script={
            0: ["ab\n\ncd\n\nefgh", "2</think>", BOXED_2],
            1: ["2</think>", BOXED_2],
        },
        rounds=[
            {0: [reasoning("ab\n\ncd\n\nefgh")], 1: [reasoning("2</think>")]},
            {0: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (0, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "top_k 0: paths never summarize",
        config={"top_k": 0},
        script={0: ["ab\n\ncd\n\nefgh", "2</think>", BOXED_2], 1: ["2</think>", BOXED_2]},
        rounds=[
            {0: [reasoning("ab\n\ncd\n\nefgh")], 1: [reasoning("2</think>")]},
            {0: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (0, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "no peers left: the last active path is told nobody has a summary to share",
        config={},
        script={
            0: ["one plus one", "solo</summarize>", "so 2</think>", BOXED_2],
            1: ["2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("one plus one"), SUMMARY_CUE, summary("solo</summarize>")]
                + [NO_PEERS],
                1: [reasoning("2</think>")],
            },
            {0: [reasoning("so 2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (0, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "a single path summarizes every round and never hears from a peer",
        config={"n_paths": 1, "top_k": 4},
        script={0: ["one plus one", "me</summarize>", "so 2</think>", BOXED_2]},
        rounds=[
            {0: [reasoning("one plus one"), SUMMARY_CUE, summary("me</summarize>"), NO_PEERS]},
            {0: [reasoning("so 2</think>")]},
        ],
        finish={0: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")]},
    ),
    Case(
        "unclosed summaries (length, EOS) are closed by the system; peers read them as cut",
        config={},
        script={
            0: ["one plus one", "it is two, I believe", "2</think>", BOXED_2],
            1: ["1 and 1 more", "2" + EOS_TEXT, "2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("one plus one"), SUMMARY_CUE, summary("it is two, I bel")]
                + [CLOSING_CUE, peers("2")],
                1: [reasoning("1 and 1 more"), SUMMARY_CUE, summary("2"), CLOSING_CUE]
                + [peers("it is two, I bel")],
            },
            {0: [reasoning("2</think>")], 1: [reasoning("2</think>")]},
        ],
        finish={0: (1, "think_end"), 1: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")]},
    ),
    Case(
        "EOS ends a path: it leaves the pool and is not asked for another answer",
        config={},
        script={
            0: ["It is 2." + EOS_TEXT],
            1: ["one plus one", "2</summarize>", "2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("It is 2.")],
                1: [reasoning("one plus one"), SUMMARY_CUE, summary("2</summarize>"), NO_PEERS],
            },
            {1: [reasoning("2</think>")]},
        ],
        finish={0: (0, "eos"), 1: (1, "think_end")},
        answers={0: [], 1: [answer("\\boxed{2}")]},
        own_text={0: "It is 2."},
    ),
    Case(
        "budget spent: the last round is cut to the budget, kept whole, and an answer forced",
        config={"max_tokens": 20},
        script={
            0: ["one plus one", "a</summarize>", "ab\n\ncdefgh and more", "2}" + EOS_TEXT],
            1: ["1 and 1 more", "b</summarize>", "</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("one plus one"), SUMMARY_CUE, summary("a</summarize>")]
                + [peers("b")],
                1: [reasoning("1 and 1 more"), SUMMARY_CUE, summary("b</summarize>")]
                + [peers("a")],
            },
            {0: [reasoning("ab\n\ncdef")], 1: [reasoning("</think>")]},
        ],
        finish={0: (1, "budget"), 1: (1, "think_end")},
        answers={0: [FORCED_CUE, answer("2}")], 1: [answer("\\boxed{2}")]},
        own_text={0: "one plus oneab\n\ncdef\\boxed{2}"},
    ),
    Case(
        "finished paths leave the pool round by round",
        config={"n_paths": 3, "top_k": 2},
        script={
            0: ["one plus one", "a</summarize>", "one more try", "b</summarize>"]
            + ["2</think>", BOXED_2],
            1: ["2</think>", BOXED_2],
            2: ["1 and 1 more", "c</summarize>", "2</think>", BOXED_2],
        },
        rounds=[
            {
                0: [reasoning("one plus one"), SUMMARY_CUE, summary("a</summarize>")]
                + [peers("c")],
                1: [reasoning("2</think>")],
                2: [reasoning("1 and 1 more"), SUMMARY_CUE, summary("c</summarize>")]
                + [peers("a")],
            },
            {
                0: [reasoning("one more try"), SUMMARY_CUE, summary("b</summarize>"), NO_PEERS],
                2: [reasoning("2</think>")],
            },
            {0: [reasoning("2</think>")]},
        ],
        finish={0: (2, "think_end"), 1: (0, "think_end"), 2: (1, "think_end")},
        answers={0: [answer("\\boxed{2}")], 1: [answer("\\boxed{2}")], 2: [answer("\\boxed{2}")]},
    ),
]


def key(path: int) -> str:
    return f"{PROBLEM.id}/path-{path}"


def solve(case: Case, records: list[RoundRecord] | None = None, skip: dict[str, int] | None = None):
    """Run the case (continuing `records` if given); `skip` drops already answered requests."""
    skip = skip or {}
    outputs = {key(p): said[skip.get(key(p), 0) :] for p, said in case.script.items()}
    engine = ScriptedEngine(queues(outputs))
    group = PeerGroup(engine, LeapConfig(**{**BASE, **case.config}), PROBLEM, records=records or [])
    out: list[RoundRecord] = []
    final = group.run(on_round=out.append)
    return engine, group, out, final


def segments(found: Sequence[Segment]) -> list[Seg]:
    return [(s.kind, s.text) for s in found]


def sequence(records: list[RoundRecord], final: FinalRecord, path: int) -> list[int]:
    """Every token of `path`, as the records say: all segments but discarded ones."""
    tokens = [t for row in path_rows(records, path) for t in row.ids_for_sequence()]
    return tokens + [t for s in final.answers[path].segments for t in s.token_ids]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_records_hold_what_each_path_said_and_was_shown(case: Case):
    engine, group, records, final = solve(case)
    assert [r.round for r in records] == list(range(len(case.rounds)))
    for record, expected in zip(records, case.rounds, strict=True):
        assert [row.path for row in record.paths] == sorted(expected)
        for row in record.paths:
            got = segments(row.segments)
            if record.round == 0:
                assert got[0] == ("prompt", engine.decode(group.prompt_ids))
                got = got[1:]
            assert got == expected[row.path], f"round {record.round}, path {row.path}"
            ended = case.finish[row.path]
            assert row.finished == (record.round == ended[0])
            assert row.finish_reason == (ended[1] if row.finished else None)
    assert [a.path for a in final.answers] == sorted(case.script)
    for got in final.answers:
        assert segments(got.segments) == case.answers[got.path]
        assert got.finish_reason == case.finish[got.path][1]
        assert got.forced == (got.finish_reason == "budget")
        if got.path in case.own_text:
            assert got.own_text == case.own_text[got.path]
    # Every request answered, none more (an EOS path asks for no answer).
    asked = [request.cache_key for request, _ in engine.calls]
    assert {k: asked.count(k) for k in set(asked)} == {
        key(p): len(said) for p, said in case.script.items()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_prompt_is_the_path_so_far_and_its_tokens_are_counted(case: Case):
    engine, _, records, final = solve(case)
    for path in case.script:
        whole = sequence(records, final, path)
        prompts_seen = [r.prompt_ids for r, _ in engine.calls if r.cache_key == key(path)]
        for prompt in prompts_seen:
            assert list(prompt) == whole[: len(prompt)]
        lengths = [len(p) for p in prompts_seen]
        assert all(a < b for a, b in zip(lengths, lengths[1:], strict=False))
    # Each round's rows count the prompt tokens of that round's requests, computed or reused.
    done = 0
    for record in records:
        count = requests_in(record)
        this_round, done = engine.calls[done : done + count], done + count
        for row in record.paths:
            mine = [r for r, _ in this_round if r.cache_key == key(row.path)]
            assert row.prompt_computed + row.prompt_reused == sum(len(r.prompt_ids) for r in mine)
            if record.round > 0:
                assert row.prompt_reused > 0


def requests_in(record: RoundRecord) -> int:
    """Requests a round made: one reasoning request per path, one summary per summarizer."""
    return sum(1 + (row.summary_seed is not None) for row in record.paths)


def trace(records: list[RoundRecord]) -> list:
    return [
        (r.round, row.path, s.kind, tuple(s.token_ids), tuple(row.peers), row.finish_reason)
        for r in records
        for row in r.paths
        for s in row.segments
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_group_rebuilt_from_its_records_continues_exactly(case: Case):
    engine, _, records, final = solve(case)
    for cut in range(1, len(records)):
        answered = sum(requests_in(r) for r in records[:cut])
        before = [request.cache_key for request, _ in engine.calls[:answered]]
        skip = {k: before.count(k) for k in set(before)}
        again, _, resumed, resumed_final = solve(case, records[:cut], skip)
        assert trace(resumed) == trace(records[cut:])
        assert [r.prompt_ids for r, _ in again.calls] == [
            r.prompt_ids for r, _ in engine.calls[answered:]
        ]
        assert [segments(a.segments) for a in resumed_final.answers] == [
            segments(a.segments) for a in final.answers
        ]
        assert [a.own_text for a in resumed_final.answers] == [a.own_text for a in final.answers]


@pytest.mark.parametrize(
    ("method", "peers_named", "start_over"),
    [
        ("leap", True, False),
        ("single", True, False),
        ("leap-t", False, False),
        ("independent", False, False),
        ("self-correct", False, True),
    ],
)
def test_each_method_poses_the_problem_its_own_way(method, peers_named, start_over):
    engine = ScriptedEngine(queues({}))
    extra = {"communicate_at": (12,)} if method == "single" else {}
    group = PeerGroup(engine, LeapConfig(**{**BASE, "method": method, **extra}), PROBLEM)
    prompt = engine.decode(group.prompt_ids)
    assert ("Other solvers" in prompt) == peers_named
    assert (prompts.SELF_CORRECT_NOTE in prompt) == start_over


def test_the_release_peer_format_wraps_the_summaries_in_comment_tags():
    case = next(c for c in CASES if c.name.startswith("leap: reasoning, cue"))
    engine = ScriptedEngine(queues({key(p): said for p, said in case.script.items()}))
    config = LeapConfig(**{**BASE, "peer_format": "release"})
    records: list[RoundRecord] = []
    PeerGroup(engine, config, PROBLEM).run(on_round=records.append)
    block = [s.text for s in records[0].paths[0].segments if s.kind == "peers"]
    assert block == [prompts.peer_block(["two"], "release")]
    assert "<comment>\nPeer 1: two\n</comment>" in block[0]
    assert prompts.PEERS_OPEN not in block[0]


# Routing, as delivered: path 1 ends at once, so the other paths sit at positions 0-3 of the
# router's list and peers must come back as path numbers. Levenshtein similarities of the
# summaries, by hand: aaaa-aaab 0.75, aaaa-bbbb 0, aaaa-aabb 0.5, aaab-bbbb 0.25,
# aaab-aabb 0.75, bbbb-aabb 0.5. Ties go to the lower path.
SUMMARIES = {0: "aaaa", 2: "aaab", 3: "bbbb", 4: "aabb"}
ROUTES = {
    "dispersed": {0: [3, 4], 2: [3, 0], 3: [0, 2], 4: [0, 3]},
    "clustered": {0: [2, 4], 2: [0, 4], 3: [4, 2], 4: [2, 0]},
    "hybrid": {0: [3, 2], 2: [3, 0], 3: [0, 4], 4: [0, 2]},
}
SIMILARITIES_OF_PATH_0 = {"dispersed": [0.0, 0.5], "clustered": [0.75, 0.5], "hybrid": [0.0, 0.75]}


@pytest.mark.parametrize("router", sorted(ROUTES))
def test_peer_block_lists_the_routed_summaries_in_router_order(router: str):
    script = {key(p): ["one plus one", f"{s}</summarize>"] for p, s in SUMMARIES.items()}
    script[key(1)] = ["2</think>"]
    engine = ScriptedEngine(queues(script))
    config = LeapConfig(**{**BASE, "n_paths": 5, "top_k": 2, "router": router})
    record = PeerGroup(engine, config, PROBLEM).step()
    rows = {row.path: row for row in record.paths}
    assert rows[1].peers == [] and rows[1].finished
    for path, expected in ROUTES[router].items():
        row = rows[path]
        assert row.peers == expected
        assert segments(row.segments[-1:]) == [peers(*(SUMMARIES[p] for p in expected))]
        assert len(row.similarities) == 2
    assert rows[0].similarities == pytest.approx(SIMILARITIES_OF_PATH_0[router])
