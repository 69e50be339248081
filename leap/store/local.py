"""Round store in a local folder.

Write-once works by hard-linking a fully written, fsynced temp file to the final name:
`os.link` fails if the name exists, so exactly one writer wins and readers never see a
partial file (`os.rename` would silently replace an existing file on POSIX).
"""

from __future__ import annotations

import errno
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from leap.errors import ObjectExistsError, StoreError
from leap.store.base import REASON_SUFFIX, check_key, check_prefix, corrupt_key, reason_text

_TMP_MARK = ".tmp-"
# Failures that trying again cannot fix: the user must free space or change permissions.
_NEEDS_THE_USER = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _is_temp(name: str) -> bool:
    return name.startswith(".") and _TMP_MARK in name


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open directories; the data itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalStore:
    """Objects as files under `root`; keys map to relative paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _write_temp(self, final: Path, data: bytes) -> Path:
        """Write `data` to a synced temp file next to `final`; remove it if anything fails."""
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{final.name}{_TMP_MARK}{uuid.uuid4().hex}"
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _fail(self, action: str, key: str, exc: OSError) -> StoreError:
        reason = exc.strerror or type(exc).__name__
        return StoreError(
            f"Could not {action} object '{key}' in {self.url} ({reason}): "
            "check that the folder exists, is writable and has free space.",
            transient=exc.errno not in _NEEDS_THE_USER,
        )

    def check(self) -> None:
        """Make sure the root folder can be created and written to."""
        probe = f".leap-check{_TMP_MARK}{uuid.uuid4().hex}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self._write_temp(self.root / probe, b"ok")
            tmp.unlink()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StoreError(
                f"The store folder {self.root} cannot be created or written ({reason}): "
                "choose another path or fix its permissions."
            ) from exc

    def put_once(self, key: str, data: bytes) -> None:
        final = self._path(key)
        try:
            tmp = self._write_temp(final, data)
        except OSError as exc:
            raise self._fail("write", key, exc) from exc
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise ObjectExistsError(
                f"Object '{key}' already exists in {self.url} and is never overwritten."
            ) from None
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise StoreError(
                    f"The filesystem under {self.root} does not support hard links, which "
                    "write-once objects need: put the store on a local POSIX filesystem."
                ) from exc
            raise self._fail("write", key, exc) from exc
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)

    def put(self, key: str, data: bytes) -> None:
        final = self._path(key)
        try:
            tmp = self._write_temp(final, data)
            try:
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise self._fail("write", key, exc) from exc
        _fsync_dir(final.parent)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"Object '{key}' does not exist in {self.url}.") from None
        except OSError as exc:
            raise self._fail("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stored_at(self, key: str) -> datetime:
        # A write links a finished temp file to its name, which keeps the temp file's
        # modification time: the moment the bytes were written.
        try:
            seconds = self._path(key).stat().st_mtime
        except FileNotFoundError:
            raise StoreError(f"Object '{key}' does not exist in {self.url}.") from None
        except OSError as exc:
            raise self._fail("look up", key, exc) from exc
        return datetime.fromtimestamp(seconds, UTC)

    def link(self, key: str) -> str:
        # A file:// URI rather than a bare path: it is a complete URL (spaces and other
        # characters escaped) that a browser on this machine opens as is, and what the
        # store's other locations look like (`url`). A bare path in a web page would be
        # taken as a path on the page's own server.
        return self._path(key).as_uri()

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        # Walk only the deepest folder the prefix names, then filter by string prefix,
        # which is what S3 does too ("a/b" matches "a/b.txt" and "a/b/c").
        folder, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if _is_temp(name):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def move_aside(self, key: str, reason: str) -> str:
        """Keep a corrupt object as `{key}.corrupt-{UTC time}` and remove the original.

        This is the only operation that deletes a round object; the bytes survive under
        the new key (plus a `.reason.txt` note) so they can be inspected later.
        """
        src = self._path(key)
        new_key = corrupt_key(key)
        try:
            os.link(src, self._path(new_key))
        except FileNotFoundError:
            raise StoreError(
                f"Cannot move object '{key}' aside: it does not exist in {self.url}."
            ) from None
        except OSError as exc:
            raise self._fail("move aside", key, exc) from exc
        self.put_once(new_key + REASON_SUFFIX, reason_text(key, new_key, reason))
        try:
            src.unlink()
        except OSError as exc:
            raise self._fail("delete", key, exc) from exc
        _fsync_dir(src.parent)
        return new_key
