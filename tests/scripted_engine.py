"""A scripted engine for table-driven tests: tokens are characters, the test writes the outputs.

Token id = `ord(char)`, so `encode`/`decode` are exact and a test reads token counts off its
strings. Each request's output is whatever the test's script returns for it; the engine then
applies the request's limits the way a real engine does: `max_new_tokens`, `stop` strings
(kept in the output), `stop_token_ids` and the end-of-sequence token `EOS` (written into a
script as the character `EOS_TEXT`). Prompt tokens are reported as computed or reused like
the transformers engine does: per `cache_key`, the engine remembers what it fed (the prompt
and the output, less the last sampled token, which is never fed back).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from leap.engines.base import FinishReason, GenerationRequest, GenerationResult
from leap.errors import LeapError

EOS = 0
EOS_TEXT = chr(EOS)


@dataclass(frozen=True)
class Call:
    """One request as a script sees it: `turn` counts earlier requests with the same key."""

    request: GenerationRequest
    prompt: str
    turn: int

    @property
    def key(self) -> str | None:
        return self.request.cache_key


Script = Callable[[Call], str]


class ScriptTooShort(AssertionError):
    """A scripted output ended before anything (length, stop, EOS) ended the request."""


def queues(outputs: Mapping[str, Sequence[str]]) -> Script:
    """A script that answers the n-th request with cache key K by `outputs[K][n]`."""

    def script(call: Call) -> str:
        planned = outputs.get(call.key or "", ())
        if call.turn >= len(planned):
            raise ScriptTooShort(
                f"the script has no output for request {call.turn} of {call.key!r}; "
                f"prompt ends with {call.prompt[-60:]!r}"
            )
        return planned[call.turn]

    return script


class ScriptedEngine:
    """An `Engine` whose outputs come from `script`; every (request, result) is kept in `calls`."""

    name = "scripted"
    eos_token_ids: tuple[int, ...] = (EOS,)

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls: list[tuple[GenerationRequest, GenerationResult]] = []
        self._turns: Counter[str | None] = Counter()
        self._fed: dict[str, list[int]] = {}
        self._closed = False

    def encode(self, text: str) -> list[int]:
        return [ord(char) for char in text]

    def decode(self, token_ids: Sequence[int]) -> str:
        return "".join(chr(t) for t in token_ids if t not in self.eos_token_ids)

    def token_texts(self, token_ids: Sequence[int]) -> list[str]:
        return [self.decode([t]) for t in token_ids]

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
        return self.encode(text + "<|assistant|>\n")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if self._closed:
            raise LeapError("the scripted engine was closed; create a new one to generate.")
        results = [self._answer(request) for request in requests]
        self.calls.extend(zip(requests, results, strict=True))
        return results

    def reset_cache(self) -> None:
        """Forget every fed sequence: the next request of each key is computed in full."""
        self._fed.clear()

    def close(self) -> None:
        self._fed.clear()
        self._closed = True

    # -- one request --------------------------------------------------------------------

    def _answer(self, request: GenerationRequest) -> GenerationResult:
        prompt = list(request.prompt_ids)
        key = request.cache_key
        call = Call(request=request, prompt=self.decode(prompt), turn=self._turns[key])
        self._turns[key] += 1
        out, finish, reason = self._cut(request, self.encode(self.script(call)))
        reused = 0
        if key is not None:
            seen = self._fed.get(key, [])
            # As in a real engine, the last prompt token is always run to get the next one.
            reused = min(_common_prefix(seen, prompt), len(prompt) - 1)
            self._fed[key] = prompt + out[:-1]
        return GenerationResult(
            token_ids=out,
            text=self.decode(out),
            finish_reason=finish,
            stop_reason=reason,
            prompt_tokens_computed=len(prompt) - reused,
            prompt_tokens_reused=reused,
        )

    def _cut(
        self, request: GenerationRequest, planned: list[int]
    ) -> tuple[list[int], FinishReason, str | int | None]:
        """The planned tokens up to whatever ends the request first."""
        stop_ids = set(request.stop_token_ids)
        if not request.ignore_eos:
            stop_ids.update(self.eos_token_ids)
        out: list[int] = []
        text = ""
        for token in planned:
            if len(out) >= request.max_new_tokens:
                return out, "length", None
            out.append(token)
            if token in stop_ids:
                return out, "stop", token
            text += self.decode([token])
            # One character per token: a stop string can only complete at the very end.
            for stop in request.stop:
                if text.endswith(stop):
                    return out, "stop", stop
        if len(out) >= request.max_new_tokens:
            return out, "length", None
        raise ScriptTooShort(
            f"the scripted output {self.decode(planned)!r} for {request.cache_key!r} ended "
            f"after {len(out)} of up to {request.max_new_tokens} tokens with no stop; script "
            "more text or end it with EOS_TEXT or a stop string"
        )


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)
