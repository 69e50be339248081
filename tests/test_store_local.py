"""LocalStore specifics: temp files never linger, failures are clear StoreErrors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from leap.errors import ObjectExistsError, StoreError
from leap.store import LocalStore, open_store


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".tmp-" in p.name]


def test_files_land_where_keys_say(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "runs")
    store.put_once("r1/problems/p1/round-000.parquet", b"abc")
    assert (tmp_path / "runs/r1/problems/p1/round-000.parquet").read_bytes() == b"abc"
    assert leftovers(tmp_path) == []


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("./runs")
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "runs"
    store.put_once("a", b"1")
    monkeypatch.chdir("/")  # the store keeps pointing at the same folder
    assert store.get("a") == b"1"


def test_no_temp_files_after_conflict(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_once("k", b"first")
    with pytest.raises(ObjectExistsError):
        store.put_once("k", b"second")
    assert leftovers(tmp_path) == []
    assert store.list("") == ["k"]


def test_failed_sync_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StoreError) as info:
        store.put_once("r1/round-000.parquet", b"x" * 4096)
    assert "r1/round-000.parquet" in str(info.value)
    assert "No space left" in str(info.value)
    with pytest.raises(StoreError):
        store.put("r1/results/summary.json", b"{}")
    monkeypatch.undo()
    assert leftovers(tmp_path) == []
    assert not store.exists("r1/round-000.parquet")
    assert store.list("") == []


def test_data_that_cannot_be_written_leaves_nothing(tmp_path: Path) -> None:
    class Unwritable:
        """Not bytes-like: writing it raises inside the temp-file write."""

    store = LocalStore(tmp_path)
    with pytest.raises(TypeError):
        store.put_once("k", Unwritable())  # type: ignore[arg-type]
    assert leftovers(tmp_path) == []
    assert not store.exists("k")


def test_check_creates_the_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "a" / "b" / "runs")
    store.check()
    assert (tmp_path / "a/b/runs").is_dir()
    assert list((tmp_path / "a/b/runs").iterdir()) == []


def test_check_fails_clearly_when_folder_cannot_exist(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("I am a file")
    store = LocalStore(tmp_path / "a-file" / "runs")
    with pytest.raises(StoreError) as info:
        store.check()
    message = str(info.value)
    assert str(tmp_path / "a-file" / "runs") in message
    assert "\n" not in message and message.endswith(".")


def test_temp_files_are_not_listed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_once("r/a", b"1")
    (tmp_path / "r" / ".b.tmp-123").write_bytes(b"half written")
    assert store.list("r/") == ["r/a"]


def test_move_aside_on_disk(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_once("p/round-001.parquet", b"junk")
    new_key = store.move_aside("p/round-001.parquet", "bad footer")
    assert not (tmp_path / "p/round-001.parquet").exists()
    assert (tmp_path / new_key).read_bytes() == b"junk"


def test_status_reads_a_damaged_round_without_moving_it(tmp_path: Path) -> None:
    from leap.runs import RunStore

    run = RunStore(open_store(str(tmp_path)), "r1")
    damaged = tmp_path / "r1" / "problems" / "p1" / "round-000.parquet"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not parquet")
    [row] = run.progress()
    assert (row.problem_id, row.rounds, row.final) == ("p1", 0, False)
    assert damaged.read_bytes() == b"not parquet"  # status never changes the store
    assert run.load_rounds("p1") == []  # a solver sets it aside to recompute it
    assert not damaged.exists()
