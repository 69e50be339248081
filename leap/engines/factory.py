"""One engine per worker process, shared by every problem solved in it."""

from __future__ import annotations

import threading

from leap.engines.base import Engine
from leap.engines.options import OPTION_TYPES, EngineOptions, options_for
from leap.errors import LeapError

ENGINE_KINDS = tuple(OPTION_TYPES)

_engines: dict[tuple[str, str, str, EngineOptions], Engine] = {}
_lock = threading.Lock()


def shared_engine(
    kind: str, model: str, dtype: str = "auto", options: EngineOptions = None
) -> Engine:
    """The process's engine for (kind, model, dtype, options), created on first use."""
    key = (kind, model, dtype, options)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(kind, model, dtype, options)
            _engines[key] = engine
        return engine


def close_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()


def create_engine(
    kind: str, model: str, dtype: str = "auto", options: EngineOptions = None
) -> Engine:
    """A new engine of `kind` with `options` (None: the engine's defaults).

    The vLLM and OpenAI modules are imported only when asked for. Options of another
    engine are refused (a pydantic ValidationError: the CLI and the spec check them first).
    """
    if kind not in ENGINE_KINDS:
        raise LeapError(f"unknown engine {kind!r}: use one of {', '.join(ENGINE_KINDS)}.")
    options = options_for(kind, options)
    if kind == "transformers":
        from leap.engines.transformers.engine import TransformersEngine

        return TransformersEngine(model, dtype=dtype)
    if kind == "vllm":
        from leap.engines.vllm_engine import VllmEngine

        return VllmEngine(model, dtype=dtype, options=options)
    from leap.engines.openai_engine import OpenAIEngine

    return OpenAIEngine(model, options=options)
