"""The run spec: what a run computes, plus where and how fast it runs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leap.algorithm.config import LeapConfig
from leap.defaults import DEFAULT_MODEL, DEFAULT_STORE, leap_defaults_for
from leap.engines.options import OPTION_TYPES, EngineOptions, options_for
from leap.errors import LeapError, describe_validation_error
from leap.runs.beginnings import Beginnings

EngineName = Literal["transformers", "vllm", "openai"]
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Where and how fast a run goes: a run may resume with other values of these.
_NOT_DECISIVE = {"run_id", "store", "concurrency", "data", "engine_options"}
# Decisive fields added after the first runs were stored, with the value they had before.
_ADDED_LATER: dict[str, Any] = {"shuffle_choices": None, "beginnings": None, "match_tokens": None}
# The same for the fields of the `leap` block.
_LEAP_ADDED_LATER: dict[str, Any] = {
    "preset": "paper",
    "peer_format": "ours",
    "layers": 3,
    "group_size": 4,
    "first_tokens": None,
}
# run.json files written before each engine had its own options type hold every option
# of every engine, at its default where the run did not set it.
_EVERY_OPTION = frozenset(name for t in OPTION_TYPES.values() if t for name in t.model_fields)


class RunSpec(BaseModel):
    """Everything that decides what a run computes, plus where and how fast it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str | None = None
    benchmark: str = "smoke"
    limit: int | None = Field(None, gt=0, description="only the first N problems")
    data: str | None = Field(None, description="local copy of a public benchmark")
    columns: dict[str, str] = Field(
        default_factory=dict, description="question/answer/id/choices column names for file:"
    )
    skip_invalid: bool = False
    shuffle_choices: bool | None = Field(
        None,
        description="shuffle multiple-choice options with the run seed (default: the "
        "benchmark's own choice; named GPQA shuffles, file: benchmarks do not)",
    )
    leap: LeapConfig = LeapConfig()
    beginnings: Beginnings | None = Field(
        None, description="start every path from a prefix of a path of another stored run"
    )
    match_tokens: str | None = Field(
        None,
        description="independent/self-correct: spend per problem the generated tokens of "
        "this stored run (a compute-matched baseline)",
    )
    model: str = DEFAULT_MODEL
    engine: EngineName = "transformers"
    engine_options: EngineOptions = Field(
        None, description="settings of the vllm/openai engine: where and how fast"
    )
    dtype: str = "auto"
    store: str = DEFAULT_STORE
    # Several problems at once by default: every engine batches concurrent problems
    # (the transformers engine since continuous batching; see docs/performance.md).
    concurrency: int = Field(4, ge=1, description="problems solved at once")

    @model_validator(mode="before")
    @classmethod
    def _options_of_the_engine(cls, data: Any) -> Any:
        """`engine_options` as the chosen engine's options type; others' options are refused."""
        if not isinstance(data, dict) or data.get("engine_options") is None:
            return data
        engine = data.get("engine", "transformers")
        if engine not in OPTION_TYPES:
            return data  # the engine field reports the bad name
        given = data["engine_options"]
        if isinstance(given, dict) and set(given) == _EVERY_OPTION:
            own = OPTION_TYPES[engine]
            given = {k: v for k, v in given.items() if own and k in own.model_fields}
        return {**data, "engine_options": options_for(engine, given, loc=("engine_options",))}

    @model_validator(mode="after")
    def _matchable(self) -> RunSpec:
        if self.match_tokens is None:
            return self
        if self.leap.method not in ("independent", "self-correct"):
            raise ValueError(
                f"match_tokens needs method independent or self-correct, not {self.leap.method!r}"
            )
        if self.beginnings is not None:
            raise ValueError("match_tokens and beginnings cannot be combined")
        return self

    def decisive_fields(self) -> dict[str, Any]:
        """The fields that change what is computed (not where or how fast), as JSON.

        A field added after runs were stored counts only when set, so the runs stored
        before it keep their hash (and resume).
        """
        decisive = self.model_dump(mode="json", exclude=_NOT_DECISIVE)
        for name, default in _ADDED_LATER.items():
            if decisive.get(name) == default:
                del decisive[name]
        for name, default in _LEAP_ADDED_LATER.items():
            if decisive["leap"].get(name) == default:
                del decisive["leap"][name]
        return decisive

    def content_hash(self) -> str:
        """Hash of the fields that change what is computed (not where or how fast)."""
        text = json.dumps(self.decisive_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def display_name(self) -> str:
        """The flow-run name: `aime24-leap-dispersed-k4-T4096`."""
        c, bench = self.leap, self.benchmark_slug()
        if c.method in ("independent", "self-correct"):
            matched = f"-matched-{self.match_tokens}" if self.match_tokens else ""
            return f"{bench}-{c.method}-N{c.n_paths}{matched}"
        if c.method == "moa":
            return f"{bench}-moa-L{c.layers}xA{c.n_paths}"
        if c.method == "leap-s":
            return f"{bench}-leap-s-N{c.n_paths}xM{c.group_size}-T{c.communication_tokens}"
        return f"{bench}-{c.method}-{c.router}-k{c.top_k}-T{c.tokens_per_round}"

    def benchmark_slug(self) -> str:
        name = self.benchmark.removeprefix("file:").rsplit("/", 1)[-1]
        return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "custom"


def parse_spec(data: dict[str, Any], source: str = "run spec") -> RunSpec:
    try:
        spec = RunSpec.model_validate(data)
    except ValidationError as exc:
        raise LeapError(describe_validation_error(exc, source)) from None
    if spec.run_id is not None and not _RUN_ID.match(spec.run_id):
        raise LeapError(
            f"run id {spec.run_id!r} is not usable: use letters, digits, '.', '_' and '-' only."
        )
    return spec


def spec_with_defaults(
    given: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, source: str = "run spec"
) -> RunSpec:
    """A run spec from a partial one: what `given` leaves out comes from `defaults` (a
    deployment's default spec), and LeaP settings neither sets come from the model's
    defaults, as for `leap run` (the CPU sizes for the default model).

    `leap` (and its `sampling`) merge field by field; other fields are replaced whole.
    """
    if not isinstance(given, Mapping):
        raise LeapError(
            f"{source} must be a mapping of run spec fields (benchmark, model, leap, ...), "
            f"not {type(given).__name__}."
        )
    base = dict(defaults or {})
    merged = {**base, **given}
    model = merged.get("model", DEFAULT_MODEL)
    layers = [leap_defaults_for(model) if isinstance(model, str) else {}]
    layers += [base.get("leap"), given.get("leap")]
    if all(layer is None or isinstance(layer, Mapping) for layer in layers):
        leap: dict[str, Any] = {}
        for layer in layers:
            layer = dict(layer or {})
            sampling = layer.pop("sampling", None)
            leap.update(layer)
            if isinstance(sampling, Mapping) and isinstance(leap.get("sampling"), Mapping):
                sampling = {**leap["sampling"], **sampling}
            if sampling is not None:
                leap["sampling"] = sampling
        merged["leap"] = leap
    return parse_spec(merged, source)


def new_run_id(spec: RunSpec) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.display_name()}-{stamp}"


def changed_fields(old: RunSpec, new: RunSpec) -> str:
    a = old.decisive_fields()
    b = new.decisive_fields()
    changed = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if "leap" in changed:
        inner = [k for k in sorted(a["leap"]) if a["leap"].get(k) != b["leap"].get(k)]
        changed = [c for c in changed if c != "leap"] + [f"leap.{k}" for k in inner]
    return "changed: " + ", ".join(changed) if changed else "spec differs"
