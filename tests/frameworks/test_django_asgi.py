"""Django under ASGI (uvicorn, in its own process): a download streams from
S3 chunk by chunk, so the server's memory stays flat however large the
object, and Django is handed an iterator it can consume asynchronously."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from scenario import framework

django = framework("django")

import requests  # noqa: E402
from running import Running  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIZE = 50 * 1024 * 1024
# What the server may grow by while it sends SIZE bytes: its buffers, not
# the object.
GROWTH = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def large_object(s3_client):
    """A bucket holding a 50 MiB object; (bucket, key, its SHA-256)."""
    bucket = f"asgi-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    block = os.urandom(1024 * 1024)
    data = block * (SIZE // len(block))
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=data)
    return bucket, "big.bin", hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["boto3", "obstore"])
def asgi_server(request, large_object, s3_endpoint):
    """uvicorn serving asgi_site's application; (its base URL, the process)."""
    port = free_port()
    environ = {
        **os.environ,
        "S3WSGI_BUCKET": large_object[0],
        "S3WSGI_ENDPOINT_URL": s3_endpoint,
        "S3WSGI_STORE": request.param,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
    }
    command = [sys.executable, "-W", "default", "-m", "uvicorn", "asgi_site:application"]
    server = Running([*command, "--host", "127.0.0.1", "--port", str(port)], environ)
    try:
        server.wait_for(re.compile(r"Uvicorn running on"))
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.close()


def rss(pid: int) -> int:
    """The process's resident memory, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def test_a_large_download_streams_with_flat_memory_and_no_warning(asgi_server, large_object):
    base, server = asgi_server
    pid = server.process.pid
    assert requests.get(f"{base}/", timeout=10).text == "the app"
    # A first download warms what is made once (connections, the store).
    with requests.get(f"{base}/files/big.bin", stream=True, timeout=30) as warm:
        for _ in warm.iter_content(1024 * 1024):
            pass
    before = rss(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    digest = hashlib.sha256()
    started = time.monotonic()
    first_byte = None
    try:
        with requests.get(f"{base}/files/big.bin", stream=True, timeout=30) as answer:
            assert answer.status_code == 200
            assert answer.headers["Content-Length"] == str(SIZE)
            for chunk in answer.iter_content(256 * 1024):
                if first_byte is None:
                    first_byte = time.monotonic() - started
                digest.update(chunk)
                # A slow reader: the server sends as it reads S3, not ahead.
                time.sleep(0.001)
    finally:
        done.set()
        sampler.join()
    assert digest.hexdigest() == large_object[2]
    assert peak[0] - before < GROWTH, f"RSS grew by {(peak[0] - before) / 2**20:.1f} MiB"
    server.stop()
    output = "".join(server.output)
    assert "must consume synchronous iterators" not in output, output
    print(f"RSS growth {(peak[0] - before) / 2**20:.1f} MiB; first byte after {first_byte:.3f} s")
