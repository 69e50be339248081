"""The store side of a fine-tuning: its config, checkpoints, metrics, report and model.

```
{root}/finetune/{name}/config.json                          the config and its hash; written once
{root}/finetune/{name}/checkpoints/checkpoint-{step}/...    the Trainer's files, each written once
{root}/finetune/{name}/checkpoints/checkpoint-{step}/complete.json   written last
{root}/finetune/{name}/metrics.jsonl                        one line per step; rewritten
{root}/finetune/{name}/report.html                          rewritten
{root}/finetune/{name}/model/...  and  model/complete.json  the final model, each file once
```

A folder (a checkpoint, the model) counts as present only when its `complete.json` is
there: that file is written after every other file of the folder and lists them with
their sizes, so a download can check what it got. A file larger than `PART_BYTES` is
stored as numbered parts (`optimizer.pt.part-00000`, ...), each one object: a single S3
PUT holds at most 5 GB, and a part is all a writer holds in memory. A folder that a
crash left without its `complete.json` is set aside (`ObjectStore.move_aside`) before
the training writes that folder again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leap.errors import LeapError, ObjectExistsError, StoreError
from leap.store import ObjectStore, open_store
from leap.store.base import CORRUPT_MARK, REASON_SUFFIX
from leap.training.finetune_config import FinetuneConfig
from leap.versions import library_versions

log = logging.getLogger("leap")

MARKER = "complete.json"
PART_BYTES = 1 << 30  # 1 GiB: far below S3's 5 GB for one PUT, small enough to hold
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
TRAINING_LIBRARIES = ("leap-pipeline", "torch", "transformers", "accelerate", "peft")


class TrainingStore:
    """The objects of one fine-tuning (`name`) in an object store."""

    def __init__(self, store: ObjectStore, name: str) -> None:
        self.store = store
        self.name = name
        self.root = f"finetune/{name}"

    @classmethod
    def open(cls, url: str, name: str) -> TrainingStore:
        return cls(open_store(url), name)

    def key(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def location(self, *parts: str) -> str:
        """Where an object is, for people: the store URL and the key."""
        return f"{self.store.url.rstrip('/')}/{self.key(*parts)}"

    # -- the config ---------------------------------------------------------------------

    def check_config(self, config: FinetuneConfig) -> bool:
        """Refuse `config` when this name holds a different one; True when it holds this one.

        Writes nothing.
        """
        key = self.key("config.json")
        if not self.store.exists(key):
            return False
        self._refuse_other(config, self._read_json(key))
        return True

    def create_or_check(self, config: FinetuneConfig) -> None:
        """Store the config, or refuse it when the name already holds a different one."""
        document = {
            "name": self.name,
            "config": config.model_dump(mode="json", exclude={"store", "out"}),
            "config_hash": config.content_hash(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(TRAINING_LIBRARIES),
        }
        try:
            self.store.put_once(self.key("config.json"), json.dumps(document, indent=2).encode())
        except ObjectExistsError:
            self._refuse_other(config, self._read_json(self.key("config.json")))

    def _refuse_other(self, config: FinetuneConfig, stored: dict[str, Any]) -> None:
        if stored.get("config_hash") == config.content_hash():
            return
        theirs = stored.get("config") or {}
        mine = config.decisive_fields()
        changed = [k for k in sorted(set(theirs) | set(mine)) if theirs.get(k) != mine.get(k)]
        raise LeapError(
            f"training {self.name!r} in {self.store.url} was started with another config "
            f"(changed: {', '.join(changed) or 'versions of the config'}): continue it with "
            "the config it was started with, or choose a new name."
        )

    def _read_json(self, key: str) -> dict[str, Any]:
        try:
            document = json.loads(self.store.get(key))
        except ValueError:
            raise LeapError(
                f"{self.store.url}/{key} is not valid JSON: the training's objects are damaged."
            ) from None
        if not isinstance(document, dict):
            raise LeapError(f"{self.store.url}/{key} does not hold a JSON object.")
        return document

    # -- checkpoints --------------------------------------------------------------------

    def checkpoint_steps(self) -> list[int]:
        """The steps of the complete checkpoints, in order."""
        steps = []
        for key in self.store.list(self.key("checkpoints") + "/"):
            parts = key[len(self.root) + 1 :].split("/")
            if len(parts) == 3 and parts[2] == MARKER and (m := _CHECKPOINT.match(parts[1])):
                steps.append(int(m.group(1)))
        return sorted(steps)

    def set_aside_incomplete(self) -> list[str]:
        """Move aside the files of every checkpoint (and model) folder a crash left without
        its `complete.json`; returns the folders set aside."""
        folders: dict[str, list[str]] = {}
        for key in self.store.list(self.root + "/"):
            rest = key[len(self.root) + 1 :]
            if CORRUPT_MARK in rest or rest.endswith(REASON_SUFFIX):
                continue
            parts = rest.split("/")
            if parts[0] == "checkpoints" and len(parts) >= 3:
                folders.setdefault("/".join(parts[:2]), []).append(key)
            elif parts[0] == "model" and len(parts) >= 2:
                folders.setdefault("model", []).append(key)
        damaged = []
        for folder, keys in sorted(folders.items()):
            if self.key(folder, MARKER) in keys:
                continue
            damaged.append(folder)
            log.warning(
                "%s has no %s (the training stopped while writing it); its %d file(s) are "
                "set aside",
                self.location(folder),
                MARKER,
                len(keys),
            )
            reason = "incomplete folder: the training stopped while it was written"
            for key in keys:
                self.store.move_aside(key, reason)
        return damaged

    def upload_checkpoint(self, folder: Path, step: int) -> None:
        upload_folder(self.store, folder, self.key("checkpoints", f"checkpoint-{step}"), step=step)

    def download_checkpoint(self, step: int, into: Path) -> Path:
        """The complete checkpoint of `step`, downloaded as `into/checkpoint-{step}`."""
        target = into / f"checkpoint-{step}"
        download_folder(self.store, self.key("checkpoints", f"checkpoint-{step}"), target)
        return target

    # -- the final model ----------------------------------------------------------------

    def model_complete(self) -> bool:
        return self.store.exists(self.key("model", MARKER))

    def upload_model(self, folder: Path, step: int) -> None:
        """Store the model folder; `folder` gets the same `complete.json` as the store."""
        marker = upload_folder(self.store, folder, self.key("model"), step=step)
        (folder / MARKER).write_text(json.dumps(marker, indent=2))

    def download_model(self, into: Path) -> None:
        download_folder(self.store, self.key("model"), into)

    # -- metrics and report -------------------------------------------------------------

    def read_metrics(self) -> list[dict[str, Any]]:
        key = self.key("metrics.jsonl")
        if not self.store.exists(key):
            return []
        rows = []
        for number, line in enumerate(self.store.get(key).decode().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                log.warning("%s line %d is not JSON; it is left out", self.location(key), number)
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        self.store.put(self.key("metrics.jsonl"), text.encode())

    def write_report(self, html: str) -> str:
        self.store.put(self.key("report.html"), html.encode())
        return self.location("report.html")

    def link(self, *parts: str) -> str:
        return self.store.link(self.key(*parts))


# -- folders as objects -------------------------------------------------------------------


def upload_folder(store: ObjectStore, folder: Path, prefix: str, **meta: Any) -> dict[str, Any]:
    """Every file under `folder` as objects under `prefix`, then `complete.json` listing them.

    Each object is written once; a file larger than `PART_BYTES` becomes numbered parts.
    Returns what `complete.json` holds.
    """
    files: dict[str, list[int]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MARKER:
            continue
        sizes = []
        size = path.stat().st_size
        parts = max(1, -(-size // PART_BYTES))
        with open(path, "rb") as fh:
            for index in range(parts):
                data = fh.read(PART_BYTES)
                name = relative if parts == 1 else f"{relative}.part-{index:05d}"
                store.put_once(f"{prefix}/{name}", data)
                sizes.append(len(data))
        files[relative] = sizes
    marker = {"files": files, **meta, "written_at": datetime.now(UTC).isoformat()}
    store.put_once(f"{prefix}/{MARKER}", json.dumps(marker, indent=2).encode())
    return marker


def download_folder(store: ObjectStore, prefix: str, target: Path) -> None:
    """The complete folder under `prefix` into `target`, which must not exist yet; the
    folder appears whole (downloaded beside it, then renamed) or not at all."""
    try:
        marker = json.loads(store.get(f"{prefix}/{MARKER}"))
        files = marker["files"]
    except (ValueError, KeyError, TypeError):
        raise LeapError(
            f"{store.url}/{prefix}/{MARKER} is damaged: the folder cannot be downloaded."
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for relative, sizes in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                for name, size in _part_names(relative, sizes):
                    data = store.get(f"{prefix}/{name}")
                    if len(data) != size:
                        raise StoreError(
                            f"{store.url}/{prefix}/{name} holds {len(data)} bytes where "
                            f"{MARKER} lists {size}: the stored folder is damaged."
                        )
                    fh.write(data)
        (staging / MARKER).write_text(json.dumps(marker, indent=2))
        os.rename(staging, target)  # fails if `target` exists: nothing is overwritten
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _part_names(relative: str, sizes: list[int]) -> Iterator[tuple[str, int]]:
    if len(sizes) == 1:
        yield relative, sizes[0]
        return
    for index, size in enumerate(sizes):
        yield f"{relative}.part-{index:05d}", size
