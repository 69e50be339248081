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

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

FinishReason = Literal["stop", "length"]


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class SamplingParams:
    """How the next token is drawn; the defaults are the LeaP paper's.

    The one sampling type: engines receive it, and `LeapConfig.sampling` (the `sampling:`
    block of a config file) is one. A bad value is refused when it is built.
    """

    temperature: float = Field(0.6, ge=0, description="0 means greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = Field(0, ge=0, description="0 turns top-k filtering off")
    min_p: float = Field(0.0, ge=0, le=1)


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

    def __post_init__(self) -> None:
        # Every engine needs a last prompt token to compute the first new one.
        if len(self.prompt_ids) == 0:
            raise ValueError("a generation request needs at least one prompt token")


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
    """What the LeaP loop, the tests and the benches use of an inference engine.

    `generate` may be called from several threads at once. After `close()` the engine is
    done: `generate` raises `LeapError`, and a new engine must be created.
    """

    name: str
    eos_token_ids: tuple[int, ...]

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, with no special tokens added."""
        ...

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of `token_ids`, special tokens removed."""
        ...

    def token_texts(self, token_ids: Sequence[int]) -> list[str]:
        """`decode([t])` of each token on its own, cheaply (where in a text each token ends)."""
        ...

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat conversation, ending where the assistant starts to write."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Run the requests together; results come back in request order."""
        ...

    def reset_cache(self) -> None:
        """Forget every KV/prefix cache the engine keeps; it stays usable.

        The next requests compute their prompts in full (for measurements and tests; a
        server's own cache is the server's).
        """
        ...

    def close(self) -> None:
        """Release the model and its caches: the engine cannot generate afterwards."""
        ...
