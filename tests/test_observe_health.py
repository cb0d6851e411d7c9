"""The health check over real HTTP, and ``s3wsgi serve``'s metrics and health
endpoints: traffic proves S3 up, a probe at most once per interval, 503
while S3 does not answer or the breaker is open; paths under the served
prefix refused."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry
from running import Running
from test_observe import Scrape, fetch

from s3wsgi.observe.endpoints import Endpoints


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def checked(make_middleware, proxy, serve, registry, clock):
    """``checked(interval, **options)`` -> base URL: the bucket under /docs
    through the proxy, /healthz and /metrics in front."""

    def start(interval: float, **options):
        options = {
            "endpoint_url": proxy.url,
            "metrics": registry,
            "variants": False,
            "connect_timeout": 0.5,
            "read_timeout": 1.0,
            "breaker_failures": 100,
            **options,
        }
        docs = make_middleware(clock=clock, **options)
        app = Endpoints(
            docs,
            mounts=[docs],
            metrics_path="/metrics",
            health_path="/healthz",
            health_interval=interval,
            registry=registry,
        )
        return serve(app)

    return start


def health(url: str) -> tuple[int, str]:
    status, headers, body = fetch(url, "/healthz")
    assert headers["cache-control"] == "no-store"
    return status, body.decode()


def s3_requests(url: str, **labels) -> float:
    return Scrape(url).total("s3wsgi_s3_requests_total", **labels)


def test_without_traffic_one_probe_per_interval(checked, clock):
    url = checked(interval=0.5)
    assert health(url) == (200, "ok: S3 answered a probe\n")
    assert s3_requests(url, operation="head", outcome="ok") == 1  # HeadObject index.html
    status, text = health(url)
    assert status == 200 and text.startswith("ok: S3 answered ")
    assert s3_requests(url) == 1
    clock.advance(0.6)
    assert health(url) == (200, "ok: S3 answered a probe\n")
    assert s3_requests(url) == 2


def test_traffic_proves_health_without_a_probe(checked):
    url = checked(interval=5.0)
    assert fetch(url, "/docs/digits.txt")[0] == 200
    status, text = health(url)
    assert status == 200 and re.fullmatch(r"ok: S3 answered \d+\.\d s ago\n", text)
    assert s3_requests(url) == 1  # the client's GetObject only
    assert fetch(url, "/docs/nothing.txt")[0] == 404  # a missing key is S3 answering too
    assert health(url)[0] == 200
    assert s3_requests(url, operation="head") == 1  # nothing.txt/index.html, not a probe


def test_s3_down_is_503_and_probes_stay_once_per_interval(checked, proxy, clock):
    url = checked(interval=0.5)
    proxy.set("reset")
    assert health(url) == (503, "unavailable: /docs: S3 did not answer a probe (502)\n")
    assert s3_requests(url, operation="head", outcome="error") == 1  # one attempt
    assert health(url)[0] == 503  # the last probe's result, S3 not asked
    assert s3_requests(url) == 1
    proxy.set("pass")
    clock.advance(0.6)
    assert health(url) == (200, "ok: S3 answered a probe\n")


def test_an_open_breaker_is_503_without_asking_s3_until_its_probe(checked, proxy, clock):
    url = checked(interval=5.0, breaker_failures=1, breaker_cooldown=1.0)
    assert fetch(url, "/docs/digits.txt")[0] == 200  # S3 answered a moment ago
    proxy.set("reset")
    assert fetch(url, "/docs/style.css")[0] == 503  # one failure opens the breaker
    asked = s3_requests(url)
    assert health(url) == (503, "unavailable: /docs: the circuit breaker is open\n")
    assert s3_requests(url) == asked
    assert Scrape(url)("s3wsgi_breaker_state", mount="/docs") == 2
    proxy.set("pass")
    clock.advance(1.1)  # the cool-down: the check's probe is the breaker's
    assert health(url) == (200, "ok: S3 answered a probe\n")
    assert s3_requests(url) == asked + 1
    assert Scrape(url)("s3wsgi_breaker_state", mount="/docs") == 0


def test_the_health_check_answers_head_and_refuses_other_methods(checked):
    url = checked(interval=5.0)
    status, _, body = fetch(url, "/healthz", "HEAD")
    assert (status, body) == (200, b"")
    status, headers, _ = fetch(url, "/healthz", "POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ({"metrics_path": "/docs/metrics"}, "metrics_path /docs/metrics is under the served"),
        ({"health_path": "/docs"}, "health_path /docs is under the served prefix /docs"),
        ({"health_path": "healthz"}, "health_path must be an absolute path"),
        ({"metrics_path": "/x", "health_path": "/x"}, "must differ"),
    ],
)
def test_endpoint_paths_a_mount_claims_are_refused(make_middleware, registry, paths, message):
    docs = make_middleware(metrics=registry)
    with pytest.raises(ValueError, match=re.escape(message)):
        Endpoints(docs, mounts=[docs], registry=registry, **paths)


# -- s3wsgi serve --


class Serving(Running):
    """``python -m s3wsgi serve ...`` in the background, its output read as it comes."""

    def __init__(self, *args: str):
        super().__init__([sys.executable, "-m", "s3wsgi", "serve", *args])

    def url(self, pattern: str) -> str:
        """The URL in the first line of output that matches ``pattern``."""
        return self.wait_for(re.compile(pattern + r" (http://127\.0\.0\.1:\d+)")).group(1)


@pytest.fixture
def serving():
    started = []

    def start(*args: str) -> Serving:
        started.append(Serving(*args))
        return started[-1]

    yield start
    for running in started:
        try:
            assert running.stop() == 0
        finally:
            running.close()


def test_serve_counts_in_metrics_and_checks_health_on_its_port(serving, bucket, s3_endpoint):
    server = serving(
        *("--bucket", bucket, "--endpoint-url", s3_endpoint, "--port", "0"),
        *("--prefix", "/site", "--metrics-path", "/metrics", "--health-path", "/healthz"),
        *("--server-timing", "yes"),
    )
    url = server.url("serving bucket .* on")
    assert server.url("metrics at") == url and server.url("health check at") == url
    status, headers, body = fetch(url, "/site/digits.txt")
    assert (status, body) == (200, b"0123456789")
    assert headers["server-timing"].startswith("s3;dur=")
    metrics = Scrape(url)
    assert metrics("s3wsgi_requests_total", mount="/site", kind="object", status_class="2xx") == 1
    assert metrics("s3wsgi_sent_bytes_total", mount="/site") == 10
    assert fetch(url, "/healthz")[0] == 200


def test_serve_on_an_admin_port_takes_any_path(serving, bucket, s3_endpoint):
    server = serving(
        *("--bucket", bucket, "--endpoint-url", s3_endpoint, "--port", "0", "--admin-port", "0"),
        *("--metrics-path", "/metrics", "--health-path", "/healthz"),
    )
    site = server.url("serving bucket .* on")
    admin = server.url("metrics at")
    assert admin != site and server.url("health check at") == admin
    assert fetch(site, "/digits.txt")[0] == 200
    assert fetch(site, "/metrics")[0] == 404  # the bucket's key "metrics": there is none
    assert fetch(admin, "/healthz")[0] == 200
    assert Scrape(admin)("s3wsgi_requests_total", mount="/", kind="error", status_class="4xx") == 1
    assert fetch(admin, "/digits.txt")[0] == 404


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--metrics-path", "/metrics"),
            "--metrics-path /metrics is under the served prefix /: a key of the bucket would"
            " be hidden",
        ),
        (("--prefix", "/site", "--health-path", "/site/ok"), "--health-path /site/ok is under"),
        (("--prefix", "/site", "--health-path", "healthz"), "--health-path must be an absolute"),
        (("--admin-port", "9"), "--admin-port serves nothing without --metrics-path"),
        (("--admin-port", "0", "--health-interval", "0", "--health-path", "/h"), "positive"),
    ],
)
def test_serve_refuses_endpoints_it_cannot_serve(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "s3wsgi", "serve", "--bucket", "docs", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_serve_reads_the_endpoints_from_variables(serving, bucket, s3_endpoint, monkeypatch):
    monkeypatch.setenv("S3WSGI_HEALTH_PATH", "/healthz")
    monkeypatch.setenv("S3WSGI_PREFIX", "/site")
    server = serving("--bucket", bucket, "--endpoint-url", s3_endpoint, "--port", "0")
    url = server.url("health check at")
    assert fetch(url, "/healthz")[0] == 200
