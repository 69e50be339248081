"""Connection settings for an S3-compatible store, resolved from options and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_REGION = "us-east-1"
CREDENTIAL_ENV_VARS = "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or AWS_PROFILE"


@dataclass(frozen=True)
class S3Options:
    """Explicit S3 settings; any field left as None falls back to the standard AWS_* env vars.

    The repr only says whether a secret is set, never its value.
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    # Failure handling: a few quick attempts so a dead endpoint fails in seconds.
    max_attempts: int = 3
    connect_timeout: float = 3.0
    read_timeout: float = 20.0

    def __repr__(self) -> str:
        def hidden(value: str | None) -> str:
            return "None" if value is None else "'<set>'"

        return (
            f"S3Options(endpoint_url={safe_endpoint(self.endpoint_url)!r}, "
            f"region={self.region!r}, access_key_id={hidden(self.access_key_id)}, "
            f"secret_access_key={hidden(self.secret_access_key)}, "
            f"session_token={hidden(self.session_token)}, max_attempts={self.max_attempts}, "
            f"connect_timeout={self.connect_timeout}, read_timeout={self.read_timeout})"
        )

    __str__ = __repr__


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_endpoint(options: S3Options) -> str | None:
    """Endpoint from the options, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL."""
    return options.endpoint_url or _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def resolve_region(options: S3Options, profile_region: str | None) -> str:
    """Region from the options, AWS_REGION, AWS_DEFAULT_REGION, the profile, or us-east-1."""
    return (
        options.region
        or _env("AWS_REGION", "AWS_DEFAULT_REGION")
        or profile_region
        or DEFAULT_REGION
    )


def known_secrets(options: S3Options) -> list[str]:
    """Every secret value we could be holding, so messages can be scrubbed of them."""
    values = [options.access_key_id, options.secret_access_key, options.session_token]
    values += [_env(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    values += [_env("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")]
    return [v for v in values if v and len(v) >= 4]


def scrub(text: str, secrets: list[str]) -> str:
    """Replace any secret value appearing in `text` by '***'."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def safe_endpoint(endpoint: str | None) -> str | None:
    """The endpoint URL without any user:password@ part."""
    if not endpoint:
        return endpoint
    parts = urlsplit(endpoint)
    if parts.username is None and parts.password is None:
        return endpoint
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
