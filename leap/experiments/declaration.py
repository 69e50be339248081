"""Experiments as declarations: a base run spec and the axes to vary.

An experiment file (YAML, under `experiments/`) holds:

```yaml
name: routing                 # the prefix of every cell's run id
base:                         # a run spec, partial like a spec file (defaults fill the rest)
  benchmark: aime24
  leap: {method: leap}
axes:                         # each axis: a field and the values it takes
  router: [dispersed, clustered, hybrid]
  k: [2, 4]
```

Every combination of axis values is a cell: an ordinary run with its own run id
(`routing-router-clustered-k-2`), so it checkpoints, resumes and shows in the dashboard
like any run. An axis names a run spec field (`model`), a LeaP setting (`leap.top_k`, or
its short name `top_k`), a beginnings setting (`beginnings.good`), or one of the aliases
below. An unknown axis or a value its field refuses is one sentence naming the cell.

Where the runs to compare are not a grid (a fine-tuned model with one method, its base
model with two others), `cells:` lists them instead of `axes:` (exactly one of the two):

```yaml
cells:                        # each cell: axis names and their values, in this order
  - {model: ./finetuned/leap-t, method: leap-t}
  - {model: smollm2-135m, method: leap}
```
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leap.algorithm.config import LeapConfig
from leap.errors import LeapError, describe_validation_error, load_yaml_mapping
from leap.runs.beginnings import Beginnings
from leap.runs.spec import RunSpec, spec_with_defaults

# Short names of the axes the paper varies, and the field each one sets.
ALIASES: dict[str, str] = {
    "T": "leap.tokens_per_round",
    "k": "leap.top_k",
    "N": "leap.n_paths",
    "good": "beginnings.good",
}
# Run spec fields an axis may vary: what is computed, not where (the store) or how fast.
_SPEC_AXES = {"model", "engine", "dtype", "limit"}


class Experiment(BaseModel):
    """An experiment file: `name`, the `base` run spec, and its `axes` (every combination
    of their values is a cell) or its `cells` (listed one by one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    base: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]] | None = Field(None, min_length=1)
    cells: list[dict[str, Any]] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _axes_or_cells(self) -> Experiment:
        if (self.axes is None) == (self.cells is None):
            raise ValueError("give either axes (a grid of cells) or cells (a list), not both")
        for number, cell in enumerate(self.cells or [], start=1):
            if not cell:
                raise ValueError(f"cell {number} sets nothing: give it at least one axis")
        return self

    def combinations(self) -> list[dict[str, Any]]:
        """The axis values of every cell, in order."""
        if self.cells is not None:
            return [dict(cell) for cell in self.cells]
        assert self.axes is not None
        for axis, values in self.axes.items():
            if not values:
                raise LeapError(f"experiment axis {axis!r} lists no values: give at least one.")
        return [
            dict(zip(self.axes, combination, strict=True))
            for combination in itertools.product(*self.axes.values())
        ]


@dataclass(frozen=True)
class Cell:
    """One run of an experiment: the axis values it takes and its whole spec."""

    values: dict[str, Any]
    spec: RunSpec

    @property
    def run_id(self) -> str:
        assert self.spec.run_id is not None  # every cell's run id is set
        return self.spec.run_id


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment file (its cells are checked by `experiment_cells`)."""
    data = load_yaml_mapping(path, "experiment file")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise LeapError(describe_validation_error(exc, str(path))) from None


def field_of(axis: str) -> str:
    """The dotted spec field an axis sets; LeapError for an axis no field answers to."""
    name = ALIASES.get(axis, axis)
    if "." not in name and name in LeapConfig.model_fields:
        name = f"leap.{name}"
    head, _, rest = name.partition(".")
    known = (
        (head == "leap" and rest in LeapConfig.model_fields)
        or (head == "beginnings" and rest in Beginnings.model_fields)
        or (not rest and head in _SPEC_AXES)
    )
    if not known:
        raise LeapError(
            f"experiment axis {axis!r} is not a field an experiment can vary: use a LeaP "
            f"setting (e.g. router, top_k, tokens_per_round, method), beginnings.<field>, "
            f"one of {', '.join(sorted(_SPEC_AXES))}, or an alias ({', '.join(ALIASES)})."
        )
    return name


def experiment_cells(experiment: Experiment, overrides: dict[str, Any] | None = None) -> list[Cell]:
    """Every cell of `experiment`, in axis (or list) order, each a checked run spec.

    `overrides` (e.g. the store) replace those spec fields in every cell.
    """
    combinations = experiment.combinations()
    fields = {axis: field_of(axis) for values in combinations for axis in values}
    cells: list[Cell] = []
    for values in combinations:
        data = copy.deepcopy(experiment.base)
        for axis, value in values.items():
            _set(data, fields[axis], value)
        data.update(overrides or {})
        data["run_id"] = cell_run_id(experiment.name, values)
        source = f"experiment {experiment.name}, cell {_describe(values)}"
        if any(cell.run_id == data["run_id"] for cell in cells):
            raise LeapError(f"{source} is listed twice: list every cell once.")
        cells.append(Cell(values, spec_with_defaults(data, source=source)))
    return cells


def cell_finished(cell: Cell) -> bool:
    """Whether the cell's run is scored with every problem answered (then it is skipped)."""
    from leap.runs.store import RunStore
    from leap.scoring.summary import RunSummary

    run = RunStore.open(cell.spec.store, cell.run_id)
    run.check_spec(cell.spec)  # a cell stored with another spec is refused, not skipped
    stored = run.read_result("summary.json")
    return stored is not None and not RunSummary.from_json(stored).failed_problems


def cell_run_id(name: str, values: dict[str, Any]) -> str:
    """`routing-router-clustered-k-2`: the experiment's name, then each axis and value."""
    parts = [name] + [f"{_slug(axis)}-{_slug(value)}" for axis, value in values.items()]
    return "-".join(parts)[:128]


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        data[head] = value
        return
    inner = data.get(head)
    data[head] = {**(inner if isinstance(inner, dict) else {}), rest: value}


def _slug(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = "_".join(str(v) for v in value)
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(value)).strip("_") or "none"


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{axis}={value!r}" for axis, value in values.items())
