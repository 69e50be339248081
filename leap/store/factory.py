"""Pick the store backend from a root URL."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from leap.errors import LeapError
from leap.store.base import ObjectStore
from leap.store.local import LocalStore
from leap.store.s3 import S3Store
from leap.store.s3_options import S3Options

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_HINT = "use a folder path, file:///absolute/path or s3://bucket/prefix"


def open_store(url: str, *, s3_options: S3Options | None = None) -> ObjectStore:
    """Open the store at `url`: a folder path, `file:///abs/path` or `s3://bucket/prefix`.

    S3 endpoint, region and credentials come from `s3_options`, else from the standard
    AWS_* environment variables; they are never part of the URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise LeapError(f"The store location is empty: {_HINT}.")
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        return LocalStore(url)
    parts = urlsplit(url)
    shown = _without_userinfo(url, parts.netloc)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise LeapError(f"The store URL {shown!r} is not a local file URL: {_HINT}.")
        return LocalStore(unquote(parts.path))
    if scheme == "s3":
        if "@" in parts.netloc:
            raise LeapError(
                f"The store URL {shown!r} contains credentials: remove them and set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead."
            )
        bucket = parts.netloc
        if not bucket:
            raise LeapError(f"The store URL {shown!r} names no bucket: {_HINT}.")
        if not _BUCKET.match(bucket):
            raise LeapError(
                f"The store URL {shown!r} has an invalid bucket name {bucket!r}: bucket names "
                "are 3-63 lowercase letters, digits, dots or hyphens."
            )
        if parts.query or parts.fragment:
            raise LeapError(f"The store URL {shown!r} must not have a query or fragment: {_HINT}.")
        return S3Store(bucket, parts.path.strip("/"), s3_options)
    raise LeapError(f"The store URL {shown!r} has an unsupported scheme '{scheme}': {_HINT}.")


def _without_userinfo(url: str, netloc: str) -> str:
    if "@" not in netloc:
        return url
    return url.replace(netloc, netloc.rsplit("@", 1)[1], 1)
