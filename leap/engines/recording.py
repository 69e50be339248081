"""A real engine wrapped so tests and benches can see every request and what came back."""

from __future__ import annotations

from collections.abc import Sequence

from leap.engines.base import Engine, GenerationRequest, GenerationResult


class Recording:
    """Passes everything to `engine` and keeps each (request, result) of `generate`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[tuple[GenerationRequest, GenerationResult]] = []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = self.engine.generate(requests)
        self.calls.extend(zip(requests, results, strict=True))
        return results


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def continuation_reuse(calls) -> list[tuple[int, int]]:
    """(tokens reused, tokens computed before) of every call that continues an earlier one.

    "Computed before" is the part of the prompt the engine already ran for the same
    cache key: the earlier prompt and output, less the last sampled token (never fed).
    """
    last: dict[str, tuple[list[int], list[int]]] = {}
    out = []
    for request, result in calls:
        key = request.cache_key
        if key in last:
            prompt, produced = last[key]
            seen = prompt + produced[:-1]
            out.append((result.prompt_tokens_reused, common_prefix(request.prompt_ids, seen)))
        last[key] = (list(request.prompt_ids), list(result.token_ids))
    return out
