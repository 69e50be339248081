"""Mixture of agents (`moa`): who sees what, one round per layer, the aggregator's answer,
exact resume. The scripted engine writes each path's outputs (tokens are characters); the
last test drives the real model.

The main script has A = 2 agents and L = 3 layers: paths 0 and 1 (layer 1), 2 and 3
(layer 2), 4 (the aggregator).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from scripted_engine import EOS_TEXT, ScriptedEngine, queues

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, RoundRecord, Segment
from leap.benchmarks import Problem
from leap.engines.base import GenerationRequest, GenerationResult
from leap.methods.moa import MixtureOfAgents
from leap.scoring.answers import score_text

PROBLEM = Problem(id="p-1", question="What is 1 + 1?", answer="2")
BASE = dict(method="moa", n_paths=2, layers=3, max_tokens=16, answer_max_tokens=10, seed=5)
FORCED_CUE = prompts.forced_answer_cue("</think>")

# Per path: its reasoning request, then its answer request (none after EOS).
SCRIPT: dict[int, list[str]] = {
    0: ["so 2</think>", "\\boxed{2}" + EOS_TEXT],
    1: ["one plus one is three, surely", "3}" + EOS_TEXT],  # out of budget after 16
    2: ["ok \\boxed{2}" + EOS_TEXT],  # ends its turn: no answer request
    3: ["2 it is</think>", "\\boxed{2}" + EOS_TEXT],
    4: ["hmm</think>", "not sure" + EOS_TEXT],  # the aggregator
}
# What each later layer reads of the one before: path 1's forced answer with its box opener
# back in front; path 2's last 10 reasoning tokens, since it wrote no separate answer.
LAYER_2_SEES = ["\\boxed{2}", "\\boxed{3}"]
AGGREGATOR_SEES = ["... \\boxed{2}", "\\boxed{2}"]


def key(path: int) -> str:
    return f"{PROBLEM.id}/path-{path}"


class BatchedEngine(ScriptedEngine):
    """Also keeps the cache keys of each `generate` call."""

    def __init__(self, script: dict[int, list[str]]) -> None:
        super().__init__(queues({key(p): said for p, said in script.items()}))
        self.batches: list[list[str | None]] = []

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.batches.append([r.cache_key for r in requests])
        return super().generate(requests)


def solve(
    script: dict[int, list[str]] = SCRIPT,
    records: list[RoundRecord] | None = None,
    **config: object,
) -> tuple[BatchedEngine, MixtureOfAgents, list[RoundRecord], FinalRecord]:
    engine = BatchedEngine(script)
    moa = MixtureOfAgents(engine, LeapConfig(**{**BASE, **config}), PROBLEM, records=records or [])
    out: list[RoundRecord] = []
    final = moa.run(on_round=out.append)
    assert final is not None
    return engine, moa, out, final


def chat(engine: ScriptedEngine, text: str) -> list[int]:
    return engine.chat_prompt([{"role": "user", "content": text}])


def kinds(record: RoundRecord) -> dict[int, list[str]]:
    return {row.path: [s.kind for s in row.segments] for row in record.paths}


def test_one_round_per_layer_with_its_own_paths():
    engine, moa, records, final = solve()
    assert moa.done
    assert [r.round for r in records] == [0, 1, 2]
    assert [[row.path for row in r.paths] for r in records] == [[0, 1], [2, 3], [4]]
    assert [kinds(r) for r in records] == [
        {0: ["prompt", "reasoning", "answer"], 1: ["prompt", "reasoning", "cue", "answer"]},
        {2: ["prompt", "reasoning"], 3: ["prompt", "reasoning", "answer"]},
        {4: ["prompt", "reasoning", "answer"]},
    ]
    reasons = {row.path: row.finish_reason for r in records for row in r.paths}
    assert reasons == {0: "think_end", 1: "budget", 2: "eos", 3: "think_end", 4: "think_end"}
    assert all(row.finished for r in records for row in r.paths)
    # Per layer: one reasoning call for all its agents, then one answer call.
    assert engine.batches == [
        [key(0), key(1)],
        [key(0), key(1)],
        [key(2), key(3)],
        [key(3)],
        [key(4)],
        [key(4)],
    ]
    assert [r.max_new_tokens for r, _ in engine.calls if r.stop] == [16] * 5


def test_each_layer_sees_the_previous_layers_answers_in_order():
    engine, _, records, _ = solve()
    layer_1 = chat(engine, prompts.task_text(PROBLEM, mention_peers=False))
    layer_2 = chat(engine, prompts.moa_task_text(PROBLEM, LAYER_2_SEES))
    last = chat(engine, prompts.moa_aggregator_text(PROBLEM, AGGREGATOR_SEES))
    expected = {0: layer_1, 1: layer_1, 2: layer_2, 3: layer_2, 4: last}
    for record in records:
        for row in record.paths:
            assert row.segments[0].kind == "prompt"
            assert row.segments[0].token_ids == expected[row.path], f"path {row.path}"
    text = engine.decode(layer_2)
    assert text.index("Solver 1: \\boxed{2}") < text.index("Solver 2: \\boxed{3}")
    assert "Solver 3" not in text
    # The forced answer comes after the cue the out-of-budget path was given.
    row_1 = records[0].paths[1]
    assert [s.text for s in row_1.segments[-2:]] == [FORCED_CUE, "3}"]
    assert row_1.reasoning_tokens == 16


def test_the_final_record_is_the_aggregators_answer_alone():
    _, _, records, final = solve()
    assert final.problem_id == PROBLEM.id
    assert len(final.answers) == 1
    answer = final.answers[0]
    assert answer.path == 4 and answer.finish_reason == "think_end" and not answer.forced
    assert [(s.kind, s.text) for s in answer.segments] == [("answer", "not sure")]
    assert answer.answer_tokens == len("not sure") + 1  # with its EOS
    assert answer.seed is not None
    # Its own text: its reasoning and answer. The boxed 2 in its prompt is not its own.
    assert answer.own_text == "hmm</think>not sure"
    prompt = records[2].paths[0].segments[0].text
    assert "\\boxed{2}" in prompt
    assert score_text(answer.own_text, PROBLEM).correct is False


def test_an_aggregator_out_of_budget_or_ending_with_eos_still_answers():
    script = {0: ["2</think>", "\\boxed{2}" + EOS_TEXT], 1: ["it is 2" + EOS_TEXT]}
    _, _, _, final = solve({**script, 2: ["so \\boxed{2}" + EOS_TEXT]}, layers=2)
    (answer,) = final.answers
    assert (answer.path, answer.finish_reason, answer.segments, answer.seed) == (2, "eos", [], None)
    assert score_text(answer.own_text, PROBLEM).correct is True
    _, _, _, final = solve({**script, 2: ["x" * 20, "2}" + EOS_TEXT]}, layers=2)
    (answer,) = final.answers
    assert answer.forced and answer.own_text == "x" * 16 + "\\boxed{2}"
    assert score_text(answer.own_text, PROBLEM).correct is True


def test_counters():
    engine, _, records, _ = solve()
    for record in records:
        for row in record.paths:
            mine = [r for r, _ in engine.calls if r.cache_key == key(row.path)]
            assert row.prompt_computed + row.prompt_reused == sum(len(r.prompt_ids) for r in mine)
            assert row.injected_tokens == row.summary_tokens == 0
            assert row.reasoning_tokens == sum(
                len(s.token_ids) for s in row.segments if s.kind == "reasoning"
            )
    rows = {row.path: row for r in records for row in r.paths}
    assert rows[3].prompt_reused > 0  # its answer request reused its reasoning context
    assert rows[1].reason_seed != rows[3].reason_seed


def test_a_moa_rebuilt_from_its_records_continues_exactly():
    _, _, records, final = solve()
    for cut in range(1, len(records) + 1):
        again, moa, resumed, resumed_final = solve(records=records[:cut])
        assert moa.next_round == 3
        assert [r.paths for r in resumed] == [r.paths for r in records[cut:]]
        assert resumed_final == final
        # Only the layers after the cut were generated; the last cut generates nothing.
        assert {k for b in again.batches for k in b} == {
            key(row.path) for r in records[cut:] for row in r.paths
        }


def test_a_stored_prompt_this_run_would_not_build_is_refused():
    engine, _, records, _ = solve()
    row = records[1].paths[0]
    tampered = [Segment("prompt", row.segments[0].token_ids[:-1], "")] + row.segments[1:]
    changed = replace(records[1], paths=[replace(row, segments=tampered), records[1].paths[1]])
    with pytest.raises(ValueError, match="prompt"):
        MixtureOfAgents(engine, LeapConfig(**BASE), PROBLEM, records=[records[0], changed])
    with pytest.raises(ValueError, match="does not follow"):
        MixtureOfAgents(engine, LeapConfig(**BASE), PROBLEM, records=records[1:])
    with pytest.raises(ValueError, match="holds paths"):
        MixtureOfAgents(engine, LeapConfig(**{**BASE, "n_paths": 3}), PROBLEM, records=records[:1])


def test_beginnings_prefix_the_first_layer_only():
    engine = BatchedEngine(SCRIPT)
    config = LeapConfig(**BASE)
    moa = MixtureOfAgents(engine, config, PROBLEM, beginnings=[[ord("A")], [ord("B")]])
    records = [moa.step() for _ in range(3)]
    assert kinds(records[0])[0][:2] == ["prompt", "beginning"]
    assert [r.prompt_ids[-1] for r, _ in engine.calls[:2]] == [ord("A"), ord("B")]
    assert all(s.kind != "beginning" for r in records[1:] for row in r.paths for s in row.segments)
    resumed = MixtureOfAgents(
        engine, config, PROBLEM, records=records, beginnings=[[ord("A")], [ord("B")]]
    )
    assert resumed.finish() == moa.finish()
    with pytest.raises(ValueError, match="beginning"):
        MixtureOfAgents(engine, config, PROBLEM, records=records, beginnings=[[1], [2]])


def test_finish_before_the_last_layer_is_refused():
    moa = MixtureOfAgents(BatchedEngine(SCRIPT), LeapConfig(**BASE), PROBLEM)
    moa.step()
    with pytest.raises(RuntimeError, match="layer 2 of 3"):
        moa.finish()


# -- the real model ---------------------------------------------------------------------


def test_resume_on_the_real_model_matches_the_uninterrupted_run(engine):
    config = LeapConfig(
        method="moa", n_paths=2, layers=3, max_tokens=24, answer_max_tokens=8, seed=11
    )
    problem = Problem(id="p-17", question="What is 17 + 25?", answer="42")

    def run(records: list[RoundRecord]) -> tuple[list[RoundRecord], FinalRecord | None]:
        engine.reset_cache()  # as a new process would
        out: list[RoundRecord] = []
        final = MixtureOfAgents(engine, config, problem, records=records).run(out.append)
        return out, final

    def ids(records: list[RoundRecord]) -> list:
        return [
            [(row.path, s.kind, s.token_ids) for row in r.paths for s in row.segments]
            for r in records
        ]

    records, final = run([])
    assert [[row.path for row in r.paths] for r in records] == [[0, 1], [2, 3], [4]]
    assert final is not None and [a.path for a in final.answers] == [4]
    for cut in (1, 2, 3):
        resumed, resumed_final = run(records[:cut])
        assert ids(resumed) == ids(records[cut:])
        assert resumed_final == final
