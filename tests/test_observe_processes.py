"""Metrics across processes and without them: under gunicorn's workers the
series add up (PROMETHEUS_MULTIPROC_DIR), and with metrics off nothing of
prometheus-client is imported, whatever else is turned on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_observe import Scrape, fetch
from wsgi_call import call

from s3wsgi import S3Middleware

TESTS = Path(__file__).resolve().parent


def python(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )


def test_without_metrics_nothing_of_prometheus_client_is_imported(bucket, s3_endpoint):
    result = python(
        """
        import http.client, sys
        from appserver import AppServer
        from sample_site import host_app
        from s3wsgi import S3Middleware
        from s3wsgi.cli import build_parser
        from s3wsgi.observe.endpoints import Endpoints

        bucket, endpoint = sys.argv[1:]
        servers = []
        for store in ("boto3", "obstore"):
            docs = S3Middleware(
                host_app, bucket=bucket, endpoint_url=endpoint, store=store,
                server_timing=True, cache_max_bytes=1 << 20,
            )
            servers.append(AppServer(Endpoints(docs, mounts=[docs], health_path="/healthz")))
        build_parser().parse_args(["serve", "--bucket", bucket, "--health-path", "/h"])
        statuses = []
        for server in servers:
            for path in ("/docs/digits.txt", "/docs/digits.txt", "/docs/nothing", "/healthz"):
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                connection.request("GET", path)
                answer = connection.getresponse()
                answer.read()
                statuses.append(answer.status)
                connection.close()
            server.close()
        print(statuses)
        print(sorted(name for name in sys.modules if "prometheus" in name))
        """,
        bucket,
        s3_endpoint,
    )
    assert result.returncode == 0, result.stderr
    statuses, imported = result.stdout.splitlines()
    assert statuses == str([200, 200, 404, 200] * 2)
    assert imported == "[]"


def test_metrics_without_prometheus_client_say_which_extra_to_install(bucket, s3_endpoint):
    result = python(
        """
        import sys
        sys.modules["prometheus_client"] = None  # as if it were not installed
        from s3wsgi import S3Middleware
        from s3wsgi.cli import main

        try:
            S3Middleware(None, bucket="docs", metrics=True)
        except ImportError as error:
            print(error)
        bucket, endpoint = sys.argv[1:]
        args = ["serve", "--bucket", bucket, "--endpoint-url", endpoint, "--prefix", "/site"]
        sys.exit(main([*args, "--metrics-path", "/metrics"]))
        """,
        bucket,
        s3_endpoint,
    )
    assert result.returncode == 1
    assert "install s3wsgi's 'metrics' extra" in result.stdout
    assert result.stderr.endswith(
        "s3wsgi: --metrics-path needs prometheus-client: install s3wsgi's 'metrics' extra\n"
    )


APP = """
import os

from sample_site import host_app
from s3wsgi import S3Middleware
from s3wsgi.observe.endpoints import Endpoints

docs = S3Middleware(
    host_app,
    bucket=os.environ["OBSERVED_BUCKET"],
    endpoint_url=os.environ["OBSERVED_ENDPOINT"],
    metrics=True,
    cache_max_bytes=1 << 20,
    variants=False,
)
endpoints = Endpoints(docs, mounts=[docs], metrics_path="/metrics", health_path="/healthz")


def app(environ, start_response):
    # Which worker answered.
    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Worker", str(os.getpid()))], exc_info)

    return endpoints(environ, start)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path, bucket, s3_endpoint):
    """Two gunicorn workers serving APP with PROMETHEUS_MULTIPROC_DIR; their URL."""
    (tmp_path / "observed_app.py").write_text(APP)
    values = tmp_path / "metrics"
    values.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--chdir", str(tmp_path), "--workers", "2"]
        + ["--threads", "2", "--bind", f"127.0.0.1:{port}", "observed_app:app"],
        env={
            **os.environ,
            "PYTHONPATH": str(TESTS),
            "PROMETHEUS_MULTIPROC_DIR": str(values),
            "OBSERVED_BUCKET": bucket,
            "OBSERVED_ENDPOINT": s3_endpoint,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(url, "/")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_under_gunicorn_every_workers_counts_add_up(gunicorn, bucket, s3_endpoint):
    workers: dict[str, int] = {}  # pid -> answers
    while len(workers) < 2 or min(workers.values()) < 2:
        status, headers, body = fetch(gunicorn, "/docs/digits.txt")
        assert (status, body) == (200, b"0123456789")
        workers[headers["x-worker"]] = workers.get(headers["x-worker"], 0) + 1
        assert sum(workers.values()) < 400, "one worker answered everything"
    answered = sum(workers.values())
    # What one process keeps of the object, counted against the cache's bound.
    alone = S3Middleware(
        None, bucket=bucket, endpoint_url=s3_endpoint, cache_max_bytes=1 << 20, variants=False
    )
    assert call(alone, "/docs/digits.txt").code == 200
    kept = alone.store.cached_bytes

    # A worker writes its counts every second: wait for the other's.
    labels = {"mount": "/docs"}
    deadline = time.monotonic() + 10
    while Scrape(gunicorn).total("s3wsgi_requests_total", **labels) != answered:
        assert time.monotonic() < deadline, "the workers' counts never added up"
        time.sleep(0.2)
    scrapers = set()
    for _ in range(20):  # whichever worker answers a scrape reads them all
        status, headers, _ = fetch(gunicorn, "/metrics")
        scrapers.add(headers["x-worker"])
        metrics = Scrape(gunicorn)
        assert metrics("s3wsgi_requests_total", **labels, kind="object", status_class="2xx") == (
            answered
        )
        assert metrics("s3wsgi_sent_bytes_total", **labels) == 10 * answered
        assert metrics("s3wsgi_cache_lookups_total", **labels, result="miss") == 2  # one each
        assert metrics("s3wsgi_cache_lookups_total", **labels, result="hit") == answered - 2
        assert metrics("s3wsgi_s3_requests_total", **labels, operation="get", outcome="ok") == 2
        assert metrics("s3wsgi_cache_size_bytes", **labels) == 2 * kept  # livesum
        assert metrics("s3wsgi_breaker_state", **labels) == 0  # livemax
        assert metrics("s3wsgi_time_to_first_byte_seconds_count", **labels) == answered
    assert scrapers <= set(workers)
