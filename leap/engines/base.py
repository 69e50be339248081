"""The engine interface: continue token sequences by token ids.

Every engine (in-process transformers, vLLM, an OpenAI-compatible server) takes the same
requests and returns the same results, so the LeaP loop never knows which one it drives.
Continuation is by TOKEN IDS: decoding and re-encoding text can change the tokens and
would break both reproducibility and cache reuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How the next token is drawn. `temperature == 0` means greedy; `top_k == 0` is off."""

    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    min_p: float = 0.0


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Continue `prompt_ids` by at most `max_new_tokens` tokens.

    Generation stops at the engine's end-of-sequence tokens (unless `ignore_eos`), at any
    of `stop_token_ids`, or when the decoded output contains one of `stop`; the tokens that
    completed a stop string are kept in the result. `cache_key` names the sequence (for
    example "problem-3/path-1"), so an engine may keep its KV cache for the next request
    with the same key.
    """

    prompt_ids: Sequence[int]
    max_new_tokens: int
    seed: int
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    cache_key: str | None = None
    ignore_eos: bool = False


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What one request produced.

    `stop_reason` is the stop string or token id that ended generation (None for length).
    `prompt_tokens_computed + prompt_tokens_reused == len(prompt_ids)`: reused tokens were
    served from a cache, computed ones were run through the model for this request.
    """

    token_ids: list[int]
    text: str
    finish_reason: FinishReason
    stop_reason: str | int | None
    prompt_tokens_computed: int
    prompt_tokens_reused: int


class Engine(Protocol):
    """What the LeaP loop needs from an inference engine."""

    name: str
    eos_token_ids: tuple[int, ...]

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, with no special tokens added."""
        ...

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of `token_ids`, special tokens removed."""
        ...

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat conversation, ending where the assistant starts to write."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Run the requests together; results come back in request order."""
        ...

    def close(self) -> None:
        """Release the model and its caches."""
        ...
