"""S3Store against real moto servers: configuration, failures, secrets, restarts."""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError
from helpers import free_port
from s3server import MotoS3, S3Bucket

from leap.errors import ObjectExistsError, StoreError
from leap.store import ObjectStore, S3Options, S3Store, open_store
from leap.store.s3_errors import is_exists_conflict

# Fixtures s3_server and s3_bucket come from tests/s3server.py, no_aws_env from conftest.
pytestmark = pytest.mark.usefixtures("no_aws_env")

KEY_ID = "AKIALEAKCHECK0000001"
SECRET = "leak-check-secret-Zq9"
TOKEN = "leak-check-token-Qx7"
FAST = {"max_attempts": 2, "connect_timeout": 1.0, "read_timeout": 3.0}


@pytest.fixture(scope="module")
def auth_server() -> Iterator[tuple[MotoS3, str]]:
    """A separate moto process that checks credentials; yields it and one real key id.

    moto lets the first N requests through unchecked: we use those two to create an IAM
    user and its access key, so a later request can carry a known key with a wrong secret.
    """
    with MotoS3("process", env={"INITIAL_NO_AUTH_ACTION_COUNT": "2"}) as server:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="leap")
        key_id = iam.create_access_key(UserName="leap")["AccessKey"]["AccessKeyId"]
        yield server, key_id


def assert_clean_sentence(exc: BaseException, *secrets: str) -> str:
    """The message is one sentence and neither it nor any rendering shows a secret."""
    message = str(exc)
    assert message.endswith(".") and "\n" not in message
    assert not re.search(r"[.!?]\s+\S", message), f"more than one sentence: {message}"
    renderings = [message, repr(exc), "".join(traceback.format_exception(exc))]
    for secret in secrets:
        for text in renderings:
            assert secret not in text
    return message


def timed(call: Callable[[], object]) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        call()
    return info.value, time.monotonic() - start


def test_objects_live_under_the_prefix(s3_bucket: S3Bucket) -> None:
    a = open_store(s3_bucket.url("team/a"), s3_options=s3_bucket.options)
    b = open_store(s3_bucket.url("team/b"), s3_options=s3_bucket.options)
    a.put_once("r1/run.json", b"A")
    b.put_once("r1/run.json", b"B")
    assert a.list("") == ["r1/run.json"] and b.list("") == ["r1/run.json"]
    raw = s3_bucket.client().list_objects_v2(Bucket=s3_bucket.name)["Contents"]
    assert sorted(o["Key"] for o in raw) == ["team/a/r1/run.json", "team/b/r1/run.json"]
    body = s3_bucket.client().get_object(Bucket=s3_bucket.name, Key="team/a/r1/run.json")
    assert body["Body"].read() == b"A"


def test_bucket_root_without_prefix(s3_bucket: S3Bucket) -> None:
    store = open_store(s3_bucket.url(), s3_options=s3_bucket.options)
    store.put_once("x/y", b"1")
    assert store.list("x/") == ["x/y"]
    assert s3_bucket.client().head_object(Bucket=s3_bucket.name, Key="x/y")


def test_settings_from_environment(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)  # overridden by the S3-specific variable
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_bucket.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    store = open_store(s3_bucket.url("env"))
    store.check()
    store.put_once("k", b"from env")
    assert store.get("k") == b"from env"
    assert s3_bucket.endpoint in repr(store)


def test_missing_bucket(s3_server: MotoS3) -> None:
    store = open_store("s3://leap-no-such-bucket-4711/runs", s3_options=s3_server.options())
    for call in (store.check, lambda: store.put_once("k", b"x"), lambda: store.list("")):
        with pytest.raises(StoreError) as info:
            call()
        message = assert_clean_sentence(info.value)
        assert "leap-no-such-bucket-4711" in message and "does not exist" in message
        assert s3_server.endpoint in message
        assert "create it" in message


def test_a_run_in_a_missing_bucket_names_the_bucket(s3_server: MotoS3) -> None:
    """`leap status` / `leap resume` on a wrong bucket must not just say "no run"."""
    from leap.runs import RunStore

    store = open_store("s3://leap-no-such-bucket-4711/runs", s3_options=s3_server.options())
    with pytest.raises(StoreError) as info:
        RunStore(store, "nightly-1").read_spec()
    message = assert_clean_sentence(info.value)
    assert "leap-no-such-bucket-4711" in message and "does not exist" in message


def _operations(store: ObjectStore) -> list[Callable[[], object]]:
    return [
        store.check,
        lambda: store.get("r1/run.json"),
        lambda: store.put_once("r1/run.json", b"x"),
        lambda: store.list("r1/"),
        lambda: store.exists("r1/run.json"),
    ]


@pytest.mark.slow  # starts its own moto server
@pytest.mark.parametrize("known_key", [False, True], ids=["unknown-key", "wrong-secret"])
def test_bad_credentials_are_named_not_shown(
    auth_server: tuple[MotoS3, str], known_key: bool
) -> None:
    server, real_key_id = auth_server
    key_id = real_key_id if known_key else KEY_ID
    opts = S3Options(
        endpoint_url=server.endpoint,
        region="us-east-1",
        access_key_id=key_id,
        secret_access_key=SECRET,
        session_token=None if known_key else TOKEN,
    )
    store = open_store("s3://some-bucket/runs", s3_options=opts)
    for call in _operations(store):
        with pytest.raises(StoreError) as info:
            call()
        message = assert_clean_sentence(info.value, KEY_ID, real_key_id, SECRET, TOKEN)
        assert not isinstance(info.value, ObjectExistsError)
        assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message
        assert "s3://some-bucket/runs" in message


@pytest.mark.slow  # starts its own moto server
def test_bad_credentials_from_environment(
    auth_server: tuple[MotoS3, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = auth_server
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    store = open_store("s3://some-bucket/runs")
    assert KEY_ID not in repr(store) and SECRET not in repr(store)
    with pytest.raises(StoreError) as info:
        store.check()
    assert "AWS_ACCESS_KEY_ID" in assert_clean_sentence(info.value, KEY_ID, SECRET, TOKEN)


def test_unknown_profile_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-here")
    with pytest.raises(StoreError) as info:
        open_store("s3://some-bucket/runs")
    assert "AWS_PROFILE" in assert_clean_sentence(info.value)


def test_unreachable_endpoint_fails_fast() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    opts = S3Options(
        endpoint_url=endpoint, access_key_id=KEY_ID, secret_access_key=SECRET, session_token=TOKEN
    )
    store = open_store("s3://some-bucket/runs", s3_options=opts)
    for call in _operations(store):
        exc, seconds = timed(call)
        message = assert_clean_sentence(exc, KEY_ID, SECRET, TOKEN)
        assert "unreachable" in message and endpoint in message
        assert seconds < 30


@pytest.mark.slow  # starts its own moto server
def test_stopped_server_then_restart_resumes() -> None:
    """Thread mode: the server dies mid-run, calls fail fast, a restart keeps the data."""
    with MotoS3() as server:
        bucket = server.create_bucket()
        store = open_store(f"s3://{bucket}/runs", s3_options=server.options(**FAST))
        store.put_once("r1/problems/p1/round-000.parquet", b"round 0")

        server.stop()
        for call in (
            store.check,
            lambda: store.get("r1/problems/p1/round-000.parquet"),
            lambda: store.put_once("r1/problems/p1/round-001.parquet", b"round 1"),
        ):
            exc, seconds = timed(call)
            assert "unreachable" in assert_clean_sentence(exc)
            assert seconds < 30

        server.start()
        assert server.endpoint in repr(store)  # same port after the restart
        assert store.list("r1/") == ["r1/problems/p1/round-000.parquet"]
        assert store.get("r1/problems/p1/round-000.parquet") == b"round 0"
        store.put_once("r1/problems/p1/round-001.parquet", b"round 1")
        assert len(store.list("r1/problems/p1/round-")) == 2


@pytest.mark.slow  # starts its own moto server
def test_process_server_restarts_on_same_port_but_empty() -> None:
    """Process mode: a restart is a fresh moto, so the bucket is gone (documented)."""
    with MotoS3("process") as server:
        port = server.port
        bucket = server.create_bucket()
        store = open_store(f"s3://{bucket}", s3_options=server.options(**FAST))
        store.put_once("k", b"v")
        server.stop()
        exc, seconds = timed(store.check)
        assert "unreachable" in str(exc) and seconds < 30
        server.start()
        assert server.port == port
        with pytest.raises(StoreError) as info:
            store.check()
        assert "does not exist" in str(info.value)


def test_store_is_an_s3store(s3_bucket: S3Bucket) -> None:
    store = open_store(s3_bucket.url("x"), s3_options=s3_bucket.options)
    assert isinstance(store, S3Store)
    assert store.url == f"s3://{s3_bucket.name}/x"


@pytest.mark.parametrize(
    ("code", "status", "conflict"),
    [
        ("PreconditionFailed", 412, True),
        ("ConditionalRequestConflict", 409, True),
        ("NoSuchBucket", 404, False),
        ("AccessDenied", 403, False),
    ],
)
def test_write_once_conflict_codes(code: str, status: int, conflict: bool) -> None:
    error = ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )
    assert is_exists_conflict(error) is conflict
