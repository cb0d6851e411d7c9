"""S3 trouble never becomes the host app's trouble, over real HTTP: a bound on
the threads S3 requests hold, a circuit breaker, a deadline per request.

client -> waitress (8 threads) -> the middleware, configured as docs/deployment.rst
says (``server_threads=8``) -> a fault proxy -> moto's S3 server.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

THREADS = 8
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
DEADLINE = 2.0  # the promised bound on a request's time on S3
COOLDOWN = 2.0
# What a busy two-core machine may add to a bound: thread switches, the
# bound's own grace for a turn, moto's pace.
SLACK = 1.0


def fetch(url: str, path: str, method: str = "GET", headers=None):
    """(status, headers, body, seconds) of one request on a new connection."""
    parts = urlsplit(url)
    started = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, body, time.monotonic() - started
    finally:
        connection.close()


@pytest.fixture
def guarded(make_middleware, proxy, serve):
    """``guarded(**options)`` -> (base URL, middleware): the host app with the
    bucket under /docs, reaching S3 through the proxy, on 8 threads."""

    def start(**options):
        options.setdefault("server_threads", THREADS)
        options.setdefault("connect_timeout", CONNECT_TIMEOUT)
        options.setdefault("read_timeout", READ_TIMEOUT)
        options.setdefault("deadline", DEADLINE)
        options.setdefault("breaker_cooldown", COOLDOWN)
        app = make_middleware(endpoint_url=proxy.url, **options)
        url = serve(app, threads=THREADS)
        # A first request reads the publish manifest (kept for a while), so
        # that each request below asks S3 once; on a busy machine moto may
        # take longer than the short read timeout to answer it.
        deadline = time.monotonic() + 30
        while fetch(url, "/docs/digits.txt")[0] != 200:
            assert time.monotonic() < deadline, "S3 never answered"
        return url, app

    return start


def test_a_hung_s3_leaves_the_host_app_its_threads_and_recovers_in_a_cooldown(
    guarded, proxy, caplog
):
    url, app = guarded()
    proxy.set("stall")  # S3 accepts connections and never answers

    with ThreadPoolExecutor(16) as pool:
        claimed = [pool.submit(fetch, url, f"/docs/page-{n}.html") for n in range(16)]
        full = time.monotonic() + 5
        while app.bulkhead.inside < app.bulkhead.limit and time.monotonic() < full:
            time.sleep(0.01)  # until every S3 turn is held: no guess at how long
        assert app.bulkhead.inside == app.bulkhead.limit
        status, _, body, host_seconds = fetch(url, "/")
        answers = [future.result() for future in claimed]
    print(f"host route answered in {host_seconds * 1000:.0f} ms while S3 hung")
    assert (status, body) == (200, b"host app: GET /")
    assert host_seconds < 1.0
    statuses = sorted(answer[0] for answer in answers)
    assert set(statuses) <= {503, 504}, statuses
    slowest = max(answer[3] for answer in answers)
    print(f"claimed answers {statuses}, the slowest in {slowest:.2f} s")
    assert slowest <= DEADLINE + SLACK
    # Over the bound: 503 at once, saying when to come back.
    refused = [answer for answer in answers if answer[0] == 503]
    assert refused and all("retry-after" in answer[1] for answer in refused)

    # S3 comes back: full service within one cool-down.
    proxy.set("pass")
    back = time.monotonic()
    while fetch(url, "/docs/digits.txt")[0] != 200:
        assert time.monotonic() - back <= COOLDOWN + SLACK, "no service after a cool-down"
        time.sleep(0.1)
    with ThreadPoolExecutor(8) as pool:
        again = list(pool.map(lambda n: fetch(url, "/docs/digits.txt")[0], range(32)))
    assert again == [200] * 32
    # Each turn is given back when the server closes the answer, just after
    # the client has read it.
    deadline = time.monotonic() + 5
    while app.bulkhead.inside and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.bulkhead.inside == 0


def test_the_breaker_opens_answers_503_without_asking_s3_then_probes_and_closes(
    guarded, proxy, caplog
):
    url, app = guarded(breaker_failures=3, max_attempts=1)
    caplog.set_level(logging.INFO, logger="s3wsgi")
    proxy.set("reset")  # every connection to S3 is reset at once
    for _ in range(3):
        assert fetch(url, "/docs/digits.txt")[0] == 502
    accepted = proxy.accepted
    status, headers, _, seconds = fetch(url, "/docs/digits.txt")
    assert status == 503 and seconds < 0.5
    assert 1 <= int(headers["retry-after"]) <= COOLDOWN
    assert proxy.accepted == accepted, "S3 was asked while the breaker was open"

    proxy.set("pass")
    time.sleep(COOLDOWN + 0.1)
    assert fetch(url, "/docs/digits.txt")[0] == 200  # the probe
    assert fetch(url, "/docs/digits.txt")[0] == 200
    changes = [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert [change.split(":")[0] for change in changes] == [
        "circuit breaker open",
        "circuit breaker half-open",
        "circuit breaker closed",
    ]


def test_a_failed_probe_opens_the_breaker_again(guarded, proxy):
    url, app = guarded(breaker_failures=2, max_attempts=1)
    proxy.set("reset")
    for _ in range(2):
        fetch(url, "/docs/digits.txt")
    time.sleep(COOLDOWN + 0.1)
    assert fetch(url, "/docs/digits.txt")[0] == 502  # the probe fails
    status, _, _, seconds = fetch(url, "/docs/digits.txt")
    assert status == 503 and seconds < 0.5


def test_a_missing_key_is_an_answer_and_keeps_the_breaker_closed(guarded, proxy):
    url, app = guarded(breaker_failures=2)
    for n in range(5):
        assert fetch(url, f"/docs/missing-{n}.html")[0] == 404
    assert app.store.breaker.state == "closed"


def test_no_request_spends_longer_than_its_deadline_on_s3(guarded, proxy):
    # Each attempt times out after 1.5 s; three would be allowed, but the
    # deadline of 2 s leaves no room for a second.
    url, _ = guarded(max_attempts=3)
    proxy.set("latency", delay=5)
    accepted = proxy.accepted
    status, _, _, seconds = fetch(url, "/docs/digits.txt")
    assert status == 504
    assert seconds <= DEADLINE + SLACK
    assert proxy.accepted - accepted == 1  # the first attempt, and no retry


def test_retries_of_quick_failures_stay_within_the_deadline(guarded, proxy):
    url, _ = guarded(max_attempts=3, breaker_failures=10)
    proxy.set("reset")
    accepted = proxy.accepted
    status, _, _, seconds = fetch(url, "/docs/digits.txt")
    assert status == 502
    assert proxy.accepted - accepted == 3  # quick failures are retried
    assert seconds <= DEADLINE + SLACK


def test_the_bound_refuses_nothing_while_s3_answers(guarded, stored):
    url, app = guarded()
    expected = stored("img/logo.png")
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda n: fetch(url, "/docs/img/logo.png"), range(400)))
    assert [answer[0] for answer in answers] == [200] * 400
    assert all(answer[2] == expected for answer in answers)
    assert app.bulkhead.inside == 0


def test_requests_over_the_bound_wait_for_a_turn_while_s3_is_slow_but_moving(guarded, proxy):
    # A deadline long enough that the wait for a turn is bounded by S3's
    # progress alone.
    url, app = guarded(max_s3_requests=2, deadline=10)
    proxy.set("latency", delay=0.05)
    with ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(lambda n: fetch(url, "/docs/digits.txt")[0], range(30)))
    assert statuses == [200] * 30


def test_the_bound_is_held_while_a_body_streams_and_given_back_when_it_ends(
    guarded, s3_client, bucket
):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=bytes(8 * 1024 * 1024))
    url, app = guarded(max_s3_requests=1)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", "/docs/big.bin")
        response = connection.getresponse()
        response.read(1024)  # the download is under way, and holds the one turn
        assert app.bulkhead.inside == 1
        time.sleep(0.5)
        status, headers, _, seconds = fetch(url, "/docs/digits.txt")
        assert status in (200, 503)  # waiting for a turn ends either way...
        assert fetch(url, "/")[0] == 200  # ...and the app is answered meanwhile
        response.read()
    finally:
        connection.close()
    deadline = time.monotonic() + 5
    while app.bulkhead.inside and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.bulkhead.inside == 0
    assert fetch(url, "/docs/digits.txt")[0] == 200


def test_cached_objects_are_served_while_s3_hangs(guarded, proxy):
    url, _ = guarded(cache_max_bytes=1024 * 1024, cache_ttl=60)
    first = fetch(url, "/docs/style.css")
    assert first[0] == 200
    proxy.set("stall")
    # Fresh in the cache: no S3 turn needed, whatever S3 does.
    threads = [threading.Thread(target=fetch, args=(url, "/docs/nope.html")) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    status, _, body, seconds = fetch(url, "/docs/style.css")
    assert (status, body) == (200, first[2]) and seconds < 0.5
    for thread in threads:
        thread.join()
