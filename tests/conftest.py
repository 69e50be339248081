"""Shared fixtures: project-local caches, and the real default model on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["s3server", "prefect_server"]

ROOT = Path(__file__).resolve().parents[1]

# Everything a test run writes stays inside the checkout (ignored by git).
os.environ.setdefault("LEAP_HOME", str(ROOT / ".cache" / "leap"))
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".cache" / "prefect"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


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
