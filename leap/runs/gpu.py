"""Names of the per-GPU concurrency limits that keep one engine per GPU.

A flow run that solves problems holds one slot of `leap-gpu-{host}-{device}` for every
device in its `CUDA_VISIBLE_DEVICES`, so two engines never share a GPU, even when
several workers (or several flow runs of one worker) run on the same machine.
The limits themselves are created by `leap setup-pool`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping

LIMIT_PREFIX = "leap-gpu"


def gpu_host(env: Mapping[str, str] | None = None) -> str:
    """This machine's name in limit names: `$LEAP_GPU_HOST`, else the host name."""
    env = os.environ if env is None else env
    name = env.get("LEAP_GPU_HOST") or socket.gethostname()
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "host"


def visible_devices(env: Mapping[str, str] | None = None) -> list[str]:
    """The devices in `CUDA_VISIBLE_DEVICES`, or none when it is unset or empty."""
    env = os.environ if env is None else env
    value = env.get("CUDA_VISIBLE_DEVICES", "")
    return [d.strip() for d in value.split(",") if d.strip() and d.strip() != "-1"]


def gpu_limit_name(device: str, host: str) -> str:
    return f"{LIMIT_PREFIX}-{host}-{re.sub(r'[^A-Za-z0-9]+', '-', device).strip('-')}"


def gpu_limit_names(env: Mapping[str, str] | None = None) -> list[str]:
    """The limits a flow run of this process must hold, in a fixed order."""
    host = gpu_host(env)
    return sorted(gpu_limit_name(d, host) for d in visible_devices(env))
