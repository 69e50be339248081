"""Behaviour both store backends share, run against a local folder and a real moto S3."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from leap.errors import ObjectExistsError, StoreError
from leap.store import LocalStore, ObjectStore, S3Store, open_store

# The s3_bucket fixture (a real moto server) comes from tests/s3server.py.
pytestmark = pytest.mark.usefixtures("no_aws_env")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "runs"))
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(bucket.url("team/runs"), s3_options=bucket.options)


def test_backend_type_matches_url(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    expected = LocalStore if request.node.callspec.params["store"] == "local" else S3Store
    assert type(store) is expected
    assert isinstance(store, ObjectStore)
    store.check()


def test_put_once_then_get_roundtrip(store: ObjectStore) -> None:
    data = bytes(range(256)) * 17
    assert not store.exists("r1/problems/p1/round-000.parquet")
    store.put_once("r1/problems/p1/round-000.parquet", data)
    assert store.exists("r1/problems/p1/round-000.parquet")
    assert store.get("r1/problems/p1/round-000.parquet") == data


def test_empty_object_roundtrip(store: ObjectStore) -> None:
    store.put_once("r1/empty", b"")
    assert store.exists("r1/empty")
    assert store.get("r1/empty") == b""


def test_second_put_once_is_refused_and_keeps_first(store: ObjectStore) -> None:
    store.put_once("r1/run.json", b'{"spec": 1}')
    with pytest.raises(ObjectExistsError) as info:
        store.put_once("r1/run.json", b'{"spec": 2}')
    assert "r1/run.json" in str(info.value)
    assert store.get("r1/run.json") == b'{"spec": 1}'


@pytest.mark.parametrize("attempt", range(3))
def test_racing_put_once_has_exactly_one_winner(store: ObjectStore, attempt: int) -> None:
    key = f"race/round-{attempt:03d}.parquet"
    racers = 8
    barrier = threading.Barrier(racers)
    winners: list[int] = []
    losers: list[int] = []
    other_errors: list[BaseException] = []

    def write(i: int) -> None:
        barrier.wait()
        try:
            store.put_once(key, f"writer {i} ".encode() * 1000)
            winners.append(i)
        except ObjectExistsError:
            losers.append(i)
        except BaseException as exc:  # reported by the assertion below
            other_errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert other_errors == []
    assert len(winners) == 1
    assert len(losers) == racers - 1
    assert store.get(key) == f"writer {winners[0]} ".encode() * 1000


def test_list_is_sorted_and_filtered_by_prefix(store: ObjectStore) -> None:
    keys = [
        "r1/problems/p1/round-010.parquet",
        "r1/problems/p1/round-002.parquet",
        "r1/problems/p10/round-000.parquet",
        "r1/problems/p1/final.parquet",
        "r1/run.json",
        "r2/run.json",
    ]
    for key in keys:
        store.put_once(key, key.encode())
    assert store.list("r1/problems/p1/") == [
        "r1/problems/p1/final.parquet",
        "r1/problems/p1/round-002.parquet",
        "r1/problems/p1/round-010.parquet",
    ]
    # A prefix is a plain string prefix, as on S3: "p1" also matches "p10".
    assert store.list("r1/problems/p1") == sorted(k for k in keys if k.startswith("r1/problems/p1"))
    assert store.list("r1/problems/p1/round-") == [
        "r1/problems/p1/round-002.parquet",
        "r1/problems/p1/round-010.parquet",
    ]
    assert store.list("") == sorted(keys)
    assert store.list("r3/") == []
    assert store.list("nothing/here/") == []


def test_get_missing_names_the_key(store: ObjectStore) -> None:
    with pytest.raises(StoreError) as info:
        store.get("r1/problems/p9/round-004.parquet")
    assert not isinstance(info.value, ObjectExistsError)
    assert "r1/problems/p9/round-004.parquet" in str(info.value)
    assert "does not exist" in str(info.value)


def test_move_aside_keeps_bytes_and_frees_the_key(store: ObjectStore) -> None:
    key = "r1/problems/p1/round-003.parquet"
    store.put_once(key, b"not parquet at all")
    new_key = store.move_aside(key, "failed to parse: bad magic bytes")

    assert new_key.startswith(key + ".corrupt-")
    assert new_key.endswith("Z")
    assert not store.exists(key)
    assert store.get(new_key) == b"not parquet at all"
    note = store.get(new_key + ".reason.txt").decode()
    assert "bad magic bytes" in note and key in note
    # The round can now be recomputed and written once again.
    store.put_once(key, b"good bytes")
    assert store.get(key) == b"good bytes"
    assert store.list("r1/problems/p1/round-003") == sorted([key, new_key, new_key + ".reason.txt"])


def test_move_aside_twice_gives_distinct_names(store: ObjectStore) -> None:
    store.put_once("k", b"one")
    first = store.move_aside("k", "bad")
    store.put_once("k", b"two")
    second = store.move_aside("k", "bad again")
    assert first != second
    assert (store.get(first), store.get(second)) == (b"one", b"two")


def test_move_aside_of_missing_object_fails(store: ObjectStore) -> None:
    with pytest.raises(StoreError) as info:
        store.move_aside("r1/nope.parquet", "corrupt")
    assert "r1/nope.parquet" in str(info.value)


def test_put_replaces_derived_files(store: ObjectStore) -> None:
    store.put("r1/results/summary.json", b"v1")
    store.put("r1/results/summary.json", b"version two")
    assert store.get("r1/results/summary.json") == b"version two"
    assert store.list("r1/results/") == ["r1/results/summary.json"]


@pytest.mark.parametrize("bad", ["", "/abs/key", "a//b", "../escape", "a/./b", "a/", "a\\b"])
def test_bad_keys_are_refused(store: ObjectStore, bad: str) -> None:
    with pytest.raises(StoreError):
        store.put_once(bad, b"x")
    with pytest.raises(StoreError):
        store.get(bad)


def test_url_is_printable(store: ObjectStore, tmp_path: Path) -> None:
    if isinstance(store, LocalStore):
        assert store.url == (tmp_path / "runs").as_uri()
    else:
        assert store.url.startswith("s3://leap-test-") and store.url.endswith("/team/runs")
    assert open_store(store.url).url == store.url
