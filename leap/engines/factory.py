"""One engine per worker process, shared by every problem solved in it."""

from __future__ import annotations

import threading

from leap.engines.base import Engine
from leap.engines.options import EngineOptions
from leap.errors import LeapError

ENGINE_KINDS = ("transformers", "vllm", "openai")

_engines: dict[tuple[str, str, str, EngineOptions], Engine] = {}
_lock = threading.Lock()


def shared_engine(
    kind: str, model: str, dtype: str = "auto", options: EngineOptions | None = None
) -> Engine:
    """The process's engine for (kind, model, dtype, options), created on first use."""
    options = options or EngineOptions()
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
    kind: str, model: str, dtype: str = "auto", options: EngineOptions | None = None
) -> Engine:
    """A new engine of `kind`; the vLLM and OpenAI modules are imported only when asked for."""
    options = options or EngineOptions()
    if kind == "transformers":
        from leap.engines.transformers.engine import TransformersEngine

        return TransformersEngine(model, dtype=dtype)
    if kind == "vllm":
        from leap.engines.vllm_engine import VllmEngine

        return VllmEngine(model, dtype=dtype, options=options)
    if kind == "openai":
        from leap.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(model, options=options)
    raise LeapError(f"unknown engine {kind!r}: use one of {', '.join(ENGINE_KINDS)}.")
