"""gunicorn's gevent worker: S3 requests wait in greenlets, never the hub.

Every request of a gevent worker runs in a greenlet of one OS thread. A
call that blocks that thread (the fast store's, in Rust, unless it is run
on a thread of its own) stalls every other request of the worker, the host
app's included, until S3 answers or times out. With S3 hung, the host app's
routes must answer at once, as they do under threads (docs/deployment.rst,
"gevent and eventlet workers").
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests
from conftest import Servers
from faultproxy import FaultProxy
from sample_site import SITE
from server_process import HERE, Setup, served_environ
from traffic import HOST_HOME

from s3wsgi.stores.green import GREEN_CONNECTIONS

HUNG = 8  # S3 requests left hanging, more than one per worker
READ_TIMEOUT = 6.0  # what a hung S3 request waits before its 504
FAST = 1.0  # seconds the host app may take while S3 hangs (it takes milliseconds)


@pytest.fixture
def s3_proxy(s3_endpoint):
    """A fault proxy in front of moto's S3 (tests/faultproxy.py)."""
    parts = urlsplit(s3_endpoint)
    with FaultProxy((parts.hostname, parts.port)) as proxy:
        yield proxy


@pytest.fixture
def start_hung_server(site_bucket, s3_endpoint, tmp_path):
    """``start_server`` of conftest.py, whose servers may log the faults
    a test makes (``expected``), and nothing else."""
    servers = Servers(site_bucket, s3_endpoint, tmp_path)
    expected = {}

    def start(setup, *, allowed=TIMED_OUT, **environ):
        server = servers.start(setup, **environ)
        expected[server] = allowed
        return server

    yield start
    for server in servers.started:
        server.stop()
        unexpected = [line for line in server.troubles() if not expected[server].search(line)]
        assert not unexpected, server.log()


# The line each hung S3 request logs when its read times out.
TIMED_OUT = re.compile(r"^ERROR s3wsgi \[\d+\] S3 GetObject .* outcome=timeout ")
# What gunicorn logs of an answer that S3 cut short after it began: the
# server aborts it (shared.Body), with the traceback of the fault.
ABORTED = re.compile(r"\[ERROR\] Error handling request$|^Traceback \(most recent call last\):$")


@pytest.mark.parametrize("store", ["obstore", "boto3"])
def test_the_host_app_answers_at_once_while_s3_hangs(start_hung_server, s3_proxy, store):
    server = start_hung_server(
        Setup("gunicorn", "gevent", preload=False, store=store),
        S3WSGI_ENDPOINT_URL=s3_proxy.url,
        S3WSGI_CONNECT_TIMEOUT="1",
        S3WSGI_READ_TIMEOUT=str(READ_TIMEOUT),
        S3WSGI_MAX_ATTEMPTS="1",
        # No manifest to read first: each request asks S3 for its object.
        S3WSGI_VARIANTS="false",
        # The breaker stays closed: each hung request is S3's to answer.
        S3WSGI_BREAKER_FAILURES="100",
    )
    assert requests.get(server.url + "/docs/style.css", timeout=30).status_code == 200
    s3_proxy.set("stall")
    with concurrent.futures.ThreadPoolExecutor(HUNG) as clients:
        hung = [
            clients.submit(
                requests.get,
                server.url + f"/docs/style.css?hung={n}",
                headers={"Connection": "close"},
                timeout=30,
            )
            for n in range(HUNG)
        ]
        # Every hung request has reached S3 (the proxy holds its connection).
        deadline = time.monotonic() + READ_TIMEOUT / 2
        while s3_proxy.open_connections < HUNG and time.monotonic() < deadline:
            time.sleep(0.02)
        assert s3_proxy.open_connections >= HUNG
        took = []
        for _ in range(10):
            started = time.monotonic()
            home = requests.get(server.url + "/", headers={"Connection": "close"}, timeout=30)
            took.append(time.monotonic() - started)
            assert home.status_code == 200
            assert home.content == HOST_HOME
        assert max(took) < FAST, took
        answers = [future.result() for future in hung]
    # Each hung request ends in a clean gateway timeout, no text of the fault.
    assert [answer.status_code for answer in answers] == [504] * HUNG
    assert all(b"Traceback" not in answer.content for answer in answers)
    s3_proxy.set("pass")
    again = requests.get(server.url + "/docs/style.css", timeout=30)
    assert again.status_code == 200
    assert again.content == SITE["style.css"][0]


@pytest.mark.parametrize("hub", ["gevent", "eventlet"])
def test_a_green_process_reads_hung_s3_in_parallel_and_its_hub_runs_on(s3_proxy, site_bucket, hub):
    """gunicorn 27 has no eventlet worker; a process eventlet patched
    (another server's) is served the same way as gevent's."""
    s3_proxy.set("stall")
    environ = served_environ(site_bucket, s3_proxy.url, "obstore")
    finished = subprocess.run(
        [sys.executable, str(HERE / "green_reader.py"), hub, s3_proxy.url, site_bucket],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    seen = json.loads(finished.stdout)
    assert seen["hub"] == hub
    # The bound on S3 requests is sized by the connections of a green worker.
    assert seen["server_concurrency"] == GREEN_CONNECTIONS
    assert seen["bound"] == GREEN_CONNECTIONS * 3 // 4  # not the 3 of unknown threads
    assert seen["statuses"] == [504] * 8
    # All at once: one read timeout in all, not one after the other.
    assert seen["elapsed"] < 2 * 2.0, seen
    assert seen["longest_stall"] < 0.5, seen


def test_the_host_app_answers_at_once_while_s3_hangs_in_a_body(
    start_hung_server, s3_proxy, s3_client, site_bucket
):
    """The fast store's later chunks are read off the hub too: S3 hanging
    half-way through a large body stalls that download only."""
    big = bytes(range(256)) * 8192  # 2 MiB: chunks of 256 KiB after the first
    s3_client.put_object(Bucket=site_bucket, Key="green/big.bin", Body=big)
    server = start_hung_server(
        Setup("gunicorn", "gevent", preload=False, store="obstore"),
        allowed=ABORTED,
        S3WSGI_ENDPOINT_URL=s3_proxy.url,
        S3WSGI_READ_TIMEOUT=str(READ_TIMEOUT),
        S3WSGI_VARIANTS="false",
    )
    whole = requests.get(server.url + "/docs/green/big.bin", timeout=30)
    assert whole.content == big
    # Past the first chunk, which is read before the answer starts.
    s3_proxy.set("stall", after=600_000)
    downloads = []
    for _ in range(HUNG):
        download = requests.get(
            server.url + "/docs/green/big.bin",
            headers={"Connection": "close"},
            stream=True,
            timeout=30,
        )
        assert download.status_code == 200
        downloads.append(download)
    holding = {int(download.headers["X-Worker-Pid"]) for download in downloads}
    # Each download's S3 answer hangs in its body.
    deadline = time.monotonic() + READ_TIMEOUT / 2
    while s3_proxy.faults < HUNG and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s3_proxy.faults == HUNG
    # The host's page from every worker that holds a hung download.
    answered_by, took = set(), []
    for _ in range(100):
        started = time.monotonic()
        home = requests.get(server.url + "/", headers={"Connection": "close"}, timeout=30)
        took.append(time.monotonic() - started)
        assert home.content == HOST_HOME
        answered_by.add(int(home.headers["X-Worker-Pid"]))
        if holding <= answered_by:
            break
    assert holding <= answered_by
    assert max(took) < FAST, took
    # Each hung download is cut short, never ended as if whole.
    for download in downloads:
        with pytest.raises(requests.RequestException), download:
            download.content  # noqa: B018
