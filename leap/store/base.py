"""What every round-store backend offers, plus the key rules they share.

A store holds opaque byte objects under "/"-separated keys relative to its root. Objects
are written once and never changed in place, with two deliberate exceptions:

* `put` replaces an object atomically; it is only meant for derived files such as
  `results/*`, which can always be rebuilt from the rounds.
* `move_aside` handles an object that turned out to be corrupt: the bytes are kept for
  inspection under a new name (`{key}.corrupt-{UTC timestamp}`) and the original is then
  deleted, so the round it held is recomputed on the next run. This is the ONE case in
  which a round object disappears from its key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from leap.errors import StoreError

CORRUPT_MARK = ".corrupt-"
REASON_SUFFIX = ".reason.txt"
# How long an S3 link stays valid: a week, the longest an S3 signature (SigV4) can last.
LINK_SECONDS = 7 * 24 * 3600


@runtime_checkable
class ObjectStore(Protocol):
    """Bytes in, bytes out, under keys relative to the store root."""

    url: str  # the root, without credentials: safe to print and log

    def check(self) -> None:
        """Raise StoreError with one clear sentence if the store cannot be used."""
        ...

    def put_once(self, key: str, data: bytes) -> None:
        """Store `data` atomically; raise ObjectExistsError if `key` already exists."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store `data` atomically, replacing any previous object (derived files only)."""
        ...

    def get(self, key: str) -> bytes:
        """Return the object's bytes; StoreError naming the object if it cannot be read."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under `key`."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Return every key starting with `prefix` (relative to the root), sorted."""
        ...

    def move_aside(self, key: str, reason: str) -> str:
        """Keep a corrupt object under a new key, delete the original, return the new key."""
        ...

    def stored_at(self, key: str) -> datetime:
        """When the object was written (UTC, by the store's clock); StoreError if missing."""
        ...

    def link(self, key: str) -> str:
        """Where a person opens the object without the store's credentials.

        A `file://` URI for a local store; for S3 a presigned https URL that stays valid
        for `LINK_SECONDS` (or until temporary credentials behind it expire). Nothing is
        read or checked: a link to a missing object is still made.
        """
        ...


def check_key(key: str) -> str:
    """Return `key` unchanged if it is a clean relative key, else raise StoreError."""
    if not isinstance(key, str) or not key:
        raise StoreError(f"Store key {key!r} is invalid: keys must be non-empty strings.")
    if key.startswith("/") or key.endswith("/") or "\\" in key or "\x00" in key:
        raise StoreError(
            f"Store key {key!r} is invalid: use relative '/'-separated keys "
            "without a leading or trailing '/'."
        )
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StoreError(f"Store key {key!r} is invalid: empty, '.' and '..' parts are refused.")
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix: "" (everything) or a key start, possibly ending in '/'."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def corrupt_key(key: str, now: datetime | None = None) -> str:
    """The name a corrupt object is kept under: `{key}.corrupt-{UTC timestamp}`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{key}{CORRUPT_MARK}{stamp}"


def reason_text(key: str, new_key: str, reason: str) -> bytes:
    """The small note stored next to a moved-aside object, saying why it was moved."""
    return f"original: {key}\nkept as: {new_key}\nreason: {reason}\n".encode()
