"""The concurrency soak at a size for every test run: 2,000 mixed requests from
16 clients against waitress with 8 threads, every answer checked.

The server (S3App under waitress) runs in a process of its own, so its
descriptors, threads and memory are its own and not this process's, which
also holds moto's server and the clients. ``python benchmarks/soak.py
--full`` runs the same load at 50,000 requests.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

_SOAK_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"
_spec = importlib.util.spec_from_file_location("soak", _SOAK_PATH)
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak  # dataclasses look their module up there
_spec.loader.exec_module(soak)

REQUESTS = 2_000
CLIENTS = 16
THREADS = 8


@pytest.fixture
def soak_server(s3_endpoint, s3_client, bucket, store_kind):
    """The soak site in the test bucket, served by a server process; its
    process, port, the site and the objects' validators."""
    site = soak.make_site()
    validators = soak.fill(s3_client, bucket, site)
    process, port = soak.start_server(s3_endpoint, bucket, threads=THREADS, store=store_kind)
    yield process, port, site, validators
    soak.stop(process)


def test_two_thousand_mixed_requests_all_answer_right_with_bounded_resources(soak_server):
    process, port, site, validators = soak_server
    # A warm-up, so that "before" is a server whose pools, threads and
    # allocator arenas exist already (obstore's Rust side grows ~30 MiB here).
    warm = soak.run("127.0.0.1", port, soak.plan(400, site, validators, seed=0), CLIENTS)
    assert warm.failures == []
    time.sleep(0.5)
    before = soak.process_figures(process.pid)

    result = soak.run("127.0.0.1", port, soak.plan(REQUESTS, site, validators), CLIENTS)
    time.sleep(0.5)
    after = soak.process_figures(process.pid)
    print(
        f"{result.requests} requests in {result.seconds:.1f}s ({result.rate:.0f} req/s); "
        f"{dict(result.statuses)}; server before {before}, after {after}"
    )

    assert result.failures[:10] == []
    assert sum(result.statuses.values()) == REQUESTS
    # Every kind of answer was exercised, and none was a 5xx.
    assert set(result.statuses) == {200, 206, 301, 304, 400, 404, 416}
    assert after["fds"] <= before["fds"] + 2
    assert after["threads"] <= before["threads"]
    # Allocators keep growing for a while after a warm-up (obstore's by
    # ~30 MiB, then flat over 40,000 requests): a leak of 24 KiB or more per
    # request would break the first bound. benchmarks/soak.py --full
    # bounds growth over 50,000 requests. The second bound is what a server
    # streaming bodies of up to 3 MiB in chunks may hold at all.
    assert after["rss_kib"] <= before["rss_kib"] + 48 * 1024
    assert after["rss_kib"] <= 192 * 1024
