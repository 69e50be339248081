"""Experiment declarations: cells, run ids, bad input; `leap experiment` killed mid-cell
and run again recomputes nothing finished and resumes the cell by round."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from helpers import TINY_LEAP

from leap.errors import LeapError
from leap.experiments.declaration import Experiment, experiment_cells, field_of, load_experiment

ROOT = Path(__file__).resolve().parents[1]


def declared(**axes) -> Experiment:
    base = {"benchmark": "smoke", "limit": 1, "leap": {"n_paths": 2}}
    return Experiment(name="exp", base=base, axes=axes)


def test_cells_are_every_combination_in_axis_order_with_their_own_run_ids(tmp_path):
    cells = experiment_cells(
        declared(method=["leap", "independent"], T=[8, 16]), {"store": str(tmp_path)}
    )
    assert [c.values for c in cells] == [
        {"method": "leap", "T": 8},
        {"method": "leap", "T": 16},
        {"method": "independent", "T": 8},
        {"method": "independent", "T": 16},
    ]
    assert [c.run_id for c in cells] == [
        "exp-method-leap-T-8",
        "exp-method-leap-T-16",
        "exp-method-independent-T-8",
        "exp-method-independent-T-16",
    ]
    assert [(c.spec.leap.method, c.spec.leap.tokens_per_round) for c in cells] == [
        ("leap", 8),
        ("leap", 16),
        ("independent", 8),
        ("independent", 16),
    ]
    assert all(c.spec.leap.n_paths == 2 and c.spec.store == str(tmp_path) for c in cells)


@pytest.mark.parametrize(
    ("axis", "field"),
    [
        ("router", "leap.router"),
        ("leap.top_k", "leap.top_k"),
        ("k", "leap.top_k"),
        ("good", "beginnings.good"),
        ("model", "model"),
        ("communicate_at", "leap.communicate_at"),
    ],
)
def test_an_axis_names_a_field(axis, field):
    assert field_of(axis) == field


@pytest.mark.parametrize(
    ("axes", "sentence"),
    [
        ({"routr": ["dispersed"]}, "axis 'routr' is not a field"),
        ({"store": ["elsewhere"]}, "axis 'store' is not a field"),
        ({"router": ["nearest"]}, "cell router='nearest'"),
        ({"k": [-1]}, "cell k=-1"),
        ({"router": []}, "lists no values"),
    ],
)
def test_an_unknown_axis_or_value_is_one_sentence(axes, sentence, tmp_path):
    with pytest.raises(LeapError, match=sentence):
        experiment_cells(declared(**axes), {"store": str(tmp_path)})


def test_listed_cells_are_those_cells_in_their_order(tmp_path):
    base = {"benchmark": "smoke", "limit": 1, "leap": {"n_paths": 2}}
    cells = [
        {"model": "smollm2-135m", "method": "independent"},
        {"model": "smollm2-135m", "method": "leap"},
        {"model": "./finetuned/leap-t", "method": "leap-t", "T": 8},
    ]
    listed = experiment_cells(Experiment(name="exp", base=base, cells=cells), {"store": "s"})
    assert [c.values for c in listed] == cells
    assert [(c.spec.model, c.spec.leap.method) for c in listed] == [
        ("smollm2-135m", "independent"),
        ("smollm2-135m", "leap"),
        ("./finetuned/leap-t", "leap-t"),
    ]
    assert listed[2].spec.leap.tokens_per_round == 8 and listed[0].spec.leap.n_paths == 2
    assert [c.run_id for c in listed][:2] == [
        "exp-model-smollm2_135m-method-independent",
        "exp-model-smollm2_135m-method-leap",
    ]


@pytest.mark.parametrize(
    ("declaration", "sentence"),
    [
        ({"axes": {"k": [1]}, "cells": [{"k": 1}]}, "give either axes .* or cells"),
        ({}, "give either axes .* or cells"),
        ({"cells": [{"k": 1}, {}]}, "cell 2 sets nothing"),
        ({"cells": []}, "invalid cells"),
    ],
)
def test_axes_or_cells_exactly_one_in_one_sentence(declaration, sentence, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", **declaration}))
    with pytest.raises(LeapError, match=sentence):
        load_experiment(path)


def test_a_cell_listed_twice_or_with_an_unknown_axis_is_one_sentence(tmp_path):
    twice = Experiment(name="exp", cells=[{"k": 1}, {"k": 1}])
    with pytest.raises(LeapError, match="cell k=1 is listed twice"):
        experiment_cells(twice, {"store": str(tmp_path)})
    unknown = Experiment(name="exp", cells=[{"k": 1}, {"routr": "dispersed"}])
    with pytest.raises(LeapError, match="axis 'routr' is not a field"):
        experiment_cells(unknown, {"store": str(tmp_path)})


def write_experiment(folder: Path, store: Path) -> Path:
    path = folder / "four.yaml"
    base = {"benchmark": "smoke", "limit": 1, "dtype": "float32", "store": str(store)}
    data = {
        "name": "four",
        "base": {**base, "leap": {**TINY_LEAP, "max_tokens": 48}},
        "axes": {"method": ["leap", "independent"], "T": [12, 16]},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def leap_experiment(path: Path) -> subprocess.Popen:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    out = path.parent / "comparison"
    process = subprocess.Popen(
        [sys.executable, "-m", "leap.console.cli", "experiment", str(path), "--out", str(out)],
        cwd=ROOT,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    return process


def objects(store: Path, run_id: str) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (store / run_id).rglob("*.*")}


@pytest.mark.slow
def test_a_killed_experiment_skips_finished_cells_and_resumes_the_third(tmp_path):
    store = tmp_path / "runs"
    path = write_experiment(tmp_path, store)
    cells = experiment_cells(
        Experiment.model_validate(yaml.safe_load(path.read_text())), {"store": str(store)}
    )
    third = store / cells[2].run_id / "problems" / "smoke-1"
    process = leap_experiment(path)
    deadline = time.monotonic() + 900
    while not (third / "round-000.parquet").exists():
        assert process.poll() is None, Path(process.log_path).read_text()[-4000:]
        assert time.monotonic() < deadline, "the third cell stored no round in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (third / "final.parquet").exists()
    finished = {c.run_id: objects(store, c.run_id) for c in cells[:2]}
    assert all((store / run_id / "results" / "summary.json").exists() for run_id in finished)
    stored_rounds = objects(store, cells[2].run_id)

    again = leap_experiment(path)
    assert again.wait(timeout=1800) == 0, Path(again.log_path).read_text()[-4000:]
    for run_id, before in finished.items():
        assert objects(store, run_id) == before, f"{run_id} was recomputed"
    after = objects(store, cells[2].run_id)
    for stored, identity in stored_rounds.items():
        if stored.name.startswith("round-"):
            assert after[stored] == identity, f"{stored} was rewritten"
    assert all((store / c.run_id / "results" / "summary.json").exists() for c in cells)
    page = (tmp_path / "comparison" / "comparison.html").read_text()
    assert all(c.run_id in page for c in cells)  # the experiment ends with its comparison


@pytest.mark.slow
def test_leap_experiment_refuses_an_unknown_axis_in_one_sentence(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "axes": {"routr": ["dispersed"]}}))
    result = subprocess.run(
        [sys.executable, "-m", "leap.console.cli", "experiment", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "axis 'routr'" in lines[0] and "Traceback" not in result.stderr
