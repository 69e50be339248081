"""The paper's two beginnings experiments, from the spec files in experiments/, run end to
end through the benchmark flow on the CPU model (small budgets: the numbers mean nothing on
a 135M model; the pipeline must still produce them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import TINY_LEAP, store_source

from leap.runs import RunStore, prepare_run, spec_with_defaults

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def on_the_cpu(path: Path, store: Path) -> dict:
    """A spec file as this test runs it: the smoke benchmark, one problem, tiny budgets."""
    data = yaml.safe_load(path.read_text())
    data["leap"] = {**TINY_LEAP, **data.get("leap", {})}
    return {**data, "benchmark": "smoke", "limit": 1, "dtype": "float32", "store": str(store)}


@pytest.mark.parametrize("experiment", ["prefix-dominance", "error-tolerance"])
def test_an_experiment_runs_its_spec_files_in_order(experiment, tmp_path, engine):
    from flows.benchmark import run_benchmark

    files = sorted((EXPERIMENTS / experiment).glob("*.yaml"))
    source, *continued = files
    assert source.name == "1-source.yaml" and continued
    store = tmp_path / "runs"
    # The baseline itself is an ordinary run; here its outcomes are set by hand, since the
    # 135M model is almost never right and the experiments need right and wrong paths.
    source_id = yaml.safe_load(source.read_text())["run_id"]
    store_source(store, engine.encode, run_id=source_id)
    for path in continued:
        spec = spec_with_defaults(on_the_cpu(path, store), source=str(path))
        assert spec.beginnings is not None and spec.beginnings.source == source_id
        state = run_benchmark(prepare_run(spec))
        assert state.is_completed(), f"{path.name}: {state.message}"
        run = RunStore.open(str(store), spec.run_id)
        (problem_id,) = [p.problem_id for p in run.progress()]
        first = run.load_rounds(problem_id)[0]
        assert all(row.segments[1].kind == "beginning" for row in first.paths)
        assert run.read_result("report.html") is not None
