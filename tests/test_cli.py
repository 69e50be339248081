"""The `leap` command as a user runs it: real subprocesses, real model, real servers."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port

# Every test starts `leap` as a subprocess, most of them load the model or a server.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LEAP = [sys.executable, "-m", "leap.console.cli"]


def leap(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*LEAP, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["solve", "   "], "question is empty"),
        (["solve", "What is 2+2?", "--T", "0"], "tokens_per_round"),
        (["solve", "What is 2+2?", "--router", "nearest"], "router"),
        (["solve", "What is 2+2?", "--n", "0"], "n_paths"),
        (["solve", "What is 2+2?", "--model", "/no/such/model"], "does not exist"),
        (["run", "--benchmark", "no-such-benchmark"], "no-such-benchmark"),
        (["run", "--store", "ftp://example/runs"], "ftp://"),
        (["run", "--config", "/no/such/config.yaml"], "config.yaml"),
        (["resume", "never-ran", "--store", "/tmp/leap-empty-store"], "never-ran"),
        (["run", "--engine", "tgi"], "engine"),
        (["solve", "What is 2+2?", "--engine", "tgi"], "unknown engine 'tgi'"),
        (["solve", "What is 2+2?", "--engine-option", "nonsense"], "NAME=VALUE"),
        (["solve", "What is 2+2?", "--engine-option", "colour=red"], "colour"),
        (["run", "--engine-option", "tensor_parallel_size=0"], "tensor_parallel_size"),
        (["solve", "What is 2+2?", "--engine", "vllm"], "needs vLLM"),
        (
            ["solve", "What is 2+2?", "--engine", "openai", "--engine-option", "max_retries=0"]
            + ["--engine-option", "base_url=http://127.0.0.1:9/v1"],
            "cannot connect",
        ),
    ],
)
def test_bad_input_is_one_clear_line(args, expected):
    line = one_error_line(leap(*args))
    assert expected in line


def test_first_use_converts_the_model_quietly(tmp_path):
    # A fresh LEAP_HOME: the default model is converted from its GGUF during this command,
    # and the user still sees only the one error line (no progress bars, no warnings).
    result = leap(
        "solve",
        "What is 2+2?",
        "--engine",
        "openai",
        "--engine-option",
        "max_retries=0",
        "--engine-option",
        "base_url=http://127.0.0.1:9/v1",
        env={"LEAP_HOME": str(tmp_path / "home")},
    )
    assert "cannot connect" in one_error_line(result)
    assert (tmp_path / "home" / "models" / "SmolLM2-135M-Instruct" / "config.json").is_file()


def test_corrupt_model_folder(tmp_path, model_folder):
    broken = tmp_path / "model"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_text((model_folder / name).read_text())
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    line = one_error_line(leap("solve", "What is 2+2?", "--model", str(broken)))
    assert "could not load model" in line


def test_store_errors_stop_before_anything_is_written(s3_bucket, tmp_path):
    creds = {
        "AWS_ACCESS_KEY_ID": "leap-test-key",
        "AWS_SECRET_ACCESS_KEY": "leap-test-secret-9f3e",
        "AWS_REGION": "us-east-1",
    }
    missing = leap(
        "run",
        "--store",
        "s3://no-such-bucket-leap/runs",
        "--run-id",
        "x",
        env={**creds, "AWS_ENDPOINT_URL": s3_bucket.endpoint},
    )
    assert "no-such-bucket-leap" in one_error_line(missing)
    down = leap(
        "run",
        "--store",
        s3_bucket.url("runs"),
        "--run-id",
        "x",
        env={**creds, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
    )
    line = one_error_line(down)
    assert "leap-test-secret-9f3e" not in down.stderr + down.stdout
    assert "s3://" in line
    assert s3_bucket.client().list_objects_v2(Bucket=s3_bucket.name).get("KeyCount", 0) == 0


def test_bad_credentials_are_named_without_leaking_them():
    from s3server import MotoS3

    server = MotoS3(mode="process", env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}).start()
    try:
        result = leap(
            "run",
            "--store",
            "s3://some-bucket/runs",
            "--run-id",
            "x",
            env={
                "AWS_ENDPOINT_URL": server.endpoint,
                "AWS_ACCESS_KEY_ID": "AKIALEAPBADKEY000001",
                "AWS_SECRET_ACCESS_KEY": "leap-bad-secret-7c1d",
                "AWS_REGION": "us-east-1",
            },
        )
    finally:
        server.stop()
    line = one_error_line(result)
    assert "AWS_ACCESS_KEY_ID" in line
    assert "leap-bad-secret-7c1d" not in result.stderr + result.stdout


def test_solve_prints_answers_and_stays_under_3_gb():
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = leap(
        "solve",
        "What is 6 times 7?",
        "--answer",
        "42",
        "--n",
        "2",
        "--T",
        "16",
        "--max-tokens",
        "32",
        "--summary-max-tokens",
        "8",
        "--answer-max-tokens",
        "8",
        "--k",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "LeaP answers (2 paths)" in result.stdout
    assert "served from cache" in result.stdout
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert max(peak_kib, before) < 3 * 1024 * 1024, f"peak RSS {peak_kib} KiB"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--n", "abc"], "Invalid value for '--n'"),
        (["worker", "--limit", "abc"], "Invalid value for '--limit'"),
        (["run", "--no-such-flag"], "No such option: --no-such-flag"),
    ],
)
def test_a_malformed_or_unknown_option_is_a_usage_line_not_a_traceback(args, expected):
    result = leap(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert expected in result.stderr
