"""``s3wsgi serve``'s threads: one setting, ``--threads`` (``--server-threads``,
``S3WSGI_THREADS``, ``S3WSGI_SERVER_THREADS``), 64 by default, which are
both waitress's threads and the app's ``server_threads``; and ``--server
granian``, opt-in, over real HTTP to moto's S3."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests
from running import Running
from sample_site import SITE

from s3wsgi.cli import build_parser
from s3wsgi.cli.errors import UsageError
from s3wsgi.cli.serve import configure
from s3wsgi.cli.server import GRANIAN_KILL_TIMEOUT

URL = re.compile(r"http://127\.0\.0\.1:\d+/")


def configured(*flags: str, **variables: str):
    args = build_parser().parse_args(["serve", "--bucket", "b", *flags])
    return configure(args, variables)


def test_serve_runs_64_threads_by_default_and_bounds_s3_requests_to_48():
    options, settings, _ = configured()
    assert options.safety.server_threads == 64
    # A quarter kept for the app: 48 in flight, 2,400 objects/s at 20 ms.
    assert options.s3_request_bound == 48
    assert settings["server"] == "waitress"


@pytest.mark.parametrize(
    ("flags", "variables"),
    [
        (("--threads", "16"), {}),
        (("--server-threads", "16"), {}),
        ((), {"S3WSGI_THREADS": "16"}),
        ((), {"S3WSGI_SERVER_THREADS": "16"}),
        (("--threads", "16"), {"S3WSGI_SERVER_THREADS": "4", "S3WSGI_THREADS": "4"}),
    ],
    ids=["flag", "old-flag", "variable", "option-variable", "flag-wins"],
)
def test_every_name_of_the_threads_sets_the_one_setting(flags, variables):
    options, _, _ = configured(*flags, **variables)
    assert options.safety.server_threads == 16
    assert options.s3_request_bound == 12


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--threads", "0"), "--threads: 0 is not between 1 and 1024"),
        (("--threads", "5000"), "--threads: 5000 is not between 1 and 1024"),
        (("--threads", "many"), "--threads: 'many' is not a whole number"),
        (("--server", "uwsgi"), "--server: 'uwsgi' is not one of waitress, granian"),
        (
            ("--server", "granian", "--health-path", "/h", "--admin-port", "0"),
            "--admin-port needs --server waitress",
        ),
    ],
)
def test_a_wrong_thread_count_or_server_is_a_usage_error(flags, message):
    with pytest.raises(UsageError) as error:
        configured(*flags)
    assert message in str(error.value)


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _environ(**variables: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    environ["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    environ.update(variables)
    return environ


@pytest.fixture
def run():
    started: list[Running] = []

    def start(*args: str) -> Running:
        started.append(Running([sys.executable, "-m", "s3wsgi", *args], _environ()))
        return started[-1]

    yield start
    for running in started:
        # SIGTERM first: granian's master stops its worker, which SIGKILL
        # of the master alone would leave running.
        try:
            if running.process.poll() is None:
                running.stop(signal.SIGTERM)
        finally:
            running.close()


@pytest.mark.real
def test_serve_starts_its_64_threads_and_answers_on_them(run, bucket, s3_endpoint):
    server = run("serve", "--bucket", bucket, "--endpoint-url", s3_endpoint, "--port", "0")
    url = server.wait_for(URL).group(0)
    assert requests.get(f"{url}style.css", timeout=10).content == SITE["style.css"][0]
    # waitress's 64 workers, its main thread, and a few of the store's.
    assert _threads(server.process.pid) >= 65
    assert server.stop(signal.SIGTERM) == 0


@pytest.mark.real
def test_serve_under_granian_answers_over_http_and_stops(run, bucket, s3_endpoint):
    server = run(
        *("serve", "--server", "granian", "--bucket", bucket),
        *("--endpoint-url", s3_endpoint, "--port", "0", "--threads", "4"),
        *("--health-path", "/healthz", "--prefix", "/site"),
    )
    banner = server.wait_for(URL)
    url = banner.group(0)
    assert f"s3wsgi: serving bucket {bucket!r} on {url} (granian)" in banner.string
    page = requests.get(f"{url}site/", timeout=10)
    assert page.status_code == 200
    assert page.content == SITE["index.html"][0]
    head = requests.head(f"{url}site/style.css", timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == str(len(SITE["style.css"][0]))
    ranged = requests.get(f"{url}site/digits.txt", headers={"Range": "bytes=2-5"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, b"2345")
    missing = requests.get(f"{url}site/missing.html", timeout=10)
    assert missing.status_code == 404
    assert requests.get(f"{url}healthz", timeout=10).status_code == 200
    assert server.stop(signal.SIGTERM) == 0
    assert not [line for line in server.output if "Traceback" in line]


@pytest.mark.real
def test_serve_under_granian_stops_on_sigterm_while_a_client_never_reads(
    run, bucket, s3_endpoint, s3_client
):
    # More than granian and the sockets buffer: its worker's thread stays
    # in a write to the client, and the worker ignores SIGTERM until killed.
    s3_client.put_object(Bucket=bucket, Key="stalled.bin", Body=b"\x5a" * (40 << 20))
    server = run(
        *("serve", "--server", "granian", "--bucket", bucket),
        *("--endpoint-url", s3_endpoint, "--port", "0", "--threads", "2"),
    )
    url = urlsplit(server.wait_for(URL).group(0))
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.settimeout(30)
        client.connect((url.hostname, url.port))
        client.sendall(b"GET /stalled.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
        time.sleep(1)  # the worker fills the buffers for the client that reads no more
        started = time.monotonic()
        assert server.stop(signal.SIGTERM, timeout=GRANIAN_KILL_TIMEOUT + 10) == 0
        assert time.monotonic() - started < GRANIAN_KILL_TIMEOUT + 5
