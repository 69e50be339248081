"""The openai engine's handling of servers that fail, refuse or talk nonsense.

Each server here is a real HTTP server on 127.0.0.1 that answers in one scripted way; the
engine against a real `vllm serve` is tested in the vLLM lane (tests_vllm/).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leap.engines.base import GenerationRequest
from leap.engines.options import EngineOptions
from leap.errors import LeapError

# (request body, attempt number) -> (status, body text)
Script = Callable[[dict, int], tuple[int, str]]


@contextmanager
def server(script: Script) -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"body": body, "auth": self.headers.get("Authorization")})
            status, text = script(body, len(seen))
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def completion(text: str = "four", finish: str = "length", **extra) -> str:
    choice = {"index": 0, "text": text, "finish_reason": finish, **extra}
    return json.dumps({"choices": [choice], "usage": {"prompt_tokens": 3}})


def engine_for(model_folder, url: str, **options):
    from leap.engines.openai_engine import OpenAIEngine

    defaults = {"max_retries": 2, "request_timeout": 5.0, "served_model": "m"}
    return OpenAIEngine(
        str(model_folder), options=EngineOptions(base_url=url, **{**defaults, **options})
    )


def ask(engine, n: int = 4, **extra) -> GenerationRequest:
    ids = engine.encode("What is two plus two?")
    return GenerationRequest(prompt_ids=ids, max_new_tokens=n, seed=3, **extra)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_token_ids_seed_and_stop_are_sent_and_key_is_a_bearer_token(model_folder, monkeypatch):
    monkeypatch.setenv("LEAP_OPENAI_API_KEY", "sk-test-secret")
    with server(lambda body, n: (200, completion(token_ids=[1, 2, 3]))) as (url, seen):
        engine = engine_for(model_folder, url)
        result = engine.generate([ask(engine, stop=("</think>",))])[0]
        engine.close()
    body = seen[0]["body"]
    assert body["prompt"] == engine.encode("What is two plus two?")
    assert body["seed"] == 3 and body["stop"] == ["</think>"] and body["model"] == "m"
    assert seen[0]["auth"] == "Bearer sk-test-secret"
    assert result.token_ids == [1, 2, 3] and result.finish_reason == "length"


def test_server_that_refuses_token_prompts_gets_text(model_folder):
    def script(body, n):
        if isinstance(body["prompt"], list):
            return 400, json.dumps({"error": {"message": "prompt must be a string"}})
        return 200, completion(" 4", finish="stop")

    with server(script) as (url, seen):
        engine = engine_for(model_folder, url)
        first = engine.generate([ask(engine, stop=("</think>",))])[0]
        second = engine.generate([ask(engine)])[0]
        engine.close()
    assert seen[1]["body"]["prompt"] == "What is two plus two?"
    assert isinstance(seen[2]["body"]["prompt"], str)  # remembered: no token prompt again
    # A plain server cuts the stop string off; the engine puts it back, as vLLM does.
    assert first.text == " 4</think>" and first.stop_reason == "</think>"
    assert first.token_ids == engine.encode(" 4</think>")
    assert second.finish_reason == "stop" and second.stop_reason in engine.eos_token_ids


def test_server_errors_are_retried_then_succeed(model_folder):
    with server(lambda body, n: (503, "busy") if n < 3 else (200, completion())) as (url, seen):
        engine = engine_for(model_folder, url)
        result = engine.generate([ask(engine)])[0]
        engine.close()
    assert len(seen) == 3 and result.text == "four"


def test_server_that_keeps_failing_is_one_clear_error(model_folder, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-shown")
    with server(lambda body, n: (500, "internal error")) as (url, seen):
        engine = engine_for(model_folder, url, max_retries=1)
        with pytest.raises(LeapError, match="failed 2 time.*HTTP 500") as caught:
            engine.generate([ask(engine)])
        engine.close()
    assert len(seen) == 2
    assert "sk-never-shown" not in str(caught.value)


def test_client_error_is_not_retried(model_folder):
    reply = json.dumps({"error": {"message": "The model `m` does not exist."}})
    with server(lambda body, n: (404, reply)) as (url, seen):
        engine = engine_for(model_folder, url)
        with pytest.raises(LeapError, match=r"rejected the request \(HTTP 404: The model `m`"):
            engine.generate([ask(engine)])
        engine.close()
    assert len(seen) == 1


def test_garbage_answer_is_a_clear_error(model_folder):
    with server(lambda body, n: (200, "<html>hello</html>")) as (url, _):
        engine = engine_for(model_folder, url)
        with pytest.raises(LeapError, match="not a completions response"):
            engine.generate([ask(engine)])
        engine.close()


def test_server_that_is_down_is_a_clear_error(model_folder):
    engine = engine_for(model_folder, f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(LeapError, match="failed 2 time.*cannot connect.*check that it is running"):
        engine.generate([ask(engine)])
    engine.close()


def test_server_that_does_not_answer_in_time_is_a_clear_error(model_folder):
    def slow(body, n):
        time.sleep(2.0)
        return 200, completion()

    with server(slow) as (url, seen):
        engine = engine_for(model_folder, url, max_retries=0, request_timeout=0.3)
        with pytest.raises(LeapError, match="no answer within 0.3 s"):
            engine.generate([ask(engine)])
        engine.close()


def test_concurrency_is_bounded(model_folder):
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def counting(body, n):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return 200, completion()

    with server(counting) as (url, seen):
        engine = engine_for(model_folder, url, max_concurrency=2)
        results = engine.generate([ask(engine) for _ in range(6)])
        engine.close()
    assert len(results) == 6 and len(seen) == 6
    assert state["most"] == 2


def test_missing_server_address_is_a_clear_error(model_folder, monkeypatch):
    from leap.engines.openai_engine import OpenAIEngine

    for name in ("LEAP_OPENAI_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LeapError, match="needs a server address"):
        OpenAIEngine(str(model_folder))


def test_core_imports_without_vllm():
    import importlib.util
    import subprocess
    import sys

    assert importlib.util.find_spec("vllm") is None  # the main venv never has vLLM
    code = (
        "import leap.console.cli, leap.algorithm.peers, leap.engines.factory as f\n"
        "import leap.engines.openai_engine\n"
        "from leap.errors import LeapError\n"
        "try:\n"
        "    f.create_engine('vllm', 'smollm2-135m')\n"
        "except LeapError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs vLLM" in out.stdout
