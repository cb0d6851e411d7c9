"""Shared fixtures: a real S3-speaking server (moto's), buckets on it, and
waitress serving an app on a free loopback port."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import boto3
import pytest
from appserver import AppServer
from faultproxy import FaultProxy
from manual_clock import ManualClock
from sample_site import fill_bucket, host_app

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


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of a moto S3 server on loopback, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


_MOTO_PROCESS = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="session")
def s3_process_endpoint():
    """The URL of a moto S3 server in a process of its own, for tests that
    time a server while S3 streams a lot: in this process, moto would take
    turns with the measuring client for the interpreter lock, and the
    client's figures would be moto's. It stops when its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", _MOTO_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stdin.close()
        process.stdout.close()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def s3_client(s3_endpoint):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client):
    """A fresh bucket holding SITE; its name."""
    name = f"site-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    fill_bucket(s3_client, name)
    return name


@pytest.fixture
def empty_bucket(s3_client):
    """A fresh bucket holding nothing: its name."""
    name = f"pub-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def client(s3_endpoint):
    """A boto3 client made as ``s3wsgi publish`` makes its own, one per test,
    so that its events are this test's."""
    from s3wsgi.publish.remote import make_client

    client = make_client(endpoint_url=s3_endpoint, region_name="us-east-1")
    yield client
    client.close()


@pytest.fixture
def stored(s3_client, bucket):
    """``stored(key)`` -> the object's bytes, read from S3 directly with boto3."""

    def read(key: str) -> bytes:
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()

    return read


@pytest.fixture
def proxy(s3_endpoint):
    """A :class:`faultproxy.FaultProxy` in front of moto's server: what S3
    does is set per test (``proxy.set("stall")``); ``proxy.url`` is the
    endpoint to give the middleware."""
    parts = urlsplit(s3_endpoint)
    with FaultProxy((parts.hostname, parts.port)) as proxy:
        yield proxy


@pytest.fixture(params=["boto3", "obstore"])
def store_kind(request):
    """Which store the middleware uses; every test taking it runs on each."""
    return request.param


@pytest.fixture
def clock():
    """A clock the test moves by hand: ``make_middleware(clock=clock)``."""
    return ManualClock()


@pytest.fixture
def make_middleware(bucket, s3_endpoint, store_kind):
    """``make_middleware(app=host_app, **options)``: S3Middleware on the test bucket."""
    from s3wsgi import S3Middleware

    def make(app=host_app, **options):
        options.setdefault("store", store_kind)
        if isinstance(options["store"], str):  # a ready store knows its bucket
            options.setdefault("bucket", bucket)
            options.setdefault("endpoint_url", s3_endpoint)
        return S3Middleware(app, **options)

    return make


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


# Fixtures that start a real server (moto's S3, waitress) or a subprocess:
# a test that uses none of them is in-process, and in the fast tier.
REAL_FIXTURES = frozenset({"s3_endpoint", "s3_process_endpoint", "serve", "proxy"})
# Files whose tests time a server under load: the full run (tox.ini) runs
# them alone, after the rest has run two at a time (pytest-xdist), so that
# no other test's load is in their figures.
SERIAL_FILES = frozenset(
    {
        "test_bound_load.py",
        "test_breaker.py",
        "test_resources.py",
        "test_safety.py",
        "test_slow_readers.py",
        "test_soak.py",
    }
)


def pytest_collection_modifyitems(config, items):
    """Mark every test that runs a real server ``real`` (``-m "not real"``
    is the fast tier: ``tox -e fast``)."""
    for item in items:
        if REAL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real)
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
