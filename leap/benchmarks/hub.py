"""Fetch a declared dataset file from the Hugging Face Hub (the only network code here)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from leap.benchmarks.declarations import HubDataset
from leap.errors import LeapError

logger = logging.getLogger("leap")

_TRUE = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE asks us not to touch the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def download(hub: HubDataset, benchmark: str, local_filename: str | None) -> Path:
    """Return a local path to `hub.filename` at `hub.revision`, downloading if needed.

    Any failure (offline mode, no `huggingface_hub`, no network, a gated dataset without
    a token, a missing file) becomes one LeapError naming both ways to get the data.
    """
    if hub_offline():
        raise _unavailable(hub, benchmark, local_filename, "HF_HUB_OFFLINE is set")
    if not hub.pinned:
        logger.warning(
            "benchmark %s: hub revision %r of %s is not a full commit hash; confirm and pin it",
            benchmark,
            hub.revision,
            hub.repo_id,
        )
    try:
        from huggingface_hub import hf_hub_download

        return Path(
            hf_hub_download(
                repo_id=hub.repo_id,
                filename=hub.filename,
                repo_type="dataset",
                revision=hub.revision,
            )
        )
    except Exception as exc:  # every failure here has the same remedy
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise _unavailable(hub, benchmark, local_filename, reason) from exc


def _unavailable(
    hub: HubDataset, benchmark: str, local_filename: str | None, reason: str
) -> LeapError:
    local = f" or put {local_filename} in LEAP_DATA_DIR" if local_filename else ""
    return LeapError(
        f"benchmark {benchmark!r} could not be fetched from the Hugging Face Hub dataset "
        f"{hub.repo_id} (file {hub.filename}, revision {hub.revision}) because {reason}; "
        f"run where the hub is reachable, or give a local copy with --data PATH "
        f"(LoadOptions.local_path){local}."
    )
