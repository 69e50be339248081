"""A run is prepared once and nothing is written under its id before the model loads."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from helpers import tiny_spec

from leap.errors import LeapError
from leap.runs import RunStore, prepare_run
from leap.store import open_store


def test_preparing_a_run_fixes_its_id_and_writes_nothing(tmp_path):
    spec = tiny_spec(str(tmp_path)).model_copy(update={"run_id": None})
    run = prepare_run(spec)
    assert run.run_id == run.spec.run_id and run.run_id.startswith("smoke-leap-")
    assert [p.id for p in run.problems] == [p.id for p in prepare_run(run.spec).problems]
    assert open_store(str(tmp_path)).list("") == []


def test_preparing_refuses_a_run_id_that_holds_another_spec(tmp_path):
    spec = tiny_spec(str(tmp_path), run_id="taken")
    RunStore.open(str(tmp_path), "taken").create_or_check(spec)
    other = spec.model_copy(update={"leap": spec.leap.model_copy(update={"top_k": 0})})
    with pytest.raises(LeapError, match="different spec.*top_k"):
        prepare_run(other)
    prepare_run(spec)  # the same spec resumes


@pytest.mark.parametrize(
    "change",
    [{"model": "/nonexistent/model-folder"}, {"dtype": "float13"}],
    ids=["model", "dtype"],
)
def test_an_engine_that_cannot_load_leaves_nothing_under_the_run_id(tmp_path, change):
    """Otherwise the run id is tied to a spec that can never run (issue 18)."""
    from leap.console.run import execute

    spec = tiny_spec(str(tmp_path), run_id="cannot-load", **change)
    with pytest.raises(LeapError):
        execute(spec)
    assert open_store(str(tmp_path)).list("cannot-load/") == []
    # The corrected spec may take the same run id.
    assert prepare_run(tiny_spec(str(tmp_path), run_id="cannot-load")).run_id == "cannot-load"


def test_a_spec_file_refuses_options_that_it_would_override(tmp_path):
    from typer.testing import CliRunner

    from leap.console.cli import app

    spec_file = tmp_path / "run.yaml"
    spec_file.write_text("benchmark: smoke\nlimit: 1\n")
    args = ["run", "--spec", str(spec_file), "--n", "3", "--concurrency", "2"]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, LeapError)
    message = str(result.exception)
    assert "--n" in message and "--concurrency" in message and "--spec" in message


def test_where_and_on_what_a_spec_file_runs_may_be_given_beside_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import leap.console.run
    from leap.console.cli import app

    spec_file = tmp_path / "run.yaml"
    spec_file.write_text("benchmark: smoke\nlimit: 1\nleap: {method: independent}\n")
    seen = []
    monkeypatch.setattr(leap.console.run, "execute", lambda spec: seen.append(spec) or 0)
    args = ["run", "--spec", str(spec_file), "--limit", "2", "--store", str(tmp_path / "s")]
    result = CliRunner().invoke(app, [*args, "--model", "other/model", "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    (spec,) = seen
    assert (spec.limit, spec.store, spec.model, spec.dtype) == (
        2,
        str(tmp_path / "s"),
        "other/model",
        "float32",
    )
    # another model than the default: the paper's sizes, not the CPU ones
    assert (spec.leap.method, spec.leap.tokens_per_round) == ("independent", 4096)


class CountingEngine:
    """The real engine, counting the requests it is given."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.requests = 0

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def generate(self, requests):
        self.requests += len(requests)
        return self._engine.generate(requests)


def test_a_round_the_store_refused_is_kept_for_the_next_try(engine, tmp_path):
    """A store outage costs a retry, not the rounds computed before it (issue 18)."""
    from leap.errors import StoreError
    from leap.runs.solve import UnsavedWork, solve_problem

    reference = prepare_run(tiny_spec(str(tmp_path / "reference")))
    problem = reference.problems[0]
    engine.reset_cache()
    whole = CountingEngine(engine)
    expected = solve_problem(whole, reference.spec, problem, reference.store)

    run = prepare_run(tiny_spec(str(tmp_path / "flaky")))
    objects = run.store.store
    real_put_once = objects.put_once
    refused: list[str] = []

    def put_once(key: str, data: bytes) -> None:
        if key.endswith("round-001.parquet") and not refused:
            refused.append(key)
            raise StoreError("the store is away for a moment", transient=True)
        real_put_once(key, data)

    objects.put_once = put_once
    engine.reset_cache()
    counting = CountingEngine(engine)
    unsaved = UnsavedWork()
    with pytest.raises(StoreError):
        solve_problem(counting, run.spec, problem, run.store, unsaved=unsaved)
    assert refused and [r.round for r in unsaved.rounds] == [1]
    final = solve_problem(counting, run.spec, problem, run.store, unsaved=unsaved)
    assert unsaved.rounds == [] and unsaved.final is None
    assert counting.requests == whole.requests  # nothing was generated twice
    assert [a.own_text for a in final.answers] == [a.own_text for a in expected.answers]
    assert run.store.load_rounds(problem.id)[1].round == 1


@pytest.mark.parametrize(
    ("code", "transient"),
    [(errno.ENOSPC, False), (errno.EACCES, False), (errno.EROFS, False), (errno.EIO, True)],
)
def test_a_full_disk_or_refused_permission_is_not_worth_a_retry(tmp_path, code, transient):
    from leap.store import LocalStore

    error = LocalStore(tmp_path)._fail("write", "r/x", OSError(code, os.strerror(code)))
    assert error.transient is transient
    assert os.strerror(code) in str(error)


def test_a_run_can_shuffle_the_options_of_a_file_benchmark(tmp_path):
    """A file whose correct option is always first must not score letter A as always right."""
    from leap.runs import load_run_problems

    fixture = Path(__file__).parent / "data" / "benchmarks" / "gpqa_diamond.json"
    spec = tiny_spec(
        str(tmp_path), benchmark=f"file:{fixture}", limit=None, columns={"choices": "options"}
    )
    assert {(p.kind, p.answer) for p in load_run_problems(spec)} == {("choice", "A")}
    shuffled = spec.model_copy(update={"shuffle_choices": True})
    problems = load_run_problems(shuffled)
    assert {p.answer for p in problems} != {"A"}
    assert problems == load_run_problems(shuffled)  # seeded: the same order every time
    assert shuffled.content_hash() != spec.content_hash()
