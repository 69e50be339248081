"""Per-request seeds, so a run is reproducible and a resumed run continues exactly."""

from __future__ import annotations

import hashlib


def derive_seed(run_seed: int, problem_id: str, path: int, round_index: int, phase: str) -> int:
    """A 63-bit seed that depends only on where a request sits in the run."""
    key = f"{run_seed}\x1f{problem_id}\x1f{path}\x1f{round_index}\x1f{phase}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)
