"""Splitting a run's problems into shards that separate workers solve.

Shards only choose which problems a flow run works on; the run id, the spec and the
store stay the same, so any worker can pick up any shard and the round store stays the
one record of what is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from leap.errors import LeapError

T = TypeVar("T")


def check_shards(shards: int, shard: int | None) -> None:
    """Reject a shard layout that cannot be split."""
    if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
        raise LeapError(f"shards must be a whole number of at least 1, not {shards!r}.")
    if shard is None:
        return
    if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < shards:
        raise LeapError(
            f"shard {shard!r} does not exist in a run split into {shards} shard(s): "
            f"use 0 to {shards - 1}."
        )


def shard_items(items: Sequence[T], shards: int, shard: int) -> list[T]:
    """The items of shard `shard` of `shards`: every shards-th item, starting at `shard`.

    Interleaving keeps shards of a benchmark ordered by difficulty similar in size of work.
    """
    check_shards(shards, shard)
    return list(items[shard::shards])


def shard_label(shards: int, shard: int) -> str:
    """`shard-2of4` (shards are numbered from 1 for people)."""
    return f"shard-{shard + 1}of{shards}"


def shard_device(devices: Sequence[str], shard: int) -> str | None:
    """The GPU list a shard is given when the parent spreads shards over devices."""
    return devices[shard % len(devices)] if devices else None
