"""Fixtures of the server tests: the sample site in a bucket for the whole
run, and gunicorn or uWSGI serving served_app.py in front of it."""

from __future__ import annotations

import uuid

import pytest
from sample_site import fill_bucket
from server_process import (
    GRANIAN_SETUPS,
    GUNICORN_SETUPS,
    UWSGI_SETUPS,
    ServerProcess,
    Setup,
    served_environ,
)


@pytest.fixture(scope="session")
def site_bucket(s3_client):
    """A bucket holding the sample site; its name."""
    name = f"servers-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    fill_bucket(s3_client, name)
    return name


class Servers:
    """Servers started for one test (or one module), all stopped by :meth:`stop`."""

    def __init__(self, bucket: str, endpoint: str, folder):
        self.bucket = bucket
        self.endpoint = endpoint
        self.folder = folder
        self.started: list[ServerProcess] = []

    def start(self, setup: Setup, **environ: str) -> ServerProcess:
        """The app served as ``setup`` says, ``environ`` added to its environment."""
        log = self.folder / f"{setup.id}-{len(self.started)}.log"
        # The middleware told the worker's threads, as docs/deployment.rst
        # says, and its bound on S3 requests as wide as them: it counts turns
        # but can refuse none, since a worker never has more requests than
        # threads. The default bound (3 of 4) keeps a thread for the app, and
        # on a machine too busy for S3 to answer within its grace it answers
        # 503 to a fourth S3 request (docs/safety.rst, tests/test_safety.py):
        # here, where clients count every answer that is not the expected one,
        # that would be a failure that none of these tests is about.
        # A green worker's bound is its connections: a request waiting on
        # S3 holds a greenlet, not a thread (docs/deployment.rst).
        threads = str(setup.concurrency)
        environ.setdefault("S3WSGI_SERVER_THREADS", threads)
        environ.setdefault("S3WSGI_MAX_S3_REQUESTS", threads)
        environ = served_environ(self.bucket, self.endpoint, setup.store, **environ)
        server = ServerProcess(setup, environ, log)
        self.started.append(server)
        return server

    def stop(self) -> None:
        """Stop every server; fail if one left a process, or logged a
        traceback or a leak."""
        failures = []
        for server in self.started:
            try:
                server.stop()
            except AssertionError as failure:
                failures.append(str(failure))
        for server in self.started:
            if server.troubles():
                failures.append(f"{server.setup.id} logged:\n{server.log()}")
        assert not failures, "\n".join(failures)


@pytest.fixture
def start_server(site_bucket, s3_endpoint, tmp_path):
    """``start_server(setup, **environ)`` -> a running :class:`ServerProcess`,
    stopped after the test."""
    servers = Servers(site_bucket, s3_endpoint, tmp_path)
    yield servers.start
    servers.stop()


@pytest.fixture(
    scope="module",
    params=GUNICORN_SETUPS + UWSGI_SETUPS + GRANIAN_SETUPS,
    ids=lambda setup: setup.id,
)
def served(request, site_bucket, s3_endpoint, tmp_path_factory):
    """One server per setup for a whole module's tests, in turn."""
    servers = Servers(site_bucket, s3_endpoint, tmp_path_factory.mktemp("served"))
    yield servers.start(request.param)
    servers.stop()
