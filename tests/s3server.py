"""A real S3 API on 127.0.0.1 for tests, served by moto, that can be stopped and restarted.

`MotoS3` runs in one of two modes; both keep their port across stop()/start(), so a
store opened before the stop works again after the restart:

* mode="thread" (default): moto's WSGI app on a werkzeug server in a background thread of
  the test process. moto keeps its buckets in module-level state, so buckets and objects
  SURVIVE stop()/start() - this is the mode for "server died mid-run, a later run resumes".
  Every in-process server shares that state (bucket names must be unique; `s3_bucket`
  uses random ones). stop() closes the listening socket, so clients get "connection
  refused" at once rather than hanging. moto checks `If-None-Match: *` and then stores the
  object without a lock, so two exactly simultaneous PUTs could both succeed; with
  serialize=True (default) requests are handled one at a time, which makes write-once
  atomic as it is on real S3.
* mode="process": `python -m moto.server -H 127.0.0.1 -p PORT` as a child process. Each
  start() is a FRESH server: stop() kills the process and every bucket is lost. Use it for
  a hard crash, or for server settings that are global in moto, e.g.
  env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"} to make it check credentials.

Fixtures: `s3_server` (one thread-mode server per session) and `s3_bucket` (a fresh
bucket per test, described by an `S3Bucket`). Neither sets any environment variable.
Tests that stop a server must start their own `MotoS3` instead of using `s3_server`.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from helpers import free_port
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from leap.store import S3Options

HOST = "127.0.0.1"
REGION = "us-east-1"
TEST_KEY_ID = "leap-test-key"
TEST_SECRET = "leap-test-secret"


class _OneAtATime:
    """WSGI wrapper that serves one request at a time (moto's conditional PUT is not atomic)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()


class MotoS3:
    """A moto S3 server on 127.0.0.1; see the module docstring for the two modes."""

    def __init__(
        self,
        mode: str = "thread",
        *,
        port: int = 0,
        env: dict[str, str] | None = None,
        serialize: bool = True,
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError(f"mode must be 'thread' or 'process', not {mode!r}")
        if env and mode == "thread":
            raise ValueError("env only applies to mode='process' (moto settings are global)")
        self.mode = mode
        self.port = port
        self.env = dict(env or {})
        self.serialize = serialize
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("the server has not been started yet")
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None or self._proc is not None

    def start(self) -> MotoS3:
        if self.running:
            return self
        if self.mode == "thread":
            self._start_thread()
        else:
            self._start_process()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
            self._log.close()

    def restart(self) -> MotoS3:
        self.stop()
        return self.start()

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_thread(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.serialize:
            app = _OneAtATime(app)
        self._server = make_server(
            HOST, self.port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _start_process(self) -> None:
        if not self.port:
            self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(self.env)
        self._log = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]
        self._proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._log.seek(0)
                output = self._log.read().decode(errors="replace")[-2000:]
                self._proc = None
                raise RuntimeError(f"moto_server exited at start:\n{output}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not listen on port {self.port} within 30 s")

    def client(self, key_id: str = TEST_KEY_ID, secret: str = TEST_SECRET, **kw: Any) -> Any:
        """A plain boto3 S3 client for arranging test data (not the code under test)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            **kw,
        )

    def options(self, **overrides: Any) -> S3Options:
        """S3Options pointing at this server with the test credentials."""
        fields: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region": REGION,
            "access_key_id": TEST_KEY_ID,
            "secret_access_key": TEST_SECRET,
        }
        fields.update(overrides)
        return S3Options(**fields)

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"leap-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


@dataclass
class S3Bucket:
    """A bucket on a running MotoS3, with what a test needs to open a store in it."""

    server: MotoS3
    name: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def options(self) -> S3Options:
        return self.server.options()

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.name}/{prefix}" if prefix else f"s3://{self.name}"

    def client(self) -> Any:
        return self.server.client()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3]:
    """One thread-mode moto server for the whole session; do not stop it in a test."""
    server = MotoS3().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: MotoS3) -> S3Bucket:
    """A fresh, empty bucket on the session server."""
    return S3Bucket(s3_server, s3_server.create_bucket())
