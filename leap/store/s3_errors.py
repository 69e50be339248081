"""Turn botocore failures into one-sentence StoreErrors that never carry a secret.

Server-provided messages are left out on purpose (some echo the access key id); only the
error code and HTTP status are quoted, and every message is scrubbed of known secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from leap.errors import StoreError
from leap.store.s3_options import CREDENTIAL_ENV_VARS, scrub

AUTH_CODES = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "TokenRefreshRequired",
}
REGION_CODES = {"301", "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocation"}
EXISTS_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


@dataclass(frozen=True)
class S3Context:
    """What an error message may mention about the store: never credentials."""

    url: str
    bucket: str
    endpoint: str  # already stripped of user:password@
    region: str
    attempts: int
    secrets: tuple[str, ...]


def client_error_code(exc: ClientError) -> tuple[str, int]:
    """The S3 error code and HTTP status of a ClientError."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_missing(exc: ClientError) -> bool:
    code, status = client_error_code(exc)
    return code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket")


def is_exists_conflict(exc: ClientError) -> bool:
    code, status = client_error_code(exc)
    return code in EXISTS_CODES or status == 412


def translate(ctx: S3Context, exc: Exception, action: str, key: str | None = None) -> StoreError:
    """Build the StoreError for `exc`, raised while doing `action` (e.g. 'read object x')."""
    message = scrub(_sentence(ctx, exc, action, key), list(ctx.secrets))
    return StoreError(message, transient=_transient(exc))


def _transient(exc: Exception) -> bool:
    """A server error or a lost connection may pass; refusals and missing buckets do not."""
    if isinstance(exc, ClientError):
        return client_error_code(exc)[1] >= 500
    return isinstance(exc, BotoConnectionError | ReadTimeoutError | ConnectionClosedError)


def _sentence(ctx: S3Context, exc: Exception, action: str, key: str | None) -> str:
    where = f"{ctx.url} at {ctx.endpoint}"
    if isinstance(exc, ClientError):
        code, status = client_error_code(exc)
        if code == "NoSuchBucket" or (key is None and status == 404):
            return (
                f"S3 bucket '{ctx.bucket}' does not exist at {ctx.endpoint}: "
                "create it or fix the store URL."
            )
        if key is not None and is_missing(exc):
            return f"Object '{key}' does not exist in {ctx.url}."
        if code in AUTH_CODES or status == 403:
            return (
                f"Access to {where} was refused ({code or status}) while trying to {action}: "
                f"check {CREDENTIAL_ENV_VARS} and the bucket's permissions."
            )
        if code in REGION_CODES or status == 301:
            return (
                f"S3 bucket '{ctx.bucket}' is not in region {ctx.region} ({code or status}): "
                "set AWS_REGION to the bucket's region."
            )
        if status >= 500:
            return (
                f"The S3 endpoint {ctx.endpoint} kept failing ({code}, HTTP {status}) after "
                f"{ctx.attempts} attempts to {action} in {ctx.url}: try again later."
            )
        return f"Could not {action} in {where}: the server answered {code} (HTTP {status})."
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"No usable S3 credentials were found for {ctx.url}: set {CREDENTIAL_ENV_VARS}."
    if isinstance(exc, ProfileNotFound):
        return "The AWS profile named in AWS_PROFILE does not exist: fix it or unset it."
    if isinstance(exc, BotoConnectionError | ReadTimeoutError | ConnectionClosedError):
        kind = "timed out" if "Timeout" in type(exc).__name__ else "could not connect"
        return (
            f"The S3 endpoint {ctx.endpoint} is unreachable ({kind} after {ctx.attempts} "
            f"attempts to {action} in {ctx.url}): check that the server is running and that "
            "the endpoint (AWS_ENDPOINT_URL) is right."
        )
    if isinstance(exc, BotoCoreError):
        return f"Could not {action} in {where}: {type(exc).__name__}."
    return f"Could not {action} in {where}: unexpected {type(exc).__name__}."
