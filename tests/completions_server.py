"""A real completions server on 127.0.0.1 that answers with an in-process engine.

It speaks the part of vLLM's OpenAI-compatible dialect the openai engine uses in token
mode: token-id prompts, top_k/min_p/stop_token_ids/ignore_eos, the stop string kept in
the output, `token_ids` and `stop_reason` in the answer (None for an end-of-sequence
stop, as vLLM reports it). It keeps no prefix cache of its own: every request reaches
the engine without a cache key, so its answers report no cached prompt tokens. The main
test lane runs the engine contract through it without vLLM.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from leap.engines.base import Engine, GenerationRequest, SamplingParams


@contextmanager
def completions_server(engine: Engine, served_model: str = "served") -> Iterator[str]:
    """Serve `engine` as `served_model`; yields the base URL (up to `/v1`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, answer = _answer(engine, served_model, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _answer(engine: Engine, served_model: str, path: str, body: dict) -> tuple[int, dict]:
    if path != "/v1/completions":
        return 404, {"error": {"message": f"no route {path}"}}
    if body.get("model") != served_model:
        return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
    prompt = body.get("prompt")
    if not isinstance(prompt, list) or not body.get("include_stop_str_in_output"):
        return 400, {"error": {"message": "this server takes token prompts in vLLM's form only"}}
    stop_ids = tuple(body.get("stop_token_ids") or ())
    request = GenerationRequest(
        prompt_ids=prompt,
        max_new_tokens=body["max_tokens"],
        seed=body["seed"],
        sampling=SamplingParams(
            temperature=body["temperature"],
            top_p=body["top_p"],
            top_k=body.get("top_k", 0),
            min_p=body.get("min_p", 0.0),
        ),
        stop=tuple(body.get("stop") or ()),
        stop_token_ids=stop_ids,
        ignore_eos=bool(body.get("ignore_eos")),
    )
    result = engine.generate([request])[0]
    stop = result.stop_reason
    if isinstance(stop, int) and stop not in stop_ids:
        stop = None  # an end-of-sequence token
    choice = {
        "index": 0,
        "text": result.text,
        "token_ids": result.token_ids if body.get("return_token_ids") else None,
        "finish_reason": result.finish_reason,
        "stop_reason": stop,
    }
    usage = {
        "prompt_tokens": len(prompt),
        "completion_tokens": len(result.token_ids),
        "prompt_tokens_details": {"cached_tokens": result.prompt_tokens_reused},
    }
    return 200, {"object": "text_completion", "choices": [choice], "usage": usage}
