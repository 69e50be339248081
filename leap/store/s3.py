"""Round store on any S3-compatible service, through boto3.

Write-once is a single `PutObject` with `If-None-Match: *`: the service refuses it with
412 (or 409 while a competing write is in flight) when the key exists, so exactly one
writer wins and nobody ever sees a partial object.
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from leap.errors import ObjectExistsError, StoreError
from leap.store.base import (
    LINK_SECONDS,
    REASON_SUFFIX,
    check_key,
    check_prefix,
    corrupt_key,
    reason_text,
)
from leap.store.s3_errors import S3Context, is_exists_conflict, is_missing, translate
from leap.store.s3_options import (
    S3Options,
    known_secrets,
    resolve_endpoint,
    resolve_region,
    safe_endpoint,
)

_S3_FAILURES = (ClientError, BotoCoreError)


class S3Store:
    """Objects under `s3://bucket/prefix`; keys are relative to the prefix."""

    def __init__(self, bucket: str, prefix: str = "", options: S3Options | None = None) -> None:
        opts = options or S3Options()
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        secrets = tuple(known_secrets(opts))
        endpoint = resolve_endpoint(opts)
        if bool(opts.access_key_id) != bool(opts.secret_access_key):
            raise StoreError(
                f"S3 options for {self.url} set only one of access_key_id and "
                "secret_access_key: give both or neither."
            )
        try:
            session = boto3.session.Session(
                aws_access_key_id=opts.access_key_id,
                aws_secret_access_key=opts.secret_access_key,
                aws_session_token=opts.session_token,
            )
            region = resolve_region(opts, session.region_name)
            self._client = session.client(
                "s3",
                endpoint_url=endpoint,
                region_name=region,
                config=_client_config(opts, custom_endpoint=endpoint is not None),
            )
        except BotoCoreError as exc:
            ctx = S3Context(self.url, bucket, str(safe_endpoint(endpoint)), "?", 0, secrets)
            raise translate(ctx, exc, "set up the S3 client") from None
        shown = safe_endpoint(endpoint) or f"the AWS endpoint for {region}"
        self._ctx = S3Context(self.url, bucket, shown, region, opts.max_attempts, secrets)

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self._ctx.endpoint!r})"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, exc: Exception, action: str, key: str | None = None) -> StoreError:
        return translate(self._ctx, exc, action, key)

    def check(self) -> None:
        """Verify the bucket exists and the credentials can reach it."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except _S3_FAILURES as exc:
            raise self._error(exc, f"reach bucket '{self.bucket}'") from None

    def put_once(self, key: str, data: bytes) -> None:
        full = self._key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if not is_exists_conflict(exc):
                raise self._error(exc, f"write object '{key}'") from None
            if _was_retried(exc) and self._holds(full, data):
                return  # our first attempt landed but its answer was lost
            raise ObjectExistsError(
                f"Object '{key}' already exists in {self.url} and is never overwritten."
            ) from None
        except BotoCoreError as exc:
            raise self._error(exc, f"write object '{key}'") from None

    def _holds(self, full_key: str, data: bytes) -> bool:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=full_key)["Body"].read()
        except _S3_FAILURES:
            return False
        return body == bytes(data)

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except _S3_FAILURES as exc:
            raise self._error(exc, f"write object '{key}'") from None

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read()
        except _S3_FAILURES as exc:
            raise self._error(exc, f"read object '{key}'", key) from None

    def exists(self, key: str) -> bool:
        # HEAD answers carry no error code, so a missing bucket also reads as "no such
        # object" here; `check()` is what reports a missing bucket.
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if is_missing(exc):
                return False
            raise self._error(exc, f"look up object '{key}'") from None
        except BotoCoreError as exc:
            raise self._error(exc, f"look up object '{key}'") from None
        return True

    def stored_at(self, key: str) -> datetime:
        # S3 keeps the time of the PUT to the second.
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except _S3_FAILURES as exc:
            raise self._error(exc, f"look up object '{key}'", key) from None
        return head["LastModified"].astimezone(UTC)

    def link(self, key: str) -> str:
        # Signing is local (no request); the URL carries the access key id and a signature,
        # never the secret. It is not logged here.
        try:
            return self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=LINK_SECONDS,
            )
        except _S3_FAILURES as exc:
            raise self._error(exc, f"make a link to object '{key}'") from None

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(root) :]
                    if name and not name.endswith("/"):
                        keys.append(name)
        except _S3_FAILURES as exc:
            raise self._error(exc, f"list objects under '{prefix}'") from None
        return sorted(keys)

    def move_aside(self, key: str, reason: str) -> str:
        """Keep a corrupt object as `{key}.corrupt-{UTC time}` and remove the original.

        This is the only operation that deletes a round object; the bytes survive under
        the new key (plus a `.reason.txt` note) so they can be inspected later.
        """
        full = self._key(key)
        new_key = corrupt_key(key)
        try:
            self._client.copy_object(
                Bucket=self.bucket,
                Key=self._key(new_key),
                CopySource={"Bucket": self.bucket, "Key": full},
            )
        except _S3_FAILURES as exc:
            raise self._error(exc, f"move aside object '{key}'", key) from None
        self.put_once(new_key + REASON_SUFFIX, reason_text(key, new_key, reason))
        try:
            self._client.delete_object(Bucket=self.bucket, Key=full)
        except _S3_FAILURES as exc:
            raise self._error(exc, f"delete object '{key}'") from None
        return new_key


def _was_retried(exc: ClientError) -> bool:
    return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0) > 0


def _client_config(opts: S3Options, *, custom_endpoint: bool) -> Config:
    extra = {}
    if custom_endpoint:
        # S3-compatible servers (MinIO, Ceph, moto) expect path-style URLs and may not
        # know the newer default checksums.
        extra = {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
    return Config(
        # Requests are signed with SigV4 anyway; presigned links would otherwise get the
        # older query signature, which most regions refuse.
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": max(1, opts.max_attempts)},
        connect_timeout=opts.connect_timeout,
        read_timeout=opts.read_timeout,
        **extra,
    )
