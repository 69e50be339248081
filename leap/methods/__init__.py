"""Every run method, on one round contract (`leap.methods.base`).

`METHODS` maps each `LeapConfig.method` to the policy class that runs it; `policy_for`
builds the one a config asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import RoundRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.methods.base import Beginnings, RoundPolicy
from leap.methods.leap_s import LeapS
from leap.methods.matched import MatchedSampling
from leap.methods.moa import MixtureOfAgents
from leap.methods.peers import PeerGroup

METHODS: dict[str, type[RoundPolicy]] = {
    "leap": PeerGroup,
    "leap-t": PeerGroup,
    "single": PeerGroup,
    "independent": PeerGroup,
    "self-correct": PeerGroup,
    "leap-s": LeapS,
    "moa": MixtureOfAgents,
}


def policy_for(
    engine: Engine,
    config: LeapConfig,
    problem: Problem,
    *,
    cache_prefix: str | None = None,
    records: Sequence[RoundRecord] = (),
    beginnings: Beginnings | None = None,
    target_tokens: int | None = None,
) -> RoundPolicy:
    """The policy that solves `problem` with `config.method`, continued after `records`;
    with `target_tokens`, sampling matched to that many generated tokens."""
    if target_tokens is not None:
        return MatchedSampling(
            engine,
            config,
            problem,
            target=target_tokens,
            cache_prefix=cache_prefix,
            records=records,
        )
    return METHODS[config.method](
        engine,
        config,
        problem,
        cache_prefix=cache_prefix,
        records=records,
        beginnings=beginnings,
    )


__all__ = [
    "METHODS",
    "Beginnings",
    "LeapS",
    "MatchedSampling",
    "MixtureOfAgents",
    "PeerGroup",
    "RoundPolicy",
    "policy_for",
]
