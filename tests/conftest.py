"""Shared fixtures: a real S3-speaking server (moto's), buckets on it, and
waitress serving an app on a free loopback port."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid

import boto3
import pytest

# Never reach a real account from the tests, whatever the machine has.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)
# moto's server logs every request through werkzeug.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

SITE = {
    "index.html": (b"<html><link rel=stylesheet href=style.css><h1>Home</h1></html>", "text/html"),
    "style.css": (b"h1 { color: teal }\n", "text/css"),
    "guide/index.html": (b"<html><h1>Guide</h1><a href=../index.html>up</a></html>", "text/html"),
    "guide/intro.html": (b"<html><h1>Intro</h1></html>", "text/html"),
    "img/logo.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png"),
    "untyped.js": (b"console.log('hi');\n", "binary/octet-stream"),
    "caf\u00e9/menu.html": ("<p>caf\u00e9 \u2615</p>".encode(), "text/html"),
    "digits.txt": (b"0123456789", "text/plain"),
}


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of a moto S3 server on loopback, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def fill_bucket(client, bucket: str, site: dict | None = None) -> None:
    for key, (body, content_type) in (site or SITE).items():
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


@pytest.fixture
def bucket(s3_client):
    """A fresh bucket holding SITE; its name."""
    name = f"site-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    fill_bucket(s3_client, name)
    return name


def host_app(environ, start_response):
    """A stand-in for the wrapped app: says who answered, and what it saw."""
    body = f"host app: {environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(params=["boto3", "obstore"])
def store_kind(request):
    """Which store the middleware uses; every test taking it runs on each."""
    return request.param


@pytest.fixture
def make_middleware(bucket, s3_endpoint, store_kind):
    """``make_middleware(app=host_app, **options)``: S3Middleware on the test bucket."""
    from s3wsgi import S3Middleware

    def make(app=host_app, **options):
        options.setdefault("bucket", bucket)
        options.setdefault("endpoint_url", s3_endpoint)
        if store_kind != "boto3":
            options.setdefault("store", store_kind)
        return S3Middleware(app, **options)

    return make


class AppServer:
    """Serve a WSGI app with waitress on a free loopback port, in a thread."""

    def __init__(self, app, threads: int = 4, **adjustments):
        from waitress.server import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads, **adjustments)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        with contextlib.suppress(OSError):  # closed under its feet by close()
            self.server.run()

    def close(self):
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve():
    """``serve(app, threads=4, **waitress_adjustments)`` -> base URL of that app
    under waitress (e.g. ``url_prefix="/mount"`` sets SCRIPT_NAME); stopped
    after the test."""
    servers = []

    def start(app, **options):
        server = AppServer(app, **options)
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()
