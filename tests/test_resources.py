"""Clients that leave mid-body: the server keeps serving, and nothing leaks.

Counted on the test process itself, which runs waitress, the middleware and
moto's server: open descriptors (``/proc/self/fd``: sockets, waitress's
overflow files) and threads (``/proc/self/status``, native ones included).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from faultproxy import FaultProxy
from wsgi_call import make_environ

BIG = os.urandom(24 * 1024 * 1024)
BIG_SHA256 = hashlib.sha256(BIG).hexdigest()
LEAVERS = 300
# Idle keep-alive connections that may come and go in the S3 pool and on
# loopback between two counts; anything beyond is a leak.
SLACK = 4


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_count() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line in /proc/self/status")


def settle(limit_fds: int, limit_threads: int, timeout: float = 15.0) -> tuple[int, int]:
    """Wait until both counts are within their limits; the last counts."""
    deadline = time.monotonic() + timeout
    while True:
        fds, threads = open_descriptors(), thread_count()
        if (fds <= limit_fds and threads <= limit_threads) or time.monotonic() > deadline:
            return fds, threads
        time.sleep(0.1)


def leave_mid_body(port: int, path: str, read_bytes: int, reset: bool) -> int:
    """GET ``path``, read ``read_bytes`` of the answer, then go away; with
    ``reset`` the way a killed browser does (RST), else with a FIN."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        received = b""
        while len(received) < read_bytes:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        assert received.startswith(b"HTTP/1.1 200 "), received[:100]
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return len(received)
    finally:
        sock.close()


@pytest.fixture
def big_bucket(bucket, s3_client):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=BIG, ContentType="image/png")
    return bucket


def get_whole(url: str) -> None:
    with requests.get(url, timeout=30) as answer:
        assert answer.status_code == 200
        assert hashlib.sha256(answer.content).hexdigest() == BIG_SHA256


def get_small(url: str) -> tuple[int, bytes]:
    with requests.get(url, timeout=30) as answer:
        return answer.status_code, answer.content


def test_hundreds_of_clients_leaving_mid_body_leak_no_descriptor_or_thread(
    make_middleware, big_bucket, serve
):
    # As many S3 turns as threads: counted, never refused, so the count
    # shows that each client that left gave its turn back.
    app = make_middleware(max_pool_connections=16, server_threads=8, max_s3_requests=8)
    url = serve(app, threads=8)
    port = urlsplit(url).port
    # Warm up at the concurrency of the run, so the S3 client, its pool and
    # waitress's threads exist before the counts are taken.
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: get_whole(url + "/docs/big.bin"), range(16)))
    time.sleep(0.5)
    fds_before, threads_before = open_descriptors(), thread_count()

    # Some leave right after the status line, most part-way into the body.
    sizes = random.Random(4)
    leave_after = [sizes.choice((1, sizes.randrange(1, 4 * 1024 * 1024))) for _ in range(LEAVERS)]
    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        leaving = [
            pool.submit(leave_mid_body, port, "/docs/big.bin", leave_after[i], reset=bool(i % 2))
            for i in range(LEAVERS)
        ]
        # Meanwhile, others are served whole.
        staying = [pool.submit(get_small, url + "/docs/digits.txt") for _ in range(30)]
        received = [future.result() for future in leaving]
        served = [future.result() for future in staying]
    elapsed = time.monotonic() - started
    assert all(0 < n < len(BIG) for n in received)
    assert served == [(200, b"0123456789")] * 30

    # Still serving, whole and right, while the aborted answers wind down.
    get_whole(url + "/docs/big.bin")
    assert requests.get(url + "/docs/digits.txt", timeout=10).content == b"0123456789"

    fds_after, threads_after = settle(fds_before + SLACK, threads_before)
    print(
        f"{LEAVERS} clients left mid-body in {elapsed:.1f}s; descriptors "
        f"{fds_before} -> {fds_after}, threads {threads_before} -> {threads_after}"
    )
    assert fds_after <= fds_before + SLACK
    assert threads_after <= threads_before
    assert app.bulkhead.inside == 0


@pytest.fixture
def proxied_middleware(make_middleware, big_bucket, s3_endpoint):
    """The middleware reaching S3 through a pass-through proxy, which counts
    the S3 connections open at any moment."""
    parts = urlsplit(s3_endpoint)
    with FaultProxy((parts.hostname, parts.port)) as proxy:
        yield make_middleware(endpoint_url=proxy.url), proxy


def start(app, path: str):
    """Call the WSGI app as a server would; the status and the body iterable."""
    started = []
    body = app(make_environ(path), lambda status, headers, exc_info=None: started.append(status))
    return started, body


def test_closing_a_half_read_body_closes_its_s3_connection(proxied_middleware):
    app, proxy = proxied_middleware
    status, body = start(app, "/docs/big.bin")
    first = next(iter(body))
    assert status == ["200 OK"] and first == BIG[: len(first)]
    assert proxy.open_connections == 1
    body.close()
    # Not returned to the pool half-read: closed, so S3 stops sending.
    assert proxy.wait_idle(timeout=2.0), "the S3 connection outlived close()"
