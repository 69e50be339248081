"""The openai engine: the engine contract over a local server, and servers that fail,
refuse or talk nonsense.

The contract runs against a real HTTP server that answers with the transformers engine
(tests/completions_server.py); every other server here answers in one scripted way. The
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
from completions_server import completions_server
from engine_contract import EngineContract

from leap.engines.base import GenerationRequest, SamplingParams
from leap.engines.options import OpenAIOptions
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
        str(model_folder), options=OpenAIOptions(base_url=url, **{**defaults, **options})
    )


class TestOpenAIEngine(EngineContract):
    """Token prompts to a server with no prefix cache: nothing is ever reported reused."""

    continuation_tokens = 12

    @pytest.fixture(scope="class")
    @classmethod
    def subject(cls, engine, model_folder):
        with completions_server(engine, served_model="m") as url:
            client = engine_for(model_folder, url, request_timeout=120.0, max_concurrency=4)
            yield client
            client.close()

    @pytest.fixture(scope="class")
    @classmethod
    def cache_traits(cls) -> None:
        return None


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


def text_only(answer: Callable[[dict], str]) -> Script:
    """A plain OpenAI server: token prompts and vLLM's fields are refused."""

    def script(body, n):
        if isinstance(body["prompt"], list):
            return 400, json.dumps({"error": {"message": "prompt must be a string"}})
        vllm_only = {"top_k", "min_p", "ignore_eos", "stop_token_ids"} & body.keys()
        if vllm_only:
            return 400, json.dumps({"error": {"message": f"unknown field {min(vllm_only)}"}})
        return 200, answer(body)

    return script


def test_server_that_refuses_token_prompts_gets_text(model_folder):
    answers = iter([completion(" 4</think> and more", finish="length"), completion(" 4", "stop")])
    with server(text_only(lambda body: next(answers))) as (url, seen):
        engine = engine_for(model_folder, url)
        first = engine.generate([ask(engine, n=8, stop=("</think>",))])[0]
        second = engine.generate([ask(engine)])[0]
        engine.close()
    assert seen[1]["body"]["prompt"] == "What is two plus two?"
    assert isinstance(seen[2]["body"]["prompt"], str)  # remembered: no token prompt again
    # A plain answer cannot say which stop string ended it, so the server is not asked to
    # stop: the engine cuts after the stop string and keeps it, as vLLM does.
    assert "stop" not in seen[1]["body"]
    assert first.text == " 4</think>" and first.stop_reason == "</think>"
    assert first.finish_reason == "stop" and first.token_ids == engine.encode(" 4</think>")
    assert second.finish_reason == "stop" and second.stop_reason in engine.eos_token_ids


def test_text_mode_reports_the_stop_string_that_matched_first(model_folder):
    # A leap-t reasoning round stops at the end of thinking or where the model opens a
    # summary itself; here the summary comes first although its stop string is listed last.
    written = " so far so good.\n<summarize> the sum is 4 </summarize></think>"
    with server(text_only(lambda body: completion(written, "length"))) as (url, _):
        engine = engine_for(model_folder, url)
        result = engine.generate([ask(engine, n=64, stop=("</think>", "<summarize>"))])[0]
        engine.close()
    assert result.finish_reason == "stop" and result.stop_reason == "<summarize>"
    assert result.text == " so far so good.\n<summarize>"


def test_text_mode_sends_vllm_fields_only_when_set_and_refuses_stop_token_ids(model_folder):
    def lenient(body, n):  # takes text prompts and vLLM's sampling fields
        if isinstance(body["prompt"], list):
            return 400, json.dumps({"error": {"message": "prompt must be a string"}})
        return 200, completion(" 4", "stop")

    release = SamplingParams(temperature=0.6, top_p=0.95, top_k=40, min_p=0.05)
    with server(lenient) as (url, seen):
        engine = engine_for(model_folder, url)
        engine.generate([ask(engine)])
        engine.generate([ask(engine, sampling=release, ignore_eos=True)])
        with pytest.raises(LeapError, match="cannot stop at token ids"):
            engine.generate([ask(engine, stop_token_ids=(13,))])
        engine.close()
    plain, tuned = seen[1]["body"], seen[2]["body"]
    assert not {"top_k", "min_p", "ignore_eos", "stop_token_ids"} & plain.keys()
    assert (tuned["top_k"], tuned["min_p"], tuned["ignore_eos"]) == (40, 0.05, True)
    assert len(seen) == 3  # the stop token request never went out


def test_plain_server_that_refuses_vllm_fields_is_one_clear_error(model_folder):
    release = SamplingParams(temperature=0.6, top_p=0.95, top_k=40, min_p=0.05)
    with server(text_only(lambda body: completion())) as (url, seen):
        engine = engine_for(model_folder, url)
        with pytest.raises(LeapError, match=r"HTTP 400: unknown field .*sent vLLM's top_k, min_p"):
            engine.generate([ask(engine, sampling=release)])
        engine.close()
    assert len(seen) == 2  # token prompt, then text with the fields: no silent third try


def test_a_closed_engine_refuses_to_generate(model_folder):
    with server(lambda body, n: (200, completion(token_ids=[1]))) as (url, _):
        engine = engine_for(model_folder, url)
        engine.close()
        engine.close()  # closing twice is fine
        with pytest.raises(LeapError, match="was closed: create a new one"):
            engine.generate([ask(engine)])


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
        "import leap.console.cli, leap.methods.peers, leap.engines.factory as f\n"
        "import leap.engines.openai_engine\n"
        "from leap.errors import LeapError\n"
        "try:\n"
        "    f.create_engine('vllm', 'smollm2-135m')\n"
        "except LeapError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs vLLM" in out.stdout
