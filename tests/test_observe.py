"""What s3wsgi tells an operator, over real HTTP: the Prometheus series after
a known mix of requests and S3 faults, the Server-Timing header, and the
log line of each S3 fault.

client -> waitress -> Endpoints (/metrics) -> mounts -> moto's S3 server,
directly, through a fault proxy, or a server that answers one S3 error.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from urllib.parse import urlsplit

import pytest
from faultproxy import CannedS3, FaultProxy
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from s3wsgi.observe.endpoints import Endpoints
from s3wsgi.stores.faults import scrubbed

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0


def fetch(url: str, path: str, method: str = "GET", headers=None):
    """(status, headers, body) of one request on a new connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


class Scrape:
    """The samples of one read of /metrics, by name and labels."""

    def __init__(self, url: str):
        status, headers, body = fetch(url, "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        self.samples: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def __call__(self, name: str, **labels) -> float:
        """A sample's value; 0 for a series not yet there."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, sample_labels), value in self.samples.items()
            if sample == name and wanted <= sample_labels
        )


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def canned():
    with CannedS3(503, "SlowDown") as server:
        yield server


@pytest.fixture
def observed(make_middleware, serve, registry, clock):
    """``observed(*mounts_options)`` -> (base URL, [middlewares]): one mount
    per options dict, nested, the first outermost, with /metrics in front;
    every mount counts in ``registry`` and measures time by ``clock``."""

    def start(*mounts_options):
        app, mounts = None, []
        for options in reversed(mounts_options):
            options = {"metrics": registry, "variants": False, "clock": clock, **options}
            middleware = (
                make_middleware(**options) if app is None else make_middleware(app, **options)
            )
            mounts.insert(0, middleware)
            app = middleware
        front = Endpoints(app, mounts=mounts, metrics_path="/metrics", registry=registry)
        return serve(front), mounts

    return start


def faulty(proxy: FaultProxy, **options) -> dict:
    """A mount reaching S3 through ``proxy``, on short timeouts."""
    return {
        "prefix": "/faulty",
        "endpoint_url": proxy.url,
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "max_attempts": MAX_ATTEMPTS,
        "breaker_failures": 100,
        **options,
    }


# -- the series --


def test_every_answer_and_every_s3_request_is_counted_by_mount_kind_and_outcome(
    observed, proxy, canned
):
    url, _ = observed(
        {"prefix": "/docs"},
        faulty(proxy),
        {"prefix": "/canned", "endpoint_url": canned.url, "max_attempts": MAX_ATTEMPTS},
    )
    sent = []  # the body bytes the client received, per mount

    def ask(path, method="GET", headers=None):
        status, answer_headers, body = fetch(url, path, method, headers)
        if method != "HEAD":
            sent.append((path.split("/")[1], len(body)))
        return status, answer_headers

    status, headers = ask("/docs/digits.txt")
    assert status == 200
    etag = headers["etag"]
    assert ask("/docs/digits.txt", headers={"Range": "bytes=2-5"})[0] == 206
    assert ask("/docs/digits.txt", headers={"If-None-Match": etag})[0] == 304
    assert ask("/docs/digits.txt", headers={"If-Match": '"nope"'})[0] == 412
    assert ask("/docs/digits.txt", headers={"Range": "bytes=100-200"})[0] == 416
    assert ask("/docs/guide")[0] == 301
    assert ask("/docs/nothing.txt")[0] == 404
    assert ask("/docs/digits.txt", "HEAD")[0] == 200
    assert ask("/docs/digits.txt", "OPTIONS")[0] == 204
    proxy.set("refuse")
    assert ask("/faulty/style.css")[0] == 502
    proxy.set("stall")
    assert ask("/faulty/index.html")[0] == 504
    proxy.set("pass")
    assert ask("/canned/index.html")[0] == 503

    metrics = Scrape(url)
    requests = "s3wsgi_requests_total"
    docs = {"mount": "/docs"}
    assert metrics(requests, **docs, kind="object", status_class="2xx") == 2
    assert metrics(requests, **docs, kind="range", status_class="2xx") == 1
    assert metrics(requests, **docs, kind="not_modified", status_class="3xx") == 1
    assert metrics(requests, **docs, kind="redirect", status_class="3xx") == 1
    assert metrics(requests, **docs, kind="options", status_class="2xx") == 1
    assert metrics(requests, **docs, kind="error", status_class="4xx") == 3
    assert metrics.total(requests, **docs) == 9
    assert metrics(requests, mount="/faulty", kind="error", status_class="5xx") == 2
    assert metrics.total(requests, mount="/faulty") == 2
    assert metrics(requests, mount="/canned", kind="error", status_class="5xx") == 1
    assert metrics.total(requests, mount="/canned") == 1

    s3 = "s3wsgi_s3_requests_total"
    expected = {
        ("/docs", "get", "ok"): 2,  # the whole object, the range
        ("/docs", "get", "not_modified"): 1,
        ("/docs", "get", "precondition"): 1,
        ("/docs", "get", "range"): 1,
        ("/docs", "get", "not_found"): 2,  # guide, nothing.txt
        ("/docs", "head", "ok"): 2,  # guide/index.html, HEAD digits.txt
        ("/docs", "head", "not_found"): 1,  # nothing.txt/index.html
        ("/faulty", "get", "error"): MAX_ATTEMPTS,  # refused
        ("/faulty", "get", "timeout"): MAX_ATTEMPTS,  # stalled
        ("/canned", "get", "throttled"): MAX_ATTEMPTS,
    }
    for (mount, operation, outcome), count in expected.items():
        assert metrics(s3, mount=mount, operation=operation, outcome=outcome) == count, (
            mount,
            operation,
            outcome,
        )
    for mount in ("/docs", "/faulty", "/canned"):
        assert metrics.total(s3, mount=mount) == sum(
            count for (where, _, _), count in expected.items() if where == mount
        )
    assert canned.requests == MAX_ATTEMPTS  # what the S3 server itself saw

    # One observation per S3 request and per answer; the stalled ones waited
    # out the read timeout each.
    duration = "s3wsgi_s3_request_duration_seconds"
    assert metrics(duration + "_count", mount="/docs", operation="get") == 7
    assert metrics(duration + "_count", mount="/docs", operation="head") == 3
    assert metrics(duration + "_count", mount="/faulty", operation="get") == 2 * MAX_ATTEMPTS
    assert metrics(duration + "_sum", mount="/faulty", operation="get") >= MAX_ATTEMPTS * (
        READ_TIMEOUT - 0.05
    )
    first_byte = "s3wsgi_time_to_first_byte_seconds"
    for mount, answers in (("/docs", 9), ("/faulty", 2), ("/canned", 1)):
        assert metrics(first_byte + "_count", mount=mount) == answers
        assert metrics(first_byte + "_bucket", mount=mount, le="+Inf") == answers

    for mount in ("/docs", "/faulty", "/canned"):
        bytes_received = sum(length for where, length in sent if where == mount[1:])
        assert metrics("s3wsgi_sent_bytes_total", mount=mount) == bytes_received
        assert metrics("s3wsgi_breaker_state", mount=mount) == 0
        assert metrics("s3wsgi_breaker_refused_total", mount=mount) == 0
        assert metrics("s3wsgi_bound_refused_total", mount=mount) == 0


def test_the_cache_counts_hits_misses_revalidations_evictions_and_its_bytes(observed, clock):
    # Room for one small object only, fresh for half a second.
    url, (docs,) = observed({"cache_max_bytes": 1000, "cache_ttl": 0.5})
    assert fetch(url, "/docs/digits.txt")[0] == 200  # miss: read and kept
    assert fetch(url, "/docs/digits.txt")[0] == 200  # hit
    assert fetch(url, "/docs/digits.txt", "HEAD")[0] == 200  # hit
    metrics = Scrape(url)
    assert metrics("s3wsgi_cache_size_bytes", mount="/docs") == docs.store.cached_bytes > 0
    assert fetch(url, "/docs/style.css")[0] == 200  # miss: style.css evicts digits.txt
    assert len(docs.store) == 1 and "style.css" in docs.store
    clock.advance(0.6)
    assert fetch(url, "/docs/style.css")[0] == 200  # stale: revalidated (S3's 304)

    metrics = Scrape(url)
    lookups = "s3wsgi_cache_lookups_total"
    assert metrics(lookups, mount="/docs", result="hit") == 2
    assert metrics(lookups, mount="/docs", result="miss") == 2
    assert metrics(lookups, mount="/docs", result="revalidation") == 1
    assert metrics("s3wsgi_cache_evictions_total", mount="/docs") == 1
    assert metrics("s3wsgi_cache_size_bytes", mount="/docs") == docs.store.cached_bytes > 0
    s3 = "s3wsgi_s3_requests_total"
    assert metrics(s3, mount="/docs", operation="get", outcome="ok") == 2
    assert metrics(s3, mount="/docs", operation="get", outcome="not_modified") == 1
    assert metrics.total(s3, mount="/docs") == 3


def test_the_breaker_state_and_what_it_refused(observed, proxy, clock):
    url, _ = observed(faulty(proxy, breaker_failures=2, breaker_cooldown=1.0))
    proxy.set("refuse")
    # Two requests without an answer open the breaker, however many attempts
    # each made: the second opens it, and its own retry is refused by it.
    assert fetch(url, "/faulty/style.css")[0] == 502
    assert Scrape(url)("s3wsgi_breaker_state", mount="/faulty") == 0  # closed still
    assert fetch(url, "/faulty/digits.txt")[0] == 503
    assert fetch(url, "/faulty/index.html")[0] == 503  # refused at once
    metrics = Scrape(url)
    assert metrics("s3wsgi_breaker_state", mount="/faulty") == 2  # open
    assert metrics("s3wsgi_breaker_refused_total", mount="/faulty") == 2
    s3 = "s3wsgi_s3_requests_total"
    # The first request's attempts, and the second's first.
    assert metrics(s3, mount="/faulty", operation="get", outcome="error") == MAX_ATTEMPTS + 1
    assert metrics.total(s3, mount="/faulty") == MAX_ATTEMPTS + 1

    proxy.set("pass")
    clock.advance(1.1)  # the cool-down: the next request is the breaker's probe
    assert fetch(url, "/faulty/style.css")[0] == 200
    metrics = Scrape(url)
    assert metrics("s3wsgi_breaker_state", mount="/faulty") == 0  # closed again
    assert metrics(s3, mount="/faulty", operation="get", outcome="ok") == 1


def test_requests_the_bound_on_s3_requests_refused_are_counted(observed, proxy):
    url, (mount,) = observed(faulty(proxy, max_s3_requests=1, server_threads=4, max_attempts=1))
    proxy.set("stall")
    holder = threading.Thread(target=fetch, args=(url, "/faulty/index.html"))
    holder.start()  # holds the one S3 turn until its read timeout
    deadline = time.monotonic() + 5
    while mount.bulkhead.inside < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the holder has the turn: no guess at how long
    assert mount.bulkhead.inside == 1
    assert fetch(url, "/faulty/style.css")[0] == 503
    holder.join()
    metrics = Scrape(url)
    assert metrics("s3wsgi_bound_refused_total", mount="/faulty") == 1
    assert (
        metrics("s3wsgi_s3_requests_total", mount="/faulty", operation="get", outcome="timeout")
        == 1
    )
    assert metrics("s3wsgi_requests_total", mount="/faulty", kind="error", status_class="5xx") == 2


def test_s3_latency_and_time_to_first_byte_land_in_their_buckets(observed, proxy):
    url, _ = observed(faulty(proxy, read_timeout=5.0))
    proxy.set("latency", delay=0.3)  # each S3 request held back 0.3 s
    assert fetch(url, "/faulty/digits.txt")[0] == 200
    metrics = Scrape(url)
    duration = "s3wsgi_s3_request_duration_seconds"
    assert metrics(duration + "_bucket", mount="/faulty", operation="get", le="0.25") == 0
    assert metrics(duration + "_bucket", mount="/faulty", operation="get", le="+Inf") == 1
    assert 0.3 <= metrics(duration + "_sum", mount="/faulty", operation="get") < 5
    first_byte = "s3wsgi_time_to_first_byte_seconds"
    assert metrics(first_byte + "_bucket", mount="/faulty", le="0.25") == 0
    assert metrics(first_byte + "_sum", mount="/faulty") >= metrics(
        duration + "_sum", mount="/faulty", operation="get"
    )


# -- Server-Timing --


def test_server_timing_is_off_by_default(observed):
    url, _ = observed({})
    assert "server-timing" not in fetch(url, "/docs/digits.txt")[1]


def test_server_timing_tells_the_time_spent_on_s3(observed, proxy):
    url, _ = observed(faulty(proxy, server_timing=True, read_timeout=5.0))
    proxy.set("latency", delay=0.3)
    status, headers, _ = fetch(url, "/faulty/digits.txt")
    assert status == 200
    name, duration = headers["server-timing"].split(";dur=")
    assert name == "s3" and 300 <= float(duration) < 5000  # no cache: no cache entry


def test_server_timing_says_what_the_cache_did_on_every_claimed_answer(observed):
    url, _ = observed({"server_timing": True, "cache_max_bytes": 1 << 20, "fallthrough": True})

    def timing(path, **headers):
        status, answer_headers, _ = fetch(url, path, headers=headers)
        return status, answer_headers.get("server-timing")

    status, first = timing("/docs/digits.txt")
    assert status == 200 and first.startswith("s3;dur=") and first.endswith(", cache;desc=miss")
    assert float(first.split("dur=")[1].split(",")[0]) > 0
    etag = fetch(url, "/docs/digits.txt")[1]["etag"]
    assert timing("/docs/digits.txt") == (200, "s3;dur=0.0, cache;desc=hit")
    assert timing("/docs/digits.txt", Range="bytes=0-1") == (206, "s3;dur=0.0, cache;desc=hit")
    assert timing("/docs/digits.txt", **{"If-None-Match": etag}) == (
        304,
        "s3;dur=0.0, cache;desc=hit",
    )
    status, redirect = timing("/docs/guide")
    assert status == 301 and redirect.startswith("s3;dur=")
    # Handed on to the app (fallthrough): not the middleware's answer.
    status, passed = timing("/docs/nothing.txt")
    assert status == 200 and passed is None
    status, outside = timing("/elsewhere")
    assert status == 200 and outside is None


# -- the log line of each S3 fault --


def s3_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "s3wsgi" and hasattr(r, "s3_outcome")]


def test_each_s3_fault_is_one_structured_line_with_the_request_id(observed, proxy, caplog):
    caplog.set_level(logging.DEBUG, logger="s3wsgi")
    url, _ = observed(faulty(proxy, max_attempts=2))
    proxy.set("refuse")
    hostile = "req-42 <script>\"forged'"
    status = fetch(url, "/faulty/style.css", headers={"X-Request-ID": hostile})[0]
    assert status == 502
    first, last = s3_lines(caplog)
    assert (first.levelno, last.levelno) == (logging.WARNING, logging.ERROR)
    for record, attempt in ((first, 1), (last, 2)):
        assert record.s3_operation == "GetObject"
        assert record.s3_key == "style.css"
        assert record.s3_outcome == "error"
        assert record.s3_exception  # the class of what refused it
        assert (record.attempt, record.max_attempts) == (attempt, 2)
        assert 0 <= record.elapsed_ms < (CONNECT_TIMEOUT + 1) * 1000
        assert record.request_id == "req-42scriptforged"
        line = record.getMessage()
        assert line.startswith("S3 GetObject ") and "\n" not in line
        assert f"attempt={attempt}/2" in line and "key=style.css" in line
        assert "request_id=" in line
    assert "retry=yes" in first.getMessage() and "retry=no" in last.getMessage()


def test_s3s_own_words_are_in_the_line_and_a_missing_key_is_debug(observed, canned, bucket, caplog):
    caplog.set_level(logging.DEBUG, logger="s3wsgi")
    canned.status, canned.code = 500, "InternalError"
    url, _ = observed(
        {"prefix": "/docs"},
        {"prefix": "/canned", "endpoint_url": canned.url, "max_attempts": 1},
    )
    assert fetch(url, "/canned/index.html")[0] == 502
    assert fetch(url, "/docs/nothing.txt")[0] == 404
    failed, missing, missing_index = s3_lines(caplog)
    assert failed.levelno == logging.ERROR
    assert (failed.s3_status, failed.s3_code) == (500, "InternalError")
    assert failed.s3_request_id == CannedS3.request_id
    assert failed.s3_message == "canned InternalError message"
    assert f"bucket={bucket}" in failed.getMessage()
    assert 'message="canned InternalError message"' in failed.getMessage()
    assert missing.levelno == missing_index.levelno == logging.DEBUG
    assert (missing.s3_operation, missing.s3_key, missing.s3_outcome) == (
        "GetObject",
        "nothing.txt",
        "not_found",
    )
    assert missing.s3_status == 404 and missing.s3_code == "NoSuchKey"
    assert (missing_index.s3_operation, missing_index.s3_key) == (
        "HeadObject",
        "nothing.txt/index.html",
    )
    assert "retry" not in missing.getMessage()


def test_no_credential_reaches_a_log_line(observed, canned, proxy, caplog, monkeypatch):
    key_id, secret = "AKIAOBSERVETESTKEY01", "observe/Secret+Value0123456789abcdefghijk"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "observe-session-token")
    caplog.set_level(logging.DEBUG, logger="s3wsgi")
    canned.status, canned.code = 403, "SignatureDoesNotMatch"
    url, _ = observed(
        faulty(proxy, max_attempts=1),
        {"prefix": "/canned", "endpoint_url": canned.url, "max_attempts": 1},
    )
    proxy.set("reset")
    assert fetch(url, "/faulty/index.html")[0] == 502
    assert fetch(url, "/canned/index.html")[0] == 502
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in s3_lines(caplog))
    assert len(s3_lines(caplog)) == 2
    for secret_part in (key_id, secret, "observe-session-token", "Signature=", "Credential="):
        assert secret_part not in text


def test_scrubbing_removes_signed_queries_and_signing_values():
    text = (
        'Could not connect to "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA1%2F2'
        '&X-Amz-Signature=abc123" Authorization: AWS4-HMAC-SHA256 Credential=AKIA1/x,'
        " Signature=deadbeef x-amz-security-token=tok\n\nmore"
    )
    clean = scrubbed(text)
    for secret in ("AKIA1", "abc123", "deadbeef", "tok ", "\n"):
        assert secret not in clean
    assert "https://b.s3.amazonaws.com/k?[removed]" in clean
    assert len(scrubbed("x" * 1000)) == 300


# -- counting without locks --


def test_concurrent_requests_are_all_counted(observed):
    # No bound on S3 requests: this counts answers, and every one is a 200.
    url, _ = observed({"cache_max_bytes": 1 << 20, "max_s3_requests": 0})
    clients, each = 8, 25

    def client():
        for _ in range(each):
            assert fetch(url, "/docs/digits.txt")[0] == 200

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics = Scrape(url)
    labels = {"mount": "/docs"}
    assert metrics("s3wsgi_requests_total", **labels, kind="object", status_class="2xx") == 200
    assert metrics("s3wsgi_time_to_first_byte_seconds_count", **labels) == 200
    assert metrics("s3wsgi_sent_bytes_total", **labels) == 200 * 10
    assert metrics.total("s3wsgi_cache_lookups_total", **labels) == 200


def test_counts_outlive_the_threads_that_made_them(make_middleware, registry):
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from s3wsgi.observe.metrics import TALLY

    class ThreadPerRequest(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    docs = make_middleware(metrics=registry, variants=False, cache_max_bytes=1 << 20)
    app = Endpoints(docs, mounts=[docs], metrics_path="/metrics", registry=registry)
    server = make_server("127.0.0.1", 0, app, ThreadPerRequest, Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        before = len(TALLY._threads)
        for _ in range(30):
            assert fetch(url, "/docs/digits.txt")[0] == 200
        time.sleep(0.2)  # the last request's thread ends
        metrics = Scrape(url)
        assert (
            metrics("s3wsgi_requests_total", mount="/docs", kind="object", status_class="2xx") == 30
        )
        assert len(TALLY._threads) <= before + 2  # not one set of counts per thread
    finally:
        server.shutdown()
        server.server_close()


def test_a_listing_is_counted_as_an_s3_list(observed, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="files/a.txt", Body=b"a")
    url, _ = observed({"listing": True})
    assert fetch(url, "/docs/files/")[0] == 200
    metrics = Scrape(url)
    assert metrics("s3wsgi_s3_requests_total", mount="/docs", operation="list", outcome="ok") == 1


def test_mounts_sharing_one_store_count_each_its_own(make_middleware, serve, registry, proxy):
    # Two sites of one bucket share one store (its cache and its breaker):
    # what it does for a request counts for that request's mount, and its
    # breaker's state shows under both.
    shared = {"cache_max_bytes": 1 << 20, "breaker_failures": 2, "breaker_cooldown": 30.0}
    app = make_middleware(
        mounts={"/docs": {}, "/manual": {}},
        metrics=registry,
        variants=False,
        **faulty(proxy, **shared),
    )
    docs, manual = sorted(app.mounts, key=lambda mount: mount.prefix)
    assert docs.store is manual.store  # one store, as docs/hosted.rst says
    url = serve(Endpoints(app, mounts=app.mounts, metrics_path="/metrics", registry=registry))

    assert fetch(url, "/docs/digits.txt")[0] == 200  # miss
    assert fetch(url, "/docs/digits.txt")[0] == 200  # hit
    assert fetch(url, "/docs/nothing.txt")[0] == 404
    assert fetch(url, "/manual/style.css")[0] == 200  # miss
    metrics = Scrape(url)
    s3 = "s3wsgi_s3_requests_total"
    assert metrics(s3, mount="/docs", operation="get", outcome="ok") == 1
    assert metrics(s3, mount="/docs", operation="get", outcome="not_found") == 1
    assert metrics(s3, mount="/docs", operation="head", outcome="not_found") == 1
    assert metrics(s3, mount="/manual", operation="get", outcome="ok") == 1
    assert metrics.total(s3, mount="/manual") == 1
    lookups = "s3wsgi_cache_lookups_total"
    assert metrics(lookups, mount="/docs", result="hit") == 1
    assert metrics(lookups, mount="/manual", result="hit") == 0
    assert metrics(lookups, mount="/manual", result="miss") == 1
    # digits.txt twice, nothing.txt and the folder check's nothing.txt/index.html
    assert metrics.total(lookups, mount="/docs") == 4

    proxy.set("refuse")
    # Two requests without an answer open the breaker, one per mount: the
    # second opens it, and its own retry is refused by it.
    assert fetch(url, "/manual/index.html")[0] == 502
    assert fetch(url, "/docs/index.html")[0] == 503
    assert fetch(url, "/manual/guide/intro.html")[0] == 503  # refused at once
    metrics = Scrape(url)
    assert metrics(s3, mount="/manual", operation="get", outcome="error") == MAX_ATTEMPTS
    assert metrics(s3, mount="/docs", operation="get", outcome="error") == 1
    assert metrics("s3wsgi_breaker_refused_total", mount="/manual") == 1
    assert metrics("s3wsgi_breaker_refused_total", mount="/docs") == 1
    for mount in ("/docs", "/manual"):
        assert metrics("s3wsgi_breaker_state", mount=mount) == 2  # open, for both
