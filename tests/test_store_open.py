"""open_store URL handling and S3Options hygiene (no network needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leap.errors import LeapError
from leap.store import LocalStore, S3Options, S3Store, open_store

SECRET = "leak-check-secret-Zq9"
TOKEN = "leak-check-token-Qx7"
KEY_ID = "AKIALEAKCHECK0000001"


pytestmark = pytest.mark.usefixtures("no_aws_env")


def test_local_forms(tmp_path: Path) -> None:
    for url in (str(tmp_path / "runs"), (tmp_path / "runs").as_uri(), f"file://{tmp_path}/runs/"):
        store = open_store(url)
        assert isinstance(store, LocalStore)
        assert store.root == tmp_path / "runs"
        assert store.url == (tmp_path / "runs").as_uri()


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "shown"),
    [
        ("s3://my-bucket", "my-bucket", "", "s3://my-bucket"),
        ("s3://my-bucket/", "my-bucket", "", "s3://my-bucket"),
        ("s3://my-bucket/team/runs/", "my-bucket", "team/runs", "s3://my-bucket/team/runs"),
    ],
)
def test_s3_forms(url: str, bucket: str, prefix: str, shown: str) -> None:
    store = open_store(url)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.url) == (bucket, prefix, shown)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://x/y",
        "s3://",
        "s3:///prefix",
        "s3://UPPER/x",
        "file://otherhost/x",
        "gs://bucket/x",
        "s3://bucket/x?versionId=1",
    ],
)
def test_bad_urls_give_one_clear_sentence(url: str) -> None:
    with pytest.raises(LeapError) as info:
        open_store(url)
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message
    assert "s3://bucket/prefix" in message or "bucket" in message


def test_credentials_in_url_are_refused_without_echo() -> None:
    with pytest.raises(LeapError) as info:
        open_store(f"s3://{KEY_ID}:{SECRET}@bucket/prefix")
    assert SECRET not in str(info.value) and KEY_ID not in str(info.value)
    assert "AWS_ACCESS_KEY_ID" in str(info.value)
    with pytest.raises(LeapError) as info:
        open_store(f"ftp://user:{SECRET}@host/x")
    assert SECRET not in str(info.value)


def test_options_repr_hides_secrets() -> None:
    opts = S3Options(
        endpoint_url=f"http://user:{SECRET}@127.0.0.1:9000",
        region="eu-west-1",
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        session_token=TOKEN,
    )
    for text in (repr(opts), str(opts), f"{opts}", repr([opts])):
        assert SECRET not in text and TOKEN not in text and KEY_ID not in text
        assert "eu-west-1" in text and "127.0.0.1:9000" in text
    store = open_store("s3://bucket/p", s3_options=opts)
    assert SECRET not in repr(store) and KEY_ID not in repr(store)
    assert store.url == "s3://bucket/p"


def test_half_given_credentials_are_refused() -> None:
    with pytest.raises(LeapError) as info:
        open_store("s3://bucket/p", s3_options=S3Options(access_key_id=KEY_ID))
    assert KEY_ID not in str(info.value)
