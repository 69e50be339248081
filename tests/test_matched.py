"""Compute-matched sampling (`match_tokens`): waves of independent paths until a problem's
generated tokens reach the source run's."""

from __future__ import annotations

from dataclasses import replace

import pytest
from scripted_engine import ScriptedEngine, queues

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import RoundRecord
from leap.benchmarks import Problem
from leap.errors import LeapError
from leap.methods.matched import MatchedSampling
from leap.runs import RunSpec, parse_spec

PROBLEM = Problem(id="p-1", question="What is 1 + 1?", answer="2")
CONFIG = LeapConfig(
    method="independent", n_paths=2, tokens_per_round=20, max_tokens=40, answer_max_tokens=5
)


def key(path: int) -> str:
    return f"{PROBLEM.id}/path-{path}"


# Paths 0 and 1 use their whole budget of 40 (two rounds) and a 5-token answer each: 90 of
# 100. The second wave is one path with budget 10 - 5 = 5, and its answer: exactly 100.
SCRIPT = {
    key(0): ["a" * 20, "b" * 20, "\\boxed{2}"],
    key(1): ["c" * 20, "d" * 20, "\\boxed{3}"],
    key(2): ["e" * 5, "\\boxed{2}"],
}


def solve(records=(), skip: dict[str, int] | None = None, target: int = 100):
    skip = skip or {}
    engine = ScriptedEngine(queues({k: v[skip.get(k, 0) :] for k, v in SCRIPT.items()}))
    policy = MatchedSampling(engine, CONFIG, PROBLEM, target=target, records=list(records))
    out: list[RoundRecord] = []
    final = policy.run(on_round=out.append)
    return policy, out, final


def test_waves_add_paths_until_the_target_is_spent():
    policy, records, final = solve()
    assert [sorted(row.path for row in r.paths) for r in records] == [[0, 1], [0, 1], [2]]
    assert [p.budget for p in policy.paths] == [40, 40, 5]
    assert policy.spent() == 100
    assert [a.path for a in final.answers] == [0, 1, 2]
    assert [a.answer_tokens for a in final.answers] == [5, 5, 5]
    assert all(a.forced for a in final.answers)  # every path spent its budget
    third = records[2].paths[0]
    assert [s.kind for s in third.segments] == ["prompt", "reasoning", "cue", "answer"]
    # a forced answer: the box opener, then the answer cut at 5 tokens
    assert final.answers[2].own_text == "eeeee\\boxed{\\boxe"


def rows(records: list[RoundRecord]) -> list:
    """The rows without cache figures (a resumed engine prefills its context once more)."""
    return [[replace(row, prompt_computed=0, prompt_reused=0) for row in r.paths] for r in records]


def test_a_policy_rebuilt_from_its_records_continues_exactly():
    _, records, final = solve()
    for cut in (1, 2):
        calls = {key(0): cut, key(1): cut, key(2): 0}
        if cut == 2:  # paths 0 and 1 answered in round 1
            calls = {key(0): 3, key(1): 3, key(2): 0}
        _, rest, resumed = solve(records[:cut], skip=calls)
        assert rows(rest) == rows(records[cut:])
        assert resumed == final


def test_a_problem_already_at_its_target_gets_no_further_wave():
    policy, records, _ = solve(target=90)
    assert len(policy.paths) == 2 and policy.spent() == 90


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"leap": {"method": "leap"}}, "match_tokens needs method independent or self-correct"),
        (
            {"leap": {"method": "independent"}, "beginnings": {"source": "b", "good": 0.5}},
            "cannot be combined",
        ),
    ],
)
def test_only_independent_sampling_can_be_matched(fields, sentence, tmp_path):
    with pytest.raises(LeapError, match=sentence):
        parse_spec({"store": str(tmp_path), "match_tokens": "src", **fields})


def test_a_source_run_that_is_missing_or_unfinished_is_one_sentence(tmp_path):
    from leap.runs import RunStore, load_run_problems, prepare_run

    spec = parse_spec(
        {
            "store": str(tmp_path),
            "limit": 1,
            "leap": {"method": "independent"},
            "match_tokens": "src",
        }
    )
    with pytest.raises(LeapError, match="match_tokens source run 'src' cannot be used"):
        prepare_run(spec)
    source = RunSpec(store=str(tmp_path), limit=1, run_id="src")
    RunStore.open(str(tmp_path), "src").create_or_check(source)
    (problem,) = load_run_problems(source)
    with pytest.raises(LeapError, match=f"unfinished .*{problem.id}.*leap resume src"):
        prepare_run(spec)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_a_matched_baseline_spends_the_leap_runs_tokens_per_problem(tmp_path):
    import io

    import pyarrow.parquet as pq
    from helpers import tiny_spec

    from flows.benchmark import run_benchmark
    from leap.runs import RunStore, prepare_run

    def generated(run_id: str) -> dict[str, int]:
        data = RunStore.open(str(tmp_path), run_id).read_result("scores.parquet")
        spent: dict[str, int] = {}
        for row in pq.read_table(io.BytesIO(data)).to_pylist():
            tokens = row["reasoning_tokens"] + row["summary_tokens"] + row["answer_tokens"]
            spent[row["problem_id"]] = spent.get(row["problem_id"], 0) + tokens
        return spent

    leap = tiny_spec(str(tmp_path), run_id="leap")
    assert run_benchmark(prepare_run(leap)).is_completed()
    matched = tiny_spec(
        str(tmp_path),
        run_id="matched",
        leap=leap.leap.model_copy(update={"method": "independent"}),
        match_tokens="leap",
    )
    assert run_benchmark(prepare_run(matched)).is_completed()
    target, spent = generated("leap"), generated("matched")
    assert set(spent) == set(target)
    for problem, tokens in target.items():
        assert abs(spent[problem] - tokens) <= 0.05 * tokens, (problem, spent[problem], tokens)
