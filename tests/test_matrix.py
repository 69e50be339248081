"""The nightly matrix file, shard selection and GPU limit names: pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import TINY_LEAP

from leap.errors import LeapError
from leap.runs import RunSpec
from leap.runs.gpu import gpu_limit_names
from leap.runs.matrix import load_matrix, matrix_cells
from leap.runs.shards import check_shards, shard_items

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def valid() -> dict:
    return {
        "benchmarks": ["smoke", {"name": "aime24", "limit": 3, "shards": 2}],
        "methods": ["leap", "independent"],
        "models": ["smollm2-135m", "org/other-model"],
        "configs": {"tiny": TINY_LEAP, "wide": {**TINY_LEAP, "n_paths": 4}},
        "store": "s3://bucket/nightly",
        "limit": 2,
    }


def test_the_repository_matrix_is_valid():
    cells = matrix_cells(load_matrix(ROOT / "deployments" / "matrix.yaml"), "20261122")
    assert cells and all(c.spec.run_id.startswith("nightly-20261122-") for c in cells)


def test_every_combination_is_one_run_with_its_own_id(tmp_path):
    cells = matrix_cells(load_matrix(write(tmp_path, valid())), "20261122")
    assert len(cells) == 2 * 2 * 2 * 2
    assert len({c.spec.run_id for c in cells}) == len(cells)
    assert len({c.spec.content_hash() for c in cells}) == len(cells)
    first = cells[0]
    assert first.spec.run_id == "nightly-20261122-smoke-leap-smollm2-135m-tiny"
    assert first.spec.limit == 2 and first.shards == 1 and first.night == "20261122"
    assert cells[2].spec.run_id == "nightly-20261122-smoke-leap-other-model-tiny"
    assert first.spec.store == "s3://bucket/nightly"
    gsm = [c for c in cells if c.spec.benchmark == "aime24"]
    assert {c.spec.limit for c in gsm} == {3} and {c.shards for c in gsm} == {2}
    independent = [c for c in cells if c.spec.leap.method == "independent"]
    assert len(independent) == 8
    # The same night gives the same run ids, so a retried night resumes its runs.
    again = matrix_cells(load_matrix(write(tmp_path, valid())), "20261122")
    assert [c.spec.run_id for c in again] == [c.spec.run_id for c in cells]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods": ["leap", "telepathy"]}, "invalid methods.1 (got 'telepathy')"),
        ({"benchmarks": []}, "invalid benchmarks"),
        ({"benchmarks": ["nope"]}, "unknown benchmark 'nope'"),
        ({"configs": {"bad": {"n_paths": 0}}}, "'bad' with method 'leap': invalid leap.n_paths"),
        ({"configs": {"bad name": TINY_LEAP}}, "config name 'bad name'"),
        ({"surprise": 1}, "invalid surprise"),
        ({"shards": 0}, "invalid shards"),
    ],
)
def test_a_bad_matrix_is_one_sentence_naming_the_mistake(tmp_path, change, message):
    path = write(tmp_path, {**valid(), **change})
    with pytest.raises(LeapError) as caught:
        load_matrix(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("benchmarks: [smoke\n", "is not valid YAML at line"), ("- a\n- b\n", "must hold a mapping")],
)
def test_a_matrix_that_is_not_a_mapping_is_refused(tmp_path, text, message):
    with pytest.raises(LeapError, match=message):
        load_matrix(write(tmp_path, text))


def test_a_missing_matrix_file_is_refused(tmp_path):
    with pytest.raises(LeapError, match="cannot read matrix file"):
        load_matrix(tmp_path / "absent.yaml")


def test_shards_partition_the_problems_without_touching_the_run_id():
    items = list(range(7))
    parts = [shard_items(items, 3, i) for i in range(3)]
    assert sorted(x for p in parts for x in p) == items
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    spec = RunSpec(run_id="r")
    assert "shard" not in spec.model_dump()


@pytest.mark.parametrize(("shards", "shard"), [(0, None), (2, 2), (2, -1), (True, None)])
def test_impossible_shards_are_refused(shards, shard):
    with pytest.raises(LeapError):
        check_shards(shards, shard)


def test_gpu_limits_follow_cuda_visible_devices():
    env = {"LEAP_GPU_HOST": "Node_1", "CUDA_VISIBLE_DEVICES": "1,0"}
    assert gpu_limit_names(env) == ["leap-gpu-node-1-0", "leap-gpu-node-1-1"]
    assert gpu_limit_names({"LEAP_GPU_HOST": "n", "CUDA_VISIBLE_DEVICES": ""}) == []
    assert gpu_limit_names({"LEAP_GPU_HOST": "n"}) == []
