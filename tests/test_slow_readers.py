"""Clients that stop reading never take the mount down: ``s3wsgi serve``,
run as a real process against moto's S3, closes a connection whose client
took none of its answer for ``send_timeout`` seconds, which frees the
thread writing it and the S3 turn it holds (docs/safety.rst, "Slow
clients").

waitress alone closes only idle connections: a client that never reads a
body larger than waitress buffers (16 MiB) holds a thread and a turn for as
long as it keeps its connection open.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from running import Running

URL = re.compile(r"http://127\.0\.0\.1:\d+/")
SEND_TIMEOUT = 2.0
STALLED = 16
BIG = 40 << 20  # more than waitress buffers for a client (outbuf_high_watermark, 16 MiB)
# What a busy two-core machine may add: the server's stall check runs every
# quarter of send_timeout, the turns' handover, moto's pace.
SLACK = 1.0
CLOSED = re.compile(r"closed the connection of 127\.0\.0\.1:(\d+): .* 2 s \(send_timeout\)")


@pytest.fixture
def served(s3_process_endpoint):
    """``s3wsgi serve`` of a bucket under /docs, 8 threads (6 S3 turns),
    ``send_timeout`` 2 s; its base URL and the running process. S3 runs in
    a process of its own: the 96 MiB it streams to the stalled readers'
    threads would otherwise slow this process's clients, whose times are
    the test's figures."""
    s3_endpoint = s3_process_endpoint
    s3_client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"stalled-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_object(Bucket=bucket, Key="digits.txt", Body=b"0123456789")
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=b"\x5a" * BIG)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    environ["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    server = Running(
        [
            *(sys.executable, "-m", "s3wsgi", "serve"),
            *("--bucket", bucket, "--endpoint-url", s3_endpoint, "--prefix", "/docs"),
            *("--port", "0", "--threads", "8", "--send-timeout", str(SEND_TIMEOUT)),
        ],
        environ,
    )
    try:
        url = server.wait_for(URL).group(0).rstrip("/")
        assert requests.get(f"{url}/docs/digits.txt", timeout=30).status_code == 200
        yield url, server
    finally:
        server.close()


def stalled_reader(url: str) -> socket.socket:
    """A client asking for the big object with a tiny receive window, which
    then reads nothing."""
    parts = urlsplit(url)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(30)
    client.connect((parts.hostname, parts.port))
    client.sendall(b"GET /docs/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    return client


def read_until_closed(client: socket.socket) -> tuple[bytes, int]:
    """The status line and the bytes read until the server closed the
    connection (the 503s' connections stay open: until a quiet second)."""
    client.settimeout(1)
    head, total = b"", 0
    try:
        while chunk := client.recv(1 << 20):
            head = head or chunk.split(b"\r\n", 1)[0]
            total += len(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return head, total


def test_stalled_readers_free_their_turns_and_threads_within_send_timeout(served):
    url, server = served
    host_seconds: list[float] = []
    small: list[tuple[float, int]] = []  # (when answered, status)
    stop = threading.Event()

    def host_route() -> None:
        # The app behind S3App answers /hello (404) on the same threads.
        while not stop.is_set():
            started = time.monotonic()
            assert requests.get(f"{url}/hello", timeout=30).status_code == 404
            host_seconds.append(time.monotonic() - started)
            time.sleep(0.05)

    def small_objects() -> None:
        while not stop.is_set():
            status = requests.get(f"{url}/docs/digits.txt", timeout=30).status_code
            small.append((time.monotonic(), status))
            time.sleep(0.05)

    started = time.monotonic()
    clients = [stalled_reader(url) for _ in range(STALLED)]
    try:
        with ThreadPoolExecutor(2) as pool:
            watchers = [pool.submit(host_route), pool.submit(small_objects)]
            # Bounded: the mount is down, then back; or the test fails below.
            deadline = started + 4 * SEND_TIMEOUT + 10
            while time.monotonic() < deadline:
                refused = [when for when, status in small if status != 200]
                if refused and small[-1][0] > refused[-1] + SEND_TIMEOUT + SLACK:
                    break  # up again for longer than a whole stall
                time.sleep(0.1)
            stop.set()
            for watcher in watchers:
                watcher.result()
        with ThreadPoolExecutor(STALLED) as pool:
            answers = list(pool.map(read_until_closed, clients))
        ports = [client.getsockname()[1] for client in clients]
    finally:
        for client in clients:
            client.close()

    assert {status for _, status in small} <= {200, 503}
    refused = [when for when, status in small if status == 503]
    assert refused, "the stalled readers never took every turn: no test of their release"
    down = refused[0]  # the first refusal: every turn was held
    back = min((when for when, status in small if when > refused[-1]), default=None)
    assert back is not None, "the stalled readers kept every turn"
    print(
        f"host route: {len(host_seconds)} answers, the slowest in {max(host_seconds):.3f} s;"
        f" small objects refused from {down - started:.2f} s, 200 again from"
        f" {back - started:.2f} s after the stalled readers came ({back - down:.2f} s down)"
    )
    assert max(host_seconds) < 1.0
    assert back - down <= SEND_TIMEOUT + SLACK
    assert all(status == 200 for when, status in small if when >= back)
    # Each stalled download is cut (closed before its end) and logged once;
    # the readers over the bound had their 503 at once.
    server.stop()
    closed = [int(m.group(1)) for line in server.output if (m := CLOSED.search(line))]
    cut = {
        port: total for port, (head, total) in zip(ports, answers) if head[:12] == b"HTTP/1.1 200"
    }
    assert all(total < BIG for total in cut.values())
    assert cut and sorted(closed) == sorted(cut)
    assert {head[:12] for head, _ in answers} <= {b"HTTP/1.1 200", b"HTTP/1.1 503"}


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_send_timeout_that_is_not_positive_is_a_usage_error(value):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    result = subprocess.run(
        [sys.executable, "-m", "s3wsgi", "serve", "--bucket", "docs", "--send-timeout", value],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    assert result.returncode == 2
    assert "s3wsgi serve: error: --send-timeout must be positive" in result.stderr
    assert "Traceback" not in result.stderr
