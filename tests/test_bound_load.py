"""The bound on S3 requests refuses nothing while S3 answers, over real
HTTP under load, on a machine too busy to run every thread on time; and
refuses at once when every turn is held by a body sent at its client's
pace, which is when waiting would cost the app a thread (docs/safety.rst,
"The bound").
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from running import Running

from s3wsgi.bulkhead import MAX_GRACE

THREADS = 8  # the server's, and server_threads: a bound of 6, as the docs size it
# Clients at once: twice the machine's cores at least, and twice the
# server's threads, so that the bound is full and requests wait for turns.
CLIENTS = max(2 * (os.cpu_count() or 1), 2 * THREADS)
SECONDS = 3.0
URL = re.compile(r"http://127\.0\.0\.1:\d+/")


def hammer(url: str, path: str, seconds: float, clients: int = CLIENTS) -> Counter[int]:
    """Statuses of ``clients`` clients each asking for ``path`` again and
    again on a connection of its own for ``seconds``."""
    parts = urlsplit(url)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(_: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses[response.status] += 1
        finally:
            connection.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return statuses


@pytest.mark.parametrize("size", [1024, 384 * 1024], ids=["small", "streamed"])
def test_the_bound_refuses_nothing_under_load_while_s3_answers(
    make_middleware, serve, s3_client, bucket, size
):
    # Clients, waitress and moto's S3 in one process, on a shared two-core
    # machine: threads wait for the CPU, as on a starved server. An object
    # larger than the first chunk (256 KiB) is streamed: its turn is held
    # while the server takes its body, at once into its buffers.
    s3_client.put_object(Bucket=bucket, Key="object.bin", Body=bytes(size))
    app = make_middleware(server_threads=THREADS)
    url = serve(app, threads=THREADS)
    statuses = hammer(url, "/docs/object.bin", SECONDS)
    print(f"{CLIENTS} clients for {SECONDS:g} s, {size} bytes each: {dict(statuses)}")
    assert statuses[200] > 0
    assert statuses == Counter({200: statuses[200]})


@contextlib.contextmanager
def serving(bucket: str, endpoint: str, store: str) -> Iterator[tuple[str, Running]]:
    """``s3wsgi serve`` of the bucket under /docs on THREADS threads; its URL and process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    environ["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    server = Running(
        [
            *(sys.executable, "-m", "s3wsgi", "serve", "--store", store),
            *("--bucket", bucket, "--endpoint-url", endpoint, "--prefix", "/docs"),
            *("--port", "0", "--threads", str(THREADS)),
        ],
        environ,
    )
    try:
        yield server.wait_for(URL).group(0).rstrip("/"), server
    finally:
        server.close()


@pytest.fixture
def served(bucket, s3_endpoint, store_kind):
    with serving(bucket, s3_endpoint, store_kind) as running:
        yield running


def test_a_server_paused_under_load_refuses_nothing_when_it_runs_again(served):
    # A machine too busy to run the server for a while, made certain: the
    # process is stopped for 0.4 s, longer than the shortest grace, three
    # times while the clients keep asking. Nothing inside the bound moves
    # meanwhile, nor does any waiter: S3 has not stalled.
    url, server = served
    pid = server.process.pid

    def pauses() -> None:
        for _ in range(3):
            time.sleep(0.5)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.4)
            os.kill(pid, signal.SIGCONT)

    pauser = threading.Thread(target=pauses)
    pauser.start()
    try:
        statuses = hammer(url, "/docs/img/logo.png", SECONDS)
    finally:
        pauser.join()
        os.kill(pid, signal.SIGCONT)
    print(f"{CLIENTS} clients for {SECONDS:g} s, the server paused thrice: {dict(statuses)}")
    assert statuses[200] > 0
    assert statuses == Counter({200: statuses[200]}), [
        line for line in server.output if "503" in line or "breaker" in line
    ]


def test_every_turn_held_by_a_download_at_its_clients_pace_refuses_within_the_grace(
    make_middleware, serve, s3_client, bucket
):
    # S3 answers at once, but the one turn comes back only when its client
    # has read 48 MiB, at 4 MiB/s: waiting for it would hold a server
    # thread for seconds, so a request for it is refused when no turn has
    # come back for the grace (well before the download ends); the app's
    # own routes are answered meanwhile. (48 MiB: more than the server's
    # output buffer, 16 MiB, and the sockets' buffers can hold between them.)
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=bytes(48 << 20))
    app = make_middleware(server_threads=THREADS, max_s3_requests=1)
    url = serve(app, threads=THREADS)
    parts = urlsplit(url)
    download = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        download.request("GET", "/docs/big.bin")
        body = download.getresponse()
        body.read(1 << 20)
        assert app.bulkhead.inside == 1
        small = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        asked = threading.Event()
        answer: list[tuple[int, float]] = []

        def ask() -> None:
            started = time.monotonic()
            asked.set()
            small.request("GET", "/docs/digits.txt")
            response = small.getresponse()
            response.read()
            answer.append((response.status, time.monotonic() - started))

        asker = threading.Thread(target=ask)
        asker.start()
        asked.wait()
        read, host = 1 << 20, None
        while chunk := body.read(256 << 10):  # 4 MiB/s
            read += len(chunk)
            if host is None and not asker.is_alive():
                host = fetch_host_route(url)
            if host is None:
                time.sleep(1 / 16)  # then the rest at once: the test is over
        asker.join()
        small.close()
    finally:
        download.close()
    assert read == 48 << 20
    status, seconds = answer[0]
    print(f"a request for the held turn: {status} in {seconds:.3f} s; the host route: {host}")
    assert (status, seconds < MAX_GRACE + 0.5) == (503, True)
    assert host is not None and host[0] == 200 and host[1] < 0.5


def fetch_host_route(url: str, path: str = "/") -> tuple[int, float]:
    parts = urlsplit(url)
    started = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def test_a_flood_over_the_servers_threads_leaves_the_app_a_thread(bucket, proxy):
    # 32 clients on 8 threads, S3 slow (200 ms an answer): the 6 turns and
    # the one request let wait for a turn (a second one would wait 67 ms,
    # more than HOST_DELAY) leave a thread that no request for S3 holds, so
    # the app's own route (here S3App's 404 outside its prefix) is answered
    # at once, and the requests over the bound are refused at once rather
    # than queue in front of it. The server runs in a process of its own,
    # as in production: the clients' threads do not slow it down.
    proxy.set("latency", delay=0.2)
    with serving(bucket, proxy.url, "boto3") as (url, _):
        stop = threading.Event()
        host: list[float] = []

        def host_route() -> None:
            # The flood under way, and S3's pace known: its first 20 answers
            # (the bound's KNOWN_PACE) come in 0.7 s at this pace.
            time.sleep(1.0)
            while not stop.is_set():
                status, seconds = fetch_host_route(url, "/hello")
                assert status == 404
                host.append(seconds)
                time.sleep(0.05)

        watcher = threading.Thread(target=host_route)
        watcher.start()
        try:
            statuses = hammer(url, "/docs/digits.txt", 2 * SECONDS, clients=32)
        finally:
            stop.set()
            watcher.join()
    host.sort()
    median = host[len(host) // 2]
    print(
        f"32 clients, S3 at 200 ms: {dict(statuses)}; the host route in"
        f" {median * 1000:.0f} ms at the median, {host[-1] * 1000:.0f} ms at most"
    )
    assert set(statuses) <= {200, 503} and statuses[200] > 0
    # The aim is 0.1 s at the median, 0.25 s at most. On a shared two-core
    # machine, 9 runs of 10 gave 20 to 110 ms at the median and 200 to
    # 400 ms at most, one 165 ms at the median: the single free thread
    # refuses up to a thousand requests a second from the server's
    # first-come queue, the route's request among them. Before the waiters
    # were bounded: 850 ms at the median, 1 s at most.
    assert median < 0.25


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_grace_is_twice_the_slowest_recent_answer_within_its_limits():
    from s3wsgi.bulkhead import MAX_GRACE, MIN_GRACE, RECENT, Bulkhead

    bulkhead = Bulkhead(6, clock=Clock())
    assert bulkhead.grace == MIN_GRACE
    bulkhead.answered(0.4)
    assert bulkhead.grace == 0.8
    bulkhead.answered(5.0)
    assert bulkhead.grace == MAX_GRACE
    for _ in range(RECENT):  # the slow answer is forgotten
        bulkhead.answered(0.03)
    assert bulkhead.grace == MIN_GRACE


def test_a_turn_given_back_or_kept_for_a_body_tells_s3s_pace_with_it():
    # One lock per request end (a turn and S3's answer time together), and
    # the pace read only when a request finds the bound full.
    from s3wsgi.bulkhead import HOST_DELAY, KNOWN_PACE, MAX_GRACE, Bulkhead

    bulkhead = Bulkhead(1, waiters=0, clock=Clock())
    for _ in range(KNOWN_PACE - 1):
        assert bulkhead.enter(max_wait=10) == 0.0
        bulkhead.leave(answered=2 * HOST_DELAY)
    assert bulkhead.inside == 0
    assert bulkhead.enter(max_wait=10) == 0.0
    turn = bulkhead.sending(answered=5.0)
    assert bulkhead.grace == MAX_GRACE
    # Now it is: slower than HOST_DELAY, so no request waits behind the body.
    assert bulkhead.enter(max_wait=10) is None
    turn.done()
    assert bulkhead.inside == 0


def test_no_request_waits_for_turns_all_held_by_clients_that_take_no_chunk():
    from s3wsgi.bulkhead import Bulkhead

    clock = Clock()
    bulkhead = Bulkhead(2, waiters=5, clock=clock)
    assert bulkhead.enter(max_wait=10) == 0.0
    assert bulkhead.enter(max_wait=10) == 0.0
    turns = [bulkhead.sending(), bulkhead.sending()]
    for turn in turns:
        turn.to_client()  # a chunk handed to the server, for the client
    clock.now += bulkhead.grace / 2
    assert bulkhead.enter(max_wait=0) is None  # no turn back in time: a busy client?
    clock.now += bulkhead.grace
    assert bulkhead.enter(max_wait=10) is None  # at once: the clock stood still
    turns[0].from_client()
    turns[0].done()
    assert bulkhead.enter(max_wait=10) == 0.0  # the turn came back
    assert bulkhead.inside == 2


def test_beyond_the_waiters_that_leave_the_app_a_thread_only_a_quick_turn_is_waited_for():
    from s3wsgi.bulkhead import HOST_DELAY, KNOWN_PACE, Bulkhead

    bulkhead = Bulkhead(1, waiters=0, clock=Clock())
    for _ in range(KNOWN_PACE):
        bulkhead.answered(2 * HOST_DELAY)  # S3's usual pace: slower than HOST_DELAY
    assert bulkhead.enter(max_wait=10) == 0.0
    assert bulkhead.enter(max_wait=10) is None  # at once: the clock never moved
