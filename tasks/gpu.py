"""Holding this process's GPU(s) while a flow run solves problems (one engine per GPU)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prefect import get_run_logger
from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency

from leap.engines.factory import close_engines
from leap.errors import LeapError
from leap.runs.gpu import gpu_limit_names, visible_devices


@contextmanager
def gpu_slot(strict: bool) -> Iterator[list[str]]:
    """Hold one slot of every GPU limit of `CUDA_VISIBLE_DEVICES` while the body runs.

    The engine is closed before the slots are released, so the next holder finds the
    GPU memory free. `strict`: a missing limit is an error (deployment runs) rather than
    a warning (local runs, where no pool was set up).
    """
    names = gpu_limit_names()
    if not names:
        yield []
        return
    logger = get_run_logger()
    logger.info("waiting for GPU slot(s) %s", ", ".join(names))
    with ExitStack() as stack:
        try:
            # The server accepts leases of a minute or more.
            lease = max(60.0, float(os.environ.get("LEAP_GPU_LEASE_SECONDS") or 300))
            stack.enter_context(
                concurrency(
                    names,
                    occupy=1,
                    strict=strict,
                    lease_duration=lease,
                    # A late renewal on a loaded machine must not kill a long run.
                    raise_on_lease_renewal_failure=False,
                )
            )
        except ConcurrencySlotAcquisitionError as exc:
            if "must be created" not in str(exc):
                raise LeapError(f"could not take GPU slot(s) {', '.join(names)}: {exc}.") from None
            devices = ",".join(visible_devices())
            raise LeapError(
                f"the Prefect server has no GPU limit {' / '.join(names)}: run "
                f"`leap setup-pool --gpus {devices}` on this machine, then retry the run."
            ) from None
        logger.info("holding GPU slot(s) %s", ", ".join(names))
        try:
            yield names
        finally:
            close_engines()
            logger.info("releasing GPU slot(s) %s", ", ".join(names))
