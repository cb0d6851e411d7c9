"""The circuit breaker (docs/safety.rst): it counts client requests that S3
left without an answer, never attempts, nor a fault of this process; while
S3 is away it probes at most once a probe interval, so service is back
within about a second of S3's return, after a short outage or a long one.

Over real HTTP: client -> waitress -> the middleware -> a fault proxy ->
moto's S3 server. The probe schedule, with a clock handed to the store.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from urllib.parse import urlsplit

import pytest

from s3wsgi.stores.base import (
    Budget,
    LocalError,
    ObjectRequest,
    S3Object,
    Unreachable,
    UpstreamError,
)
from s3wsgi.stores.boto3_store import BotoStore
from s3wsgi.stores.obstore_store import ObstoreStore
from s3wsgi.stores.resilient import Breaker, Policy, ResilientStore

THREADS = 8
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
# Service is back within this many seconds of S3's return (docs/safety.rst).
RECOVERY = 2.0


def fetch(url: str, path: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


@pytest.fixture
def served(make_middleware, proxy, serve):
    """``served(**options)`` -> (base URL, middleware) reaching S3 through
    the proxy, once it has served an object (the publish manifest read)."""

    def start(**options):
        options.setdefault("server_threads", THREADS)
        options.setdefault("connect_timeout", CONNECT_TIMEOUT)
        options.setdefault("read_timeout", READ_TIMEOUT)
        app = make_middleware(endpoint_url=proxy.url, **options)
        url = serve(app, threads=THREADS)
        for _ in range(100):
            if fetch(url, "/docs/digits.txt")[0] == 200:
                return url, app
        raise AssertionError("S3 never answered")

    return start


def breaker_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]


def test_a_request_counts_once_however_many_attempts_and_calls(served, proxy, caplog):
    # Three attempts a call, and a request reads the manifest and the
    # object: six attempts without an answer, but one request.
    url, app = served(max_attempts=3, breaker_failures=5)
    caplog.set_level(logging.INFO, logger="s3wsgi")
    proxy.set("reset")
    for n in range(4):
        assert fetch(url, f"/docs/page-{n}.html")[0] == 502
        assert app.store.breaker.state == "closed", f"opened after {n + 1} requests"
    # The fifth opens it: its own next attempt is refused.
    assert fetch(url, "/docs/page-4.html")[0] in (502, 503)
    assert app.store.breaker.state == "open"
    accepted = proxy.accepted
    status, headers, _ = fetch(url, "/docs/page-5.html")
    assert status == 503 and headers["retry-after"] == "1"
    assert proxy.accepted == accepted, "S3 was asked while the breaker was open"
    # The words are true: requests, not attempts.
    [opened] = [line for line in breaker_lines(caplog) if line.startswith("circuit breaker open")]
    assert "after 5 requests in a row without an answer from S3" in opened


def test_an_answer_between_requests_without_one_starts_the_count_again(served, proxy):
    url, app = served(max_attempts=1, breaker_failures=3)
    for _ in range(3):
        proxy.set("reset")
        assert fetch(url, "/docs/digits.txt")[0] == 502
        assert fetch(url, "/docs/page.html")[0] == 502
        proxy.set("pass")
        assert fetch(url, "/docs/missing.html")[0] == 404  # an answer
    assert app.store.breaker.state == "closed"


class Buggy:
    """A ready store around a real one, with a bug for keys holding "bug"."""

    def __init__(self, inner):
        self.inner = inner
        self.bucket = inner.bucket
        self.calls = 0

    def get(self, request):
        if "bug" in request.key:
            self.calls += 1
            raise TypeError("a bug in a store")
        return self.inner.get(request)

    def head(self, request):
        return self.inner.head(request)

    def list(self, prefix, *, after, limit, budget=None):
        return self.inner.list(prefix, after=after, limit=limit, budget=budget)

    def presign(self, key, expires):
        return self.inner.presign(key, expires)


@pytest.fixture
def real_store(store_kind, bucket, s3_endpoint):
    """A store of ``store_kind`` reading the test bucket from moto directly."""
    from s3wsgi.stores.base import Connection

    kind = BotoStore if store_kind == "boto3" else ObstoreStore
    return kind(bucket, Connection(endpoint_url=s3_endpoint, region_name="us-east-1"))


def test_a_local_fault_is_a_logged_502_never_retried_nor_counted(
    make_middleware, serve, real_store, caplog
):
    buggy = Buggy(real_store)
    app = make_middleware(store=buggy, max_attempts=3, breaker_failures=2)
    url = serve(app)
    statuses = [fetch(url, f"/docs/bug-{n}.html")[0] for n in range(5)]
    assert statuses == [502] * 5
    assert buggy.calls == 5, "a bug was tried again"
    assert app.store.breaker.state == "closed"
    assert fetch(url, "/docs/digits.txt")[:3:2] == (200, b"0123456789")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    [bug] = [line for line in errors if "bug-0" in line]
    # What and where, for whoever fixes it.
    assert "exception=TypeError" in bug and "a bug in a store" in bug
    assert "test_breaker.py:" in bug


@pytest.mark.parametrize("store_kind", ["obstore"])
def test_a_key_the_fast_store_cannot_express_is_read_never_counted(make_middleware, serve, caplog):
    # obstore refuses a key with an empty segment (S3 allows it): the error
    # document of a missing key here, read through boto3 instead.
    app = make_middleware(error_document="errors//404.html", breaker_failures=2)
    url = serve(app)
    assert [fetch(url, f"/docs/missing-{n}.html")[0] for n in range(4)] == [404] * 4
    assert app.store.breaker.state == "closed"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- the probe schedule, with a clock --


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class S3:
    """An inner store that answers while ``up``, else refuses at once."""

    def __init__(self) -> None:
        self.up = True
        self.asked_while_down = 0

    def get(self, request: ObjectRequest) -> S3Object:
        if not self.up:
            self.asked_while_down += 1
            raise Unreachable()
        return S3Object(200, {"content-length": "0"}, [b""])

    head = get


def test_the_open_breaker_lets_one_probe_through_each_interval():
    clock = Clock()
    breaker = Breaker(failures=2, cooldown=10.0, clock=clock)
    first, second, third = Budget(30), Budget(30), Budget(30)
    breaker.failed(first)
    breaker.failed(first)  # the same request again: still one
    assert breaker.state == "closed"
    breaker.failed(second)
    assert breaker.state == "open"
    assert breaker.admit(third) == pytest.approx(1.0)  # capped at 1 s, not 10
    clock.now += 1.0
    assert breaker.admit(third) is None  # the probe
    assert breaker.state == "half-open"
    assert breaker.admit(first) is not None  # one probe at a time
    breaker.failed(first)  # an old request's failure is no probe's
    assert breaker.state == "half-open"
    breaker.failed(third)
    assert breaker.state == "open"
    assert breaker.admit(first) == pytest.approx(1.0)
    clock.now += 1.0
    assert breaker.admit(first) is None
    breaker.succeeded()
    assert breaker.state == "closed"
    assert breaker.admit(second) is None


def test_a_short_cooldown_is_the_probe_interval():
    clock = Clock()
    breaker = Breaker(failures=1, cooldown=0.2, clock=clock)
    breaker.failed(Budget(30))
    assert breaker.admit(Budget(30)) == pytest.approx(0.2)


def test_a_probe_that_never_went_to_s3_lets_another_through():
    clock = Clock()
    breaker = Breaker(failures=1, cooldown=1.0, clock=clock)
    breaker.failed(Budget(30))
    clock.now += 1.0
    probe, other = Budget(30), Budget(30)
    assert breaker.admit(probe) is None
    breaker.release(probe)  # e.g. out of time, or a fault of this process
    assert breaker.admit(other) is None


def outage_of(seconds: float) -> tuple[float, int]:
    """(seconds from S3's return to the first answer, S3 requests made while
    it was away) with twenty requests a second and S3 away ``seconds``."""
    clock, s3 = Clock(), S3()
    store = ResilientStore(
        s3, Policy(), attempt_seconds=CONNECT_TIMEOUT + READ_TIMEOUT, clock=clock, sleep=clock.sleep
    )
    down_at = clock.now + 10
    back_at = down_at + seconds
    while clock.now < back_at + 30:
        s3.up = not down_at <= clock.now < back_at
        try:
            store.get(ObjectRequest("k", budget=Budget(30)))
        except UpstreamError:
            pass
        else:
            if clock.now >= back_at:
                return clock.now - back_at, s3.asked_while_down
        clock.now += 0.05
    raise AssertionError("no service after S3 came back")


@pytest.mark.parametrize("outage", [5.0, 60.0])
def test_service_is_back_within_a_second_of_s3_and_probes_stay_one_a_second(outage):
    # S3 comes back at moments spread over a few seconds: the worst of them.
    runs = [outage_of(outage + offset) for offset in (0.0, 0.3, 0.6, 1.5, 2.5, 4.0, 7.0)]
    worst = max(recovery for recovery, _ in runs)
    print(f"{outage:g} s outage: service back at worst {worst:.2f} s after S3")
    assert worst <= 1.0 + 0.05
    for (_, asked), offset in zip(runs, (0.0, 0.3, 0.6, 1.5, 2.5, 4.0, 7.0)):
        # Five requests to notice, three attempts each; then one probe a second.
        assert asked <= 5 * 3 + outage + offset + 1


def test_a_local_fault_keeps_the_probe_slot_free_and_the_count_untouched():
    clock = Clock()

    class Broken:
        def get(self, request: ObjectRequest) -> S3Object:
            raise AttributeError("no such thing")

    store = ResilientStore(
        Broken(), Policy(breaker_failures=1), attempt_seconds=1.5, clock=clock, sleep=clock.sleep
    )
    for _ in range(3):
        with pytest.raises(LocalError):
            store.get(ObjectRequest("k", budget=Budget(30)))
    assert store.breaker.state == "closed"


# -- mixed load, real HTTP, S3 cut and restored --

OUTAGE = 5.0
MIXED = ["/docs/digits.txt", "/docs/index.html", "/docs/guide/", "/docs/missing.html", "/"]


def test_service_is_back_within_two_seconds_of_s3_under_mixed_load(served, proxy):
    url, app = served(max_attempts=3)
    answers: list[tuple[float, str, int]] = []
    stop = threading.Event()

    def client(offset: int) -> None:
        n = offset
        while not stop.is_set():
            path = MIXED[n % len(MIXED)]
            n += 1
            status = fetch(url, path)[0]
            answers.append((time.monotonic(), path, status))
            stop.wait(0.02)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        proxy.set("refuse")
        cut = time.monotonic()
        stop.wait(OUTAGE)
        assert app.store.breaker.state != "closed", "S3 was away and the breaker never opened"
        proxy.set("pass")
        back = time.monotonic()
        first = None
        for _ in range(200):
            first = next(
                (at for at, path, status in answers if at > back and status == 200 and path != "/"),
                None,
            )
            if first is not None:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert first is not None, "no service within 10 s of S3's return"
    recovery = first - back
    print(f"S3 away {back - cut:.1f} s: first 200 {recovery:.2f} s after S3 came back")
    assert recovery <= RECOVERY
    during = {status for at, path, status in answers if cut + 0.5 < at < back and path != "/"}
    assert during <= {502, 503}, during
    # The host app kept its routes all along.
    assert {status for _, path, status in answers if path == "/"} == {200}


def test_the_health_check_tells_a_local_fault_from_an_s3_outage(make_middleware, serve, real_store):
    from s3wsgi.observe.health import Health

    class Broken(Buggy):
        def head(self, request):
            raise AttributeError("a bug in a store")

    url = serve(Health([make_middleware(store=Broken(real_store))]))
    status, _, body = fetch(url, "/")
    assert status == 503
    assert body.decode() == (
        "unavailable: /docs: a probe failed in s3wsgi, not in S3 (see the log)\n"
    )
