"""Where a reviewer opens a stored file (`RunStore.link`) and when a store wrote an object.

S3 runs against the real moto server of tests/s3server.py; the presigned URL is fetched
over HTTP with no credentials, as a browser would. (moto does not verify the signature
of a presigned URL, so that part rests on botocore: the test checks the URL's SigV4 form.)
"""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from s3server import TEST_SECRET, S3Bucket

from leap.errors import StoreError
from leap.runs import RunStore
from leap.store import LocalStore, open_store
from leap.store.base import LINK_SECONDS

pytestmark = pytest.mark.usefixtures("no_aws_env")

REPORT = b"<!DOCTYPE html>\n<html><body>a report</body></html>\n"
WEEK = 7 * 24 * 3600


def test_a_local_link_is_the_reports_file_uri(tmp_path: Path) -> None:
    root = tmp_path / "my runs"  # a space, which a URI must escape
    run = RunStore(LocalStore(root), "run-1")
    location = run.write_result("report.html", REPORT)
    link = run.link("results/report.html")
    assert link == (root / "run-1" / "results" / "report.html").as_uri() == location
    assert link.startswith("file:///") and " " not in link and "%20" in link
    with urllib.request.urlopen(link) as opened:  # what a browser on this machine reads
        assert opened.read() == REPORT


def test_an_s3_link_is_a_presigned_url_that_needs_no_credentials(s3_bucket: S3Bucket) -> None:
    store = open_store(s3_bucket.url("team/runs"), s3_options=s3_bucket.options)
    run = RunStore(store, "run-1")
    run.write_result("report.html", REPORT)
    link = run.link("results/report.html")
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    assert parts.scheme == "http" and f"{parts.scheme}://{parts.netloc}" == s3_bucket.endpoint
    assert parts.path == f"/{s3_bucket.name}/team/runs/run-1/results/report.html"
    assert query["X-Amz-Expires"] == [str(LINK_SECONDS)] and LINK_SECONDS == WEEK
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
    assert TEST_SECRET not in link
    response = httpx.get(link)
    assert response.status_code == 200
    assert response.content == REPORT


def test_a_local_store_tells_when_an_object_was_written(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    before = datetime.now(UTC)
    store.put_once("r/a.bin", b"a")
    when = store.stored_at("r/a.bin")
    assert when.tzinfo is not None
    assert before - timedelta(seconds=1) <= when <= datetime.now(UTC) + timedelta(seconds=1)
    with pytest.raises(StoreError, match="'r/b.bin' does not exist"):
        store.stored_at("r/b.bin")


def test_an_s3_store_tells_when_an_object_was_written(s3_bucket: S3Bucket) -> None:
    store = open_store(s3_bucket.url("t"), s3_options=s3_bucket.options)
    before = datetime.now(UTC)
    store.put_once("r/a.bin", b"a")
    when = store.stored_at("r/a.bin")
    # S3 keeps the time to the second.
    assert before - timedelta(seconds=2) <= when <= datetime.now(UTC) + timedelta(seconds=2)
    with pytest.raises(StoreError, match="'r/b.bin' does not exist"):
        store.stored_at("r/b.bin")
