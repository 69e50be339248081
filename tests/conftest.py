"""Shared fixtures: project-local caches, the real default model, a clean AWS environment.

Tests that use a slow fixture (the real model, a Prefect API or server, a moto S3 server)
are marked `slow` here, so `pytest -m "not slow"` is the fast lane; tests that start
servers or subprocesses by themselves carry the mark in their own module.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["s3server", "prefect_server", "deployed"]

ROOT = Path(__file__).resolve().parents[1]

# Everything a test run writes stays inside the checkout (ignored by git).
os.environ.setdefault("LEAP_HOME", str(ROOT / ".cache" / "leap"))
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".cache" / "prefect"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


# Fixtures that load the real model or start a real server.
SLOW_FIXTURES = frozenset(
    {"engine", "model_folder", "prefect_api", "prefect_server", "s3_server", "s3_bucket"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS_* variable and no AWS config or credentials file of the machine's user."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def engine():
    """The default model in float32: exact enough that a resumed path matches bit for bit."""
    from leap.engines.transformers.engine import TransformersEngine

    eng = TransformersEngine(dtype="float32")
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def model_folder() -> Path:
    from leap.engines.models import default_model_folder

    return default_model_folder()


@pytest.fixture(scope="session")
def prefect_api():
    """One Prefect test API for the whole session (it takes ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
