"""The paper's experiments as shipped in experiments/: every file declares valid cells,
and the two beginnings experiments run end to end through the experiment flow on the CPU
model (small budgets: the numbers mean nothing on a 135M model; the pipeline must still
produce them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import TINY_LEAP, store_source

from leap.console.settings import load_spec_file
from leap.experiments.declaration import experiment_cells, load_experiment
from leap.runs import RunStore

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
DECLARATIONS = sorted(p for p in EXPERIMENTS.glob("*.yaml") if not p.stem.endswith("-source"))
SOURCES = sorted(EXPERIMENTS.glob("*-source.yaml"))


@pytest.mark.parametrize("path", DECLARATIONS, ids=[p.stem for p in DECLARATIONS])
def test_every_shipped_experiment_declares_valid_cells(path, tmp_path):
    cells = experiment_cells(load_experiment(path), {"store": str(tmp_path)})
    assert len(cells) >= 3
    assert len({c.run_id for c in cells}) == len(cells)
    assert len({c.spec.content_hash() for c in cells}) == len(cells)  # cells differ


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_every_beginnings_source_is_a_run_spec_its_experiment_names(path):
    spec = load_spec_file(path)
    experiment = load_experiment(EXPERIMENTS / path.name.replace("-source", ""))
    assert experiment.base["beginnings"]["source"] == spec.run_id


def tiny_copy(path: Path, folder: Path) -> Path:
    """The experiment file as this test runs it: the smoke benchmark, tiny budgets."""
    data = yaml.safe_load(path.read_text())
    base = data["base"]
    base["leap"] = {**TINY_LEAP, **base.get("leap", {})}
    data["base"] = {**base, "benchmark": "smoke", "limit": 1, "dtype": "float32"}
    copy = folder / path.name
    copy.write_text(yaml.safe_dump(data))
    return copy


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("name", ["prefix-dominance", "error-tolerance"])
def test_a_beginnings_experiment_runs_every_cell(name, tmp_path, engine):
    from flows.experiment import experiment

    store = tmp_path / "runs"
    # The baseline is an ordinary run; here its outcomes are set by hand, since the 135M
    # model is almost never right and the experiments need right and wrong paths.
    source = load_spec_file(EXPERIMENTS / f"{name}-source.yaml")
    store_source(store, engine.encode, run_id=source.run_id)
    path = tiny_copy(EXPERIMENTS / f"{name}.yaml", tmp_path)
    out = tmp_path / "comparison"
    state = experiment(
        file=str(path), overrides={"store": str(store)}, out_dir=str(out), return_state=True
    )
    assert state.is_completed(), state.message
    for cell in experiment_cells(load_experiment(path), {"store": str(store)}):
        run = RunStore.open(str(store), cell.run_id)
        (problem,) = run.progress()
        first = run.load_rounds(problem.problem_id)[0]
        assert all(row.segments[1].kind == "beginning" for row in first.paths)
        assert run.read_result("report.html") is not None
    assert (out / "comparison.html").exists() and (out / "problems.parquet").exists()
