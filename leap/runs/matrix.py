"""The nightly matrix: benchmarks x methods x models x configs, read from a YAML file.

Every cell of the matrix becomes one run. The whole file is checked before any run
starts, so a mistake in it is one sentence and nothing is written to the store.

```yaml
store: ./runs
benchmarks: [smoke, {name: aime24, data: ../datasets, shards: 4}]
methods: [leap, independent]
models: [smollm2-135m]
configs:
  small: {n_paths: 4, tokens_per_round: 96, max_tokens: 288}
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leap.algorithm.config import Method
from leap.defaults import DEFAULT_STORE
from leap.errors import LeapError, describe_validation_error, load_yaml_mapping
from leap.runs.spec import EngineName, RunSpec, parse_spec

_CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatrixBenchmark(_Strict):
    """One benchmark of the matrix, with what only it needs."""

    name: str = Field(min_length=1)
    limit: int | None = Field(None, gt=0)
    data: str | None = None
    shards: int | None = Field(None, ge=1, description="overrides the matrix's shards")


class Matrix(_Strict):
    benchmarks: list[str | MatrixBenchmark] = Field(min_length=1)
    methods: list[Method] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    configs: dict[str, dict[str, Any]] = Field(min_length=1)
    store: str = DEFAULT_STORE
    engine: EngineName = "transformers"
    dtype: str = "auto"
    concurrency: int = Field(1, ge=1)
    limit: int | None = Field(None, gt=0, description="first N problems of every benchmark")
    shards: int = Field(1, ge=1, description="flow runs each run is split into")

    def benchmark_entries(self) -> list[MatrixBenchmark]:
        return [MatrixBenchmark(name=b) if isinstance(b, str) else b for b in self.benchmarks]


@dataclass(frozen=True)
class MatrixCell:
    """One run of the matrix: its spec (with a fixed run id) and how many shards it uses.

    `night` is the date (YYYYMMDD) in the run id; the same cell on another night differs
    from it only there.
    """

    spec: RunSpec
    shards: int
    config_name: str
    night: str


def load_matrix(path: str | Path) -> Matrix:
    """Read and check a matrix file; LeapError names the first mistake."""
    data = load_yaml_mapping(path, "matrix file")
    try:
        matrix = Matrix.model_validate(data)
    except ValidationError as exc:
        raise LeapError(describe_validation_error(exc, f"matrix file {path}")) from None
    for name in matrix.configs:
        if not _CONFIG_NAME.match(name):
            raise LeapError(
                f"matrix file {path}: config name {name!r} must be letters, digits, '_' or '-'."
            )
    # Building every cell checks every combination before anything runs.
    matrix_cells(matrix, "check", source=str(path))
    return matrix


def matrix_cells(matrix: Matrix, date: str, source: str = "matrix") -> list[MatrixCell]:
    """Every cell of the matrix as a run spec; run ids are `nightly-{date}-...`, one per cell.

    The same date gives the same run ids, so running a night's matrix again resumes it.
    """
    from leap.benchmarks import benchmark_names

    known = set(benchmark_names())
    cells = []
    for bench in matrix.benchmark_entries():
        if bench.name not in known and not bench.name.startswith("file:"):
            raise LeapError(
                f"{source}: unknown benchmark {bench.name!r}; use one of "
                f"{', '.join(sorted(known))} or file:PATH."
            )
        for method in matrix.methods:
            for model in matrix.models:
                for config_name, settings in matrix.configs.items():
                    where = f"{source}, config {config_name!r} with method {method!r}"
                    spec = parse_spec(
                        {
                            "benchmark": bench.name,
                            "limit": bench.limit or matrix.limit,
                            "data": bench.data,
                            "leap": {**settings, "method": method},
                            "model": model,
                            "engine": matrix.engine,
                            "dtype": matrix.dtype,
                            "store": matrix.store,
                            "concurrency": matrix.concurrency,
                        },
                        source=where,
                    )
                    run_id = cell_run_id(date, spec, config_name)
                    cells.append(
                        MatrixCell(
                            spec=spec.model_copy(update={"run_id": run_id}),
                            shards=bench.shards or matrix.shards,
                            config_name=config_name,
                            night=date,
                        )
                    )
    return cells


def cell_run_id(date: str, spec: RunSpec, config_name: str) -> str:
    """`nightly-{date}-{benchmark}-{method}-{model}-{config}`: the run id of a cell on a night."""
    parts = ["nightly", date, spec.benchmark_slug(), spec.leap.method, model_slug(spec.model)]
    return "-".join([*parts, config_name])[:128]


def model_slug(model: str) -> str:
    """The model's last name part in letters, digits and dashes (`org/Qwen2.5-7B`: `Qwen2-5-7B`)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", model.rsplit("/", 1)[-1]).strip("-") or "model"
