"""Fixtures of the compatibility matrix: each S3 server started once per
session, filled once, and s3wsgi served by waitress in front of it.

The servers come from tox's ``compat`` environment, which sets
RUN_COMPAT_TESTS; every other run leaves these tests out (a server that is
missing there fails, it is not skipped).
"""

from __future__ import annotations

import os

import pytest
from compat_servers import SERVERS
from compat_site import BUCKET, fill_bucket

collect_ignore_glob = [] if os.environ.get("RUN_COMPAT_TESTS") == "1" else ["test_*.py"]


@pytest.fixture(scope="session", params=list(SERVERS))
def s3_server(request):
    """One server of the matrix, holding BUCKET; stopped at the end."""
    server = SERVERS[request.param]()
    try:
        client = server.client()
        try:
            fill_bucket(client)
        finally:
            client.close()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["boto3", "obstore"])
def store_kind(request):
    """Which store the middleware uses; every cell runs on each."""
    return request.param


@pytest.fixture
def server_keys(s3_server, monkeypatch):
    """The server's keys in the environment, where both stores read them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    # These servers issue no session tokens.
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server


@pytest.fixture
def site(server_keys, store_kind, serve):
    """The base URL of a host app with S3Middleware on BUCKET at ``/docs``."""
    from sample_site import host_app

    from s3wsgi import S3Middleware

    middleware = S3Middleware(
        host_app,
        bucket=BUCKET,
        endpoint_url=server_keys.endpoint,
        region_name="us-east-1",
        addressing_style="path",
        store=store_kind,
        server_threads=8,
    )
    return serve(middleware, threads=8)
