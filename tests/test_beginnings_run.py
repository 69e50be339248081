"""Runs that start from inherited beginnings: never credited, counted apart, replayed on
resume, and refused with one sentence when the source cannot give them."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import TINY_LEAP, store_source
from scripted_engine import EOS_TEXT, ScriptedEngine, queues

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import RoundRecord
from leap.benchmarks import Problem
from leap.methods.peers import PeerGroup
from leap.runs import RunStore
from leap.runs.results import score_problem

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = Problem(id="p-1", question="What is 1 + 1?", answer="2")


def scripted_group(beginning: str, records=()) -> tuple[PeerGroup, ScriptedEngine]:
    engine = ScriptedEngine(queues({"p-1/path-0": ["so it is 3</think>", "\\boxed{3}" + EOS_TEXT]}))
    config = LeapConfig(n_paths=1, tokens_per_round=40, max_tokens=80, top_k=0)
    group = PeerGroup(
        engine, config, PROBLEM, records=records, beginnings=[engine.encode(beginning)]
    )
    return group, engine


def test_a_boxed_gold_answer_inside_an_inherited_beginning_is_never_credited():
    beginning = "The answer is \\boxed{2}. Wait, "
    group, engine = scripted_group(beginning)
    records: list[RoundRecord] = []
    final = group.run(on_round=records.append)
    assert final is not None
    kinds = [s.kind for s in records[0].paths[0].segments]
    assert kinds == ["prompt", "beginning", "reasoning"]
    assert records[0].paths[0].segments[1].text == beginning
    (row,) = score_problem(PROBLEM, records, final)
    assert (row.answer, row.correct) == ("3", False)
    assert row.inherited_tokens == len(beginning)
    assert row.reasoning_tokens == len("so it is 3</think>")
    # the path's sequence holds the beginning: the model did continue from it
    assert (
        row.sequence_tokens
        == len(group.prompt_ids) + len(beginning) + row.reasoning_tokens + row.answer_tokens
    )


def test_a_resumed_group_checks_and_keeps_its_beginning():
    group, _ = scripted_group("Start here. ")
    records: list[RoundRecord] = []
    group.run(on_round=records.append, max_rounds=1)
    resumed, _ = scripted_group("Start here. ", records=records)
    assert resumed.paths[0].tokens == group.paths[0].tokens
    with pytest.raises(ValueError, match="stored beginning of problem p-1 differs"):
        scripted_group("Another start. ", records=records)


# -- through `leap run` on the real model ------------------------------------------------


def leap_run(spec: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return subprocess.run(
        [sys.executable, "-m", "leap.console.cli", "run", "--spec", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )


def spec_data(store: Path, run_id: str, beginnings: dict, **fields) -> dict:
    leap = {**TINY_LEAP, "method": "independent"}
    data = {"benchmark": "smoke", "limit": 1, "store": str(store), "run_id": run_id}
    return {**data, "dtype": "float32", "leap": leap, "beginnings": beginnings, **fields}


@pytest.mark.slow
def test_a_run_continues_the_incorrect_paths_of_its_source(tmp_path, engine):
    store = tmp_path / "runs"
    (problem,) = store_source(store, engine.encode)
    begin = {"source": "src", "paths": "incorrect", "share": 0.5}
    result = leap_run(spec_data(store, "from-wrong", begin), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    wrong_own = engine.encode("Adding up, the total is 1000.")
    prefix = wrong_own[: len(wrong_own) // 2]
    run = RunStore.open(str(store), "from-wrong")
    first = run.load_rounds(problem.id)[0]
    for row in first.paths:  # both paths start from the one incorrect source path
        assert [s.kind for s in row.segments[:3]] == ["prompt", "beginning", "reasoning"]
        assert row.segments[1].token_ids == prefix
    scores = pq.read_table(io.BytesIO(run.read_result("scores.parquet"))).to_pylist()
    assert [r["inherited_tokens"] for r in scores] == [len(prefix)] * 2


def one_sentence(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def write_source(store: Path, right: bool = True, **fields) -> None:
    """A finished source run "src" of the first smoke problem whose second path is wrong
    (and whose first is right when `right`); tokens are characters, no model needed."""
    store_source(store, lambda text: [ord(c) for c in text], right=right, **fields)


@pytest.mark.slow  # one `leap` process each
@pytest.mark.parametrize(
    ("source", "beginnings", "expected"),
    [
        (None, {"source": "nowhere", "paths": "incorrect"}, "no run 'nowhere'"),
        ({"data": "elsewhere.jsonl"}, {"source": "src", "paths": "incorrect"}, "data"),
        ({"model": "other-model"}, {"source": "src", "paths": "incorrect"}, "other-model"),
        ({"right": False}, {"source": "src", "paths": "correct"}, "has a correct path"),
        ({"leap": {"seed": 0}}, {"source": "src", "paths": "incorrect"}, "poses none"),
    ],
    ids=["missing", "other-data", "other-model", "no-such-path", "other-problems"],
)
def test_a_source_that_cannot_give_beginnings_is_one_sentence_and_writes_nothing(
    tmp_path, source, beginnings, expected
):
    store = tmp_path / "runs"
    if source is not None:
        write_source(store, **source)
    before = sorted(p.relative_to(store) for p in store.rglob("*")) if store.exists() else []
    line = one_sentence(leap_run(spec_data(store, "new", beginnings), tmp_path))
    assert expected in line
    after = sorted(p.relative_to(store) for p in store.rglob("*")) if store.exists() else []
    assert after == before  # nothing written, the run id stays free
