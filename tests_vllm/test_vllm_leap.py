"""A whole LeaP problem through the in-process vLLM engine, rounds stored and reloaded."""

from __future__ import annotations

import pytest

from leap.algorithm.config import LeapConfig
from leap.benchmarks.problem import Problem
from leap.engines.recording import Recording, continuation_reuse
from leap.methods.peers import PeerGroup
from leap.runs import RunSpec, RunStore
from leap.runs.solve import solve_problem

QUESTION = (
    "A farmer has three fields. The first field yields 240 kilograms of wheat, the second "
    "yields half as much as the first, and the third yields 60 kilograms more than the "
    "second. The farmer keeps one quarter of the total harvest for seed and sells the rest "
    "at 2 dollars per kilogram. How many dollars does the farmer earn from the sale? "
    "Explain each step, then give the final number."
)
PROBLEM = Problem(id="farm", question=QUESTION, answer="840")
CONFIG = LeapConfig(
    n_paths=4,
    tokens_per_round=160,
    max_tokens=480,
    summary_max_tokens=32,
    answer_max_tokens=24,
    top_k=2,
    seed=11,
)


@pytest.fixture(scope="module")
def solved(vllm_engine):
    vllm_engine.reset_cache()
    engine = Recording(vllm_engine)
    records = []
    final = PeerGroup(engine, CONFIG, PROBLEM).run(on_round=records.append)
    return engine, records, final


def test_a_problem_runs_to_final_answers_with_valid_rounds(solved):
    _, records, final = solved
    assert final is not None and [a.path for a in final.answers] == [0, 1, 2, 3]
    assert [r.round for r in records] == list(range(len(records)))
    assert len(records) >= 2  # at least one exchange of summaries happened
    for record in records:
        for row in record.paths:
            assert 0 < row.reasoning_tokens <= CONFIG.max_tokens
            assert row.prompt_computed + row.prompt_reused > 0
    exchanged = [row for r in records[:-1] for row in r.paths if not row.finished]
    assert exchanged and all(len(row.peers) == CONFIG.top_k for row in exchanged)
    for answer in final.answers:  # a path that ended its turn (eos) answered in its reasoning
        assert answer.finish_reason == "eos" or answer.segments[-1].kind == "answer"


def test_rounds_after_the_first_are_served_from_the_prefix_cache(solved):
    engine, _, _ = solved
    reuse = continuation_reuse(engine.calls)
    assert len(reuse) >= 3 * CONFIG.n_paths  # summaries, later rounds, final answers
    for reused, seen in reuse:
        assert reused >= 0.9 * seen, (reused, seen)


def test_a_stored_problem_resumes_through_vllm_with_the_same_rounds(vllm_engine, tmp_path):
    spec = RunSpec(leap=CONFIG, engine="vllm", store=str(tmp_path))
    run = RunStore.open(str(tmp_path), "vllm-run")
    run.create_or_check(spec)
    group = PeerGroup(vllm_engine, CONFIG, PROBLEM, cache_prefix="vllm-run/farm")
    first = group.step()
    run.save_round(first)
    vllm_engine.reset_cache()  # as if the worker had died: nothing cached
    final = solve_problem(vllm_engine, spec, PROBLEM, run)
    assert len(final.answers) == CONFIG.n_paths
    stored = run.load_rounds(PROBLEM.id)
    assert stored[0].paths[0].segments[1].token_ids == first.paths[0].segments[1].token_ids
    assert len(stored) >= 2
