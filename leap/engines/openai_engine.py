"""A client for an OpenAI-compatible completions server (`vllm serve` and others).

Where: `base_url` engine option, else `LEAP_OPENAI_BASE_URL`, else `OPENAI_BASE_URL`
(the address up to and including `/v1`). The API key comes only from the environment:
`LEAP_OPENAI_API_KEY`, else `OPENAI_API_KEY`; it is sent as a bearer token and never
logged or shown in an error.

Prompts go as token ids, with vLLM's extra fields (top_k, min_p, stop_token_ids,
ignore_eos, the stop string kept in the output, generated token ids in the answer).
A server that rejects that form is then sent text prompts (text mode), and the engine
re-encodes what it gets back with the model's tokenizer (which runs locally). A plain
OpenAI answer does not say which stop string ended it, so in text mode the server is not
asked to stop at strings: the engine cuts the text after the first stop string itself
(the server may generate past it, up to `max_new_tokens`). Text mode sends top_k, min_p
and ignore_eos only when a request sets them (a server that does not take them refuses
the request, which is one clear error) and refuses stop token ids, which mean nothing
once the text is re-encoded.

Connection errors, timeouts and 5xx answers are retried with exponential backoff; a 4xx
answer or a reply that is not a completions response is one clear error. At most
`max_concurrency` requests are in flight.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from leap.engines.base import GenerationRequest, GenerationResult
from leap.engines.models import DEFAULT_MODEL, resolve_model
from leap.engines.options import OpenAIOptions
from leap.engines.tokenizer import ChatTokenizer, TokenizerText, first_line
from leap.errors import LeapError

BASE_URL_VARIABLES = ("LEAP_OPENAI_BASE_URL", "OPENAI_BASE_URL")
API_KEY_VARIABLES = ("LEAP_OPENAI_API_KEY", "OPENAI_API_KEY")


def server_base_url(options: OpenAIOptions) -> str:
    url = options.base_url or next(
        (os.environ[v] for v in BASE_URL_VARIABLES if os.environ.get(v)), None
    )
    if not url:
        raise LeapError(
            "the openai engine needs a server address: pass engine option base_url "
            "(e.g. http://127.0.0.1:8000/v1) or set LEAP_OPENAI_BASE_URL."
        )
    if not url.startswith(("http://", "https://")):
        raise LeapError(f"server address {url!r} is not an http(s) URL: e.g. http://HOST:8000/v1.")
    return url.rstrip("/")


class OpenAIEngine(TokenizerText):
    """Completions over HTTP, token ids in and out where the server allows it."""

    name = "openai"

    def __init__(self, model: str = DEFAULT_MODEL, *, options: OpenAIOptions | None = None):
        self.options = options or OpenAIOptions()
        self.base_url = server_base_url(self.options)
        self.served_model = self.options.served_model or model
        self.text = ChatTokenizer(self.options.tokenizer or resolve_model(model))
        self.tokenizer, self.eos_token_ids = self.text.tokenizer, self.text.eos_token_ids
        headers = {}
        key = next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limit = self.options.max_concurrency
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.options.request_timeout, connect=10.0),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="leap-openai")
        self._token_prompts = True  # until the server refuses them
        self._mode_lock = threading.Lock()
        self._closed = False

    def reset_cache(self) -> None:
        """Nothing to forget here: the prefix cache is the server's own."""

    def close(self) -> None:
        """Wait for requests in flight and close the connections; `generate` then fails."""
        with self._mode_lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)
        self._client.close()

    # -- generation ---------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if self._closed:
            raise LeapError("the openai engine was closed: create a new one.")
        futures = [self._pool.submit(self._complete, r) for r in requests]
        return [f.result() for f in futures]

    def _complete(self, request: GenerationRequest) -> GenerationResult:
        if request.max_new_tokens <= 0:
            return GenerationResult([], "", "length", None, len(request.prompt_ids), 0)
        token_prompts = self._token_prompts
        body = self._body(request, token_prompts)
        status, answer = self._post(body)
        if status in (400, 422) and token_prompts and not request.stop_token_ids:
            # Perhaps not a vLLM-like server: try text, and keep to it if that works.
            body = self._body(request, False)
            status, answer = self._post(body)
            if status < 400:
                with self._mode_lock:
                    self._token_prompts = False
                token_prompts = False
        if status >= 400:
            as_text = isinstance(body["prompt"], str)
            extras = [name for name in _extras(request) if as_text and name in body]
            also = f" (it was also sent vLLM's {', '.join(extras)})" if extras else ""
            raise LeapError(
                f"the completions server at {self.base_url} rejected the request "
                f"(HTTP {status}: {_server_message(answer)}); check the model name "
                f"(engine option served_model) and the settings{also}."
            )
        return self._result(request, answer, token_prompts)

    def _body(self, request: GenerationRequest, token_prompts: bool) -> dict[str, Any]:
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.served_model,
            "max_tokens": request.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p if s.temperature > 0 else 1.0,
            "seed": request.seed & (2**63 - 1),
        }
        if token_prompts:
            body["prompt"] = [int(t) for t in request.prompt_ids]
            body.update(
                _extras(request),
                stop=list(request.stop),
                stop_token_ids=list(request.stop_token_ids),
                include_stop_str_in_output=True,
                return_token_ids=True,
            )
            return body
        if request.stop_token_ids:
            raise LeapError(
                f"the completions server at {self.base_url} takes only text prompts, so it "
                "cannot stop at token ids: use a server that takes token prompts (vllm serve)."
            )
        # Special tokens stay: the chat template's markers are part of the prompt.
        body["prompt"] = self.text.tokenizer.decode(list(request.prompt_ids))
        body.update({name: value for name, value in _extras(request).items() if value})
        return body

    def _post(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(status, parsed JSON or text) of the first answer that is not worth retrying."""
        url = f"{self.base_url}/completions"
        attempts = self.options.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            try:
                response = self._client.post(url, json=body)
            except httpx.TimeoutException:
                problem = f"no answer within {self.options.request_timeout:g} s"
                continue
            except httpx.TransportError as exc:
                problem = f"cannot connect ({first_line(exc, 120) or type(exc).__name__})"
                continue
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code}: {_server_message(_parse(response))}"
                continue
            return response.status_code, _parse(response)
        raise LeapError(
            f"the completions server at {self.base_url} failed {attempts} time(s), last "
            f"with {problem}; check that it is running and reachable (the solve task fails "
            "and its problem resumes from the last stored round)."
        )

    def _result(
        self, request: GenerationRequest, answer: Any, token_prompts: bool
    ) -> GenerationResult:
        try:
            choice = answer["choices"][0]
            text = choice["text"]
            finish = choice["finish_reason"]
            if not isinstance(text, str) or finish not in ("stop", "length"):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise LeapError(
                f"the completions server at {self.base_url} answered with something that is "
                "not a completions response; check that base_url points at an "
                "OpenAI-compatible /v1 endpoint."
            ) from None
        stop = choice.get("stop_reason")
        ids = choice.get("token_ids") if token_prompts else None
        if not token_prompts:
            cut = first_stop(text, request.stop)
            if cut is not None:
                stop, end = cut
                text, finish = text[:end], "stop"
        if ids is None:
            ids = self.text.encode(text)
        ids = [int(t) for t in ids]
        if finish == "stop" and stop is None:
            # vLLM reports an end-of-sequence stop as None; a text answer cannot say which.
            stop = ids[-1] if ids and ids[-1] in self.eos_token_ids else self.eos_token_ids[0]
        prompt_len = len(request.prompt_ids)
        details = (answer.get("usage") or {}).get("prompt_tokens_details") or {}
        cached = min(int(details.get("cached_tokens") or 0), prompt_len)
        return GenerationResult(
            token_ids=ids,
            text=self.text.visible_text(ids) if token_prompts else text,
            finish_reason=finish,
            stop_reason=stop,
            prompt_tokens_computed=prompt_len - cached,
            prompt_tokens_reused=cached,
        )


def _extras(request: GenerationRequest) -> dict[str, Any]:
    """vLLM's fields beyond plain OpenAI that change what a request generates."""
    s = request.sampling
    return {"top_k": s.top_k, "min_p": s.min_p, "ignore_eos": request.ignore_eos}


def first_stop(text: str, stops: Sequence[str]) -> tuple[str, int] | None:
    """The stop string that completes first in `text` and where it ends, as vLLM stops."""
    ends = [(text.find(stop) + len(stop), i) for i, stop in enumerate(stops) if stop in text]
    if not ends:
        return None
    end, i = min(ends)
    return stops[i], end


def _parse(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _server_message(answer: Any) -> str:
    if isinstance(answer, dict):
        error = answer.get("error", answer)
        message = error.get("message") if isinstance(error, dict) else error
        text = str(message or answer)
    else:
        text = str(answer)
    return " ".join(text.split())[:200] or "no message"
