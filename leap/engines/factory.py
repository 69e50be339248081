"""One engine per worker process, shared by every problem solved in it."""

from __future__ import annotations

import threading

from leap.engines.base import Engine
from leap.errors import LeapError

_engines: dict[tuple[str, str, str], Engine] = {}
_lock = threading.Lock()


def shared_engine(kind: str, model: str, dtype: str = "auto") -> Engine:
    """The process's engine for (kind, model, dtype), created on first use."""
    key = (kind, model, dtype)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(kind, model, dtype)
            _engines[key] = engine
        return engine


def close_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()


def _create(kind: str, model: str, dtype: str) -> Engine:
    if kind == "transformers":
        from leap.engines.transformers_engine import TransformersEngine

        return TransformersEngine(model, dtype=dtype)
    raise LeapError(f"engine {kind!r} is not available in this version: use --engine transformers.")
