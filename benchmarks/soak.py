"""A concurrency soak: many mixed requests against s3wsgi under waitress, every
answer checked, and the server's descriptors, threads and memory compared
before and after.

Usage::

    python benchmarks/soak.py            # 5,000 requests
    python benchmarks/soak.py --full     # 50,000 requests
    python benchmarks/soak.py --requests 20000 --clients 16 --threads 8

It starts moto's S3 server and the s3wsgi server (S3App under waitress) as
two processes on loopback, fills a bucket, then sends GET, HEAD, ranges,
conditional requests, missing keys, unsafe paths and folder redirects from
concurrent clients, each on its own keep-alive connection. Every status and
header that matters is checked, and every body against the sha256 of its
source. Exits non-zero on any unexpected answer, any 5xx, or growth of the
server's descriptors, threads or memory.

The test suite runs the same load at a smaller size (tests/test_soak.py).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

PREFIX = "/docs"


def make_site(seed: int = 0) -> dict[str, bytes]:
    """Objects of every size class a documentation site has, and folders
    with index pages (for redirects)."""
    rng = random.Random(seed)
    site = {}
    for i in range(48):
        site[f"pages/page-{i}.html"] = rng.randbytes(rng.randrange(200, 20_000))
    for i in range(12):
        site[f"assets/asset-{i}.js"] = rng.randbytes(rng.randrange(20_000, 400_000))
    for i in range(2):
        site[f"downloads/big-{i}.bin"] = rng.randbytes(3 * 1024 * 1024 + rng.randrange(1000))
    for folder in ("guide", "api", "caf\u00e9"):
        site[f"{folder}/index.html"] = f"<h1>{folder}</h1>".encode() * 20
    site["index.html"] = b"<h1>home</h1>"
    site["empty.txt"] = b""
    return site


@dataclass
class Probe:
    """One request and the answer it must get."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    body: bytes | None = None  # checked by sha256; None: a short text, or none
    location: str | None = None
    length: int | None = None  # Content-Length a HEAD must announce


def _quote(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="/")


def plan(count: int, site: dict[str, bytes], validators: dict, seed: int = 1) -> list[Probe]:
    """``count`` requests of every kind, in a shuffled but repeatable order.

    ``validators`` maps a key to its (ETag, Last-Modified) as S3 reports them.
    """
    rng = random.Random(seed)
    keys = sorted(site)
    unsafe = [
        "/docs/pages/../index.html",
        "/docs/%2e%2e/index.html",
        "/docs/pages/%2E%2e/x",
        "/docs/a//b.html",
        "/docs/pages%5cpage-1.html",
        "/docs/x%00y",
        "/docs/%c0%ae%c0%ae/index.html",
        "/docs/bad%ffutf8",
    ]
    probes = []
    for _ in range(count):
        key = rng.choice(keys)
        data = site[key]
        path = f"{PREFIX}/{_quote(key)}"
        etag, last_modified = validators[key]
        size = len(data)
        roll = rng.random()
        if roll < 0.30:
            probes.append(Probe("GET", path, {}, 200, data))
        elif roll < 0.40:
            probes.append(Probe("HEAD", path, {}, 200, None, length=size))
        elif roll < 0.55 and size > 1:
            first = rng.randrange(size)
            last = rng.randrange(first, min(size, first + 300_000))
            probes.append(
                Probe("GET", path, {"Range": f"bytes={first}-{last}"}, 206, data[first : last + 1])
            )
        elif roll < 0.60 and size > 1:
            suffix = rng.randrange(1, size + 1)
            probes.append(Probe("GET", path, {"Range": f"bytes=-{suffix}"}, 206, data[-suffix:]))
        elif roll < 0.62:
            probes.append(Probe("GET", path, {"Range": f"bytes={size}-"}, 416, None))
        elif roll < 0.70:
            probes.append(Probe("GET", path, {"If-None-Match": etag}, 304, None))
        elif roll < 0.73:
            probes.append(Probe("GET", path, {"If-Modified-Since": last_modified}, 304, None))
        elif roll < 0.76:
            probes.append(Probe("GET", path, {"If-None-Match": '"stale"'}, 200, data))
        elif roll < 0.78:
            probes.append(Probe("HEAD", path, {"If-None-Match": etag}, 304, None))
        elif roll < 0.86:
            probes.append(Probe(rng.choice(("GET", "HEAD")), path + ".missing", {}, 404, None))
        elif roll < 0.94:
            probes.append(Probe(rng.choice(("GET", "HEAD")), rng.choice(unsafe), {}, 400, None))
        else:
            folder = rng.choice(("guide", "api", "caf%C3%A9"))
            probes.append(
                Probe("GET", f"{PREFIX}/{folder}?q=1", {}, 301, None, f"{PREFIX}/{folder}/?q=1")
            )
    return probes


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _check(probe: Probe, response: http.client.HTTPResponse, body: bytes) -> str | None:
    """What is wrong with this answer, or None."""
    if response.status != probe.status:
        return f"status {response.status}, expected {probe.status}"
    headers = {name.lower(): value for name, value in response.getheaders()}
    if any(name.startswith("x-amz-") for name in headers):
        return "an x-amz-* header"
    if headers.get("x-content-type-options") != "nosniff":
        return "no nosniff"
    if probe.method == "HEAD" or probe.status == 304:
        if body:
            return f"{len(body)} bytes of body where none belongs"
    elif probe.body is None:
        if len(body) > 100:
            return f"a {len(body)}-byte error body, expected a short text"
    elif hashlib.sha256(body).digest() != hashlib.sha256(probe.body).digest():
        return f"body differs: {len(body)} bytes, expected {len(probe.body)}"
    if probe.length is not None and headers.get("content-length") != str(probe.length):
        return f"Content-Length {headers.get('content-length')}, expected {probe.length}"
    if probe.status == 206 and not headers.get("content-range", "").startswith("bytes "):
        return "206 without Content-Range"
    if probe.status == 304 and "etag" not in headers:
        return "304 without ETag"
    if probe.location is not None and headers.get("location") != probe.location:
        return f"Location {headers.get('location')!r}, expected {probe.location!r}"
    return None


def run(host: str, port: int, probes: list[Probe], clients: int = 16) -> Result:
    """Send ``probes`` from ``clients`` threads, each on a keep-alive connection."""
    result = Result(requests=len(probes))
    lock = threading.Lock()
    shares = [probes[i::clients] for i in range(clients)]

    def client(share: list[Probe]) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        statuses: Counter = Counter()
        failures = []
        try:
            for probe in share:
                try:
                    connection.request(probe.method, probe.path, headers=probe.headers)
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as error:
                    failures.append(f"{probe.method} {probe.path}: {error!r}")
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=60)
                    continue
                statuses[response.status] += 1
                problem = _check(probe, response, body)
                if problem:
                    failures.append(f"{probe.method} {probe.path} {probe.headers}: {problem}")
                if response.will_close:
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=60)
        finally:
            connection.close()
            with lock:
                result.statuses.update(statuses)
                result.failures.extend(failures)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def process_figures(pid: int | str = "self") -> dict[str, int]:
    """Open descriptors, threads and resident memory (KiB) of a process."""
    figures = {"fds": len(os.listdir(f"/proc/{pid}/fd"))}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == "Threads":
                figures["threads"] = int(value)
            elif name == "VmRSS":
                figures["rss_kib"] = int(value.split()[0])
    return figures


def fill(client, bucket: str, site: dict[str, bytes]) -> dict:
    """Put the site in ``bucket``; each key's (ETag, Last-Modified) as S3 reports them."""
    validators = {}
    for key, data in site.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    for key in site:
        headers = client.head_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPHeaders"]
        validators[key] = (headers["etag"], headers["last-modified"])
    return validators


# The two server processes of a stand-alone run.


def _serve_moto() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


def _serve_s3wsgi(endpoint: str, bucket: str, threads: int, store: str) -> None:
    import logging

    from waitress.server import create_server

    from s3wsgi import S3App

    app = S3App(
        bucket=bucket,
        prefix=PREFIX,
        endpoint_url=endpoint,
        region_name="us-east-1",
        max_pool_connections=threads,
        store=store,
        server_threads=threads,
    )
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    # More clients than threads queue by design: no warning per request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    print(server.effective_port, flush=True)
    threading.Thread(target=server.run, daemon=True).start()
    sys.stdin.read()
    server.close()


def start_child(*arguments: str) -> tuple[subprocess.Popen, int]:
    """Run this script with ``arguments`` in a process of its own; it and
    the port it prints."""
    environment = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="soak",
        AWS_SECRET_ACCESS_KEY="soak",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    process = subprocess.Popen(
        [sys.executable, __file__, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
        text=True,
    )
    return process, int(process.stdout.readline())


def start_server(
    endpoint: str, bucket: str, *, threads: int = 8, store: str = "boto3"
) -> tuple[subprocess.Popen, int]:
    """S3App at ``PREFIX`` under waitress, in a process of its own; it and its port."""
    return start_child(
        "--serve-s3wsgi", endpoint, bucket, "--threads", str(threads), "--store", store
    )


def stop(process: subprocess.Popen) -> None:
    """Close its stdin, which ends it, and wait; kill it if it lingers."""
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="50,000 requests")
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--store", default="boto3", help="boto3 or obstore")
    parser.add_argument("--serve-moto", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-s3wsgi", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve_moto:
        _serve_moto()
        return 0
    if options.serve_s3wsgi:
        _serve_s3wsgi(*options.serve_s3wsgi, options.threads, options.store)
        return 0
    count = 50_000 if options.full else options.requests

    import boto3

    moto, moto_port = start_child("--serve-moto")
    endpoint = f"http://127.0.0.1:{moto_port}"
    server = None
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="soak",
            aws_secret_access_key="soak",
        )
        s3.create_bucket(Bucket="soak")
        site = make_site()
        validators = fill(s3, "soak", site)
        server, port = start_server(endpoint, "soak", threads=options.threads, store=options.store)
        # A warm-up at full concurrency: the figures "before" are those of a
        # server whose pools and threads already exist.
        warm = run("127.0.0.1", port, plan(20 * options.clients, site, validators, seed=0))
        time.sleep(1)
        before = process_figures(server.pid)
        result = run("127.0.0.1", port, plan(count, site, validators), options.clients)
        time.sleep(2)
        after = process_figures(server.pid)
    finally:
        if server is not None:
            stop(server)
        stop(moto)

    failures = warm.failures + result.failures
    server_errors = sum(n for status, n in result.statuses.items() if status >= 500)
    print(
        f"requests: {result.requests} from {options.clients} clients, "
        f"waitress threads: {options.threads}, store: {options.store}"
    )
    print(f"time: {result.seconds:.1f} s, {result.rate:.0f} req/s")
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(result.statuses.items())))
    print(f"unexpected answers: {len(failures)}, 5xx: {server_errors}")
    for name, unit in (("fds", ""), ("threads", ""), ("rss_kib", " KiB")):
        print(f"server {name}: before {before[name]}{unit}, after {after[name]}{unit}")
    for failure in failures[:20]:
        print("  " + failure)
    bounded = (
        after["fds"] <= before["fds"] + 4
        and after["threads"] <= before["threads"]
        and after["rss_kib"] <= before["rss_kib"] + 64 * 1024
    )
    if not bounded:
        print("server resources grew past their bounds")
    return 0 if not failures and not server_errors and bounded else 1


if __name__ == "__main__":
    sys.exit(main())
