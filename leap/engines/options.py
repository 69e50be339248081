"""Settings of the vLLM and OpenAI-compatible engines that say where and how fast, not what.

Each engine has its own options type (the transformers engine has none), so an option
given to an engine that does not have it is refused instead of silently ignored. They
live in the run spec beside `engine`, but outside its content hash: the same run may
resume on a server at another address or on a machine with more GPUs. The API key of a
server is never an option (it would be stored with the run): it comes from the
environment, `LEAP_OPENAI_API_KEY` or else `OPENAI_API_KEY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError


class VllmOptions(BaseModel):
    """Options of the in-process vLLM engine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model is split over")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="share of GPU memory vLLM may take (vLLM's default if unset)"
    )
    max_model_len: int | None = Field(None, gt=0, description="longest context in tokens")
    max_num_seqs: int | None = Field(None, gt=0, description="sequences vLLM runs at once")
    enforce_eager: bool = Field(False, description="skip CUDA graphs / compilation (always on CPU)")
    block_size: int | None = Field(
        None, gt=0, description="KV cache block, the prefix cache's unit (vLLM's default if unset)"
    )


class OpenAIOptions(BaseModel):
    """Options of the client for an OpenAI-compatible completions server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(
        None, description="e.g. http://127.0.0.1:8000/v1; else LEAP_OPENAI_BASE_URL/OPENAI_BASE_URL"
    )
    served_model: str | None = Field(None, description="the model's name on the server")
    tokenizer: str | None = Field(None, description="local tokenizer folder or hub name")
    max_concurrency: int = Field(16, ge=1, description="requests in flight to the server")
    request_timeout: float = Field(600.0, gt=0, description="seconds per request")
    max_retries: int = Field(4, ge=0, description="retries on connection errors and 5xx")


# What a spec or the CLI holds for any engine; None means the engine's defaults.
EngineOptions = VllmOptions | OpenAIOptions | None

OPTION_TYPES: dict[str, type[VllmOptions] | type[OpenAIOptions] | None] = {
    "transformers": None,
    "vllm": VllmOptions,
    "openai": OpenAIOptions,
}


def options_for(
    engine: str, given: Mapping[str, Any] | BaseModel | None, loc: tuple[str, ...] = ()
) -> EngineOptions:
    """The options of `engine` from a mapping of option names (or another options object).

    An option that belongs to another engine, or to none, is refused like a bad value:
    a pydantic `ValidationError` located at `loc + (name,)`, whose message says in one
    sentence what to do. An options object of another engine counts by the options it
    sets; one that sets none stands for the defaults.
    """
    kind = OPTION_TYPES.get(engine)
    if given is None or isinstance(given, BaseModel) and kind is not None and type(given) is kind:
        return given
    values = given.model_dump(exclude_defaults=True) if isinstance(given, BaseModel) else given
    problems = [_refusal(engine, name, value, loc) for name, value in values.items()]
    problems = [p for p in problems if p is not None]
    if problems:
        raise ValidationError.from_exception_data("engine options", problems)
    if kind is None:
        return None
    try:
        return kind.model_validate(dict(values))
    except ValidationError as exc:
        located = [
            {k: v for k, v in error.items() if k != "url"} | {"loc": (*loc, *error["loc"])}
            for error in exc.errors()
        ]
        raise ValidationError.from_exception_data("engine options", located) from None


def _refusal(engine: str, name: str, value: Any, loc: tuple[str, ...]) -> dict[str, Any] | None:
    kind = OPTION_TYPES.get(engine)
    if kind is not None and name in kind.model_fields:
        return None
    owner = next(
        (e for e, t in OPTION_TYPES.items() if t is not None and name in t.model_fields), None
    )
    if owner is not None:
        error = PydanticCustomError(
            "foreign_engine_option",
            "belongs to the {owner} engine, not {engine}: remove it or use --engine {owner}",
            {"owner": owner, "engine": engine},
        )
    elif kind is None:
        error = PydanticCustomError(
            "no_engine_options",
            "the {engine} engine takes no engine options: remove it",
            {"engine": engine},
        )
    else:
        error = PydanticCustomError(
            "unknown_engine_option",
            "no engine has this option; the {engine} engine takes {names}",
            {"engine": engine, "names": ", ".join(kind.model_fields)},
        )
    return {"type": error, "loc": (*loc, name), "input": value}
