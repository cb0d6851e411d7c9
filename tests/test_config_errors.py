"""A mistake in s3wsgi's configuration is loud (docs/errors.rst): a 502,
never a 404; never retried nor counted by the circuit breaker; logged at
ERROR once, with what to set, not once per request.

Over real HTTP, both stores: client -> waitress -> the middleware -> moto's
S3 server, a web server that is not S3, or no credentials at all (an
instance metadata service that answers 403, or none).
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import uuid

import pytest
from test_breaker import fetch

REQUESTS = 3


class Answering:
    """A loopback web server answering every request with ``status`` and
    ``body`` as ``content_type``; ``requests`` counts them."""

    def __init__(self, status: int, body: bytes, content_type: str):
        self.requests = 0
        answering = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                answering.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def answering():
    servers = []

    def start(status, body, content_type):
        server = Answering(status, body, content_type)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: a connection there is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_loud(url: str, app, caplog, *, says: str) -> None:
    """Each request a clean 502; one ERROR line, saying what to set."""
    caplog.set_level(logging.DEBUG, logger="s3wsgi")
    answers = [fetch(url, f"/docs/page-{n}.html") for n in range(REQUESTS)]
    assert [status for status, _, _ in answers] == [502] * REQUESTS
    assert all(len(body) < 64 and b"Error" not in body for _, _, body in answers)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    told = [line for line in errors if "advice=" in line]
    assert len(told) == 1, errors
    assert says in told[0]
    # Not a breaker count: one request in a row would have opened it.
    assert app.store.breaker.state == "closed"


def without_credentials(monkeypatch, metadata_url: str) -> None:
    """No credentials in the environment, and the instance metadata service
    (boto3's name for it, and obstore's) at ``metadata_url``."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata_url + "/")
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", metadata_url)


@pytest.mark.parametrize("metadata", ["answers-403", "unreachable", "disabled"])
def test_no_credentials_is_a_502_said_once_with_the_variables_to_set(
    make_middleware, serve, answering, monkeypatch, caplog, metadata
):
    if metadata == "answers-403":
        without_credentials(monkeypatch, answering(403, b"", "text/plain").url)
    else:
        without_credentials(monkeypatch, closed_port_url())
    if metadata == "disabled":
        # boto3 asks no metadata service then (obstore asks it anyway:
        # refused here).
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    app = make_middleware(breaker_failures=1, max_attempts=3)
    url = serve(app)
    assert_loud(url, app, caplog, says="AWS_ACCESS_KEY_ID")


def test_a_missing_bucket_is_a_502_said_once_naming_the_option(make_middleware, serve, caplog):
    app = make_middleware(bucket=f"no-such-{uuid.uuid4().hex[:12]}", breaker_failures=1)
    url = serve(app)
    assert_loud(url, app, caplog, says="bucket option")


def test_an_endpoint_that_is_not_s3_is_a_502_never_a_404(make_middleware, serve, answering, caplog):
    page = b"<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>"
    web = answering(404, page, "text/html; charset=utf-8")
    app = make_middleware(endpoint_url=web.url, breaker_failures=1, max_attempts=3)
    url = serve(app)
    assert_loud(url, app, caplog, says="S3WSGI_ENDPOINT_URL")
    # Never tried again: the manifest and the object once each, at most.
    assert web.requests <= 2 * REQUESTS


def test_s3_access_denied_on_a_missing_key_stays_a_404(make_middleware, serve, answering):
    # S3's answer when s3:ListBucket is not granted: the key is missing.
    denied = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
        b"<Message>Access Denied</Message><RequestId>R1</RequestId></Error>"
    )
    s3 = answering(403, denied, "application/xml")
    url = serve(make_middleware(endpoint_url=s3.url, breaker_failures=1))
    assert [fetch(url, f"/docs/page-{n}.html")[0] for n in range(REQUESTS)] == [404] * REQUESTS


def test_the_health_check_says_the_configuration_is_wrong(
    make_middleware, serve, answering, monkeypatch
):
    from s3wsgi.observe.health import Health

    without_credentials(monkeypatch, answering(403, b"", "text/plain").url)
    url = serve(Health([make_middleware()]))
    status, _, body = fetch(url, "/")
    assert status == 503
    assert body.decode() == (
        "unavailable: /docs: s3wsgi's configuration is wrong (the log says what to set)\n"
    )
