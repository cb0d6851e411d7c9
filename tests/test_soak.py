"""The concurrency soak at a size for every test run: 2,000 mixed requests from
16 clients against waitress with 8 threads, every answer checked.

``python benchmarks/soak.py --full`` runs the same load at 50,000 requests,
with the servers in their own processes.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

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
def soak_site(s3_client, bucket):
    site = soak.make_site()
    return site, soak.fill(s3_client, bucket, site)


def test_two_thousand_mixed_requests_all_answer_right_with_bounded_resources(
    make_middleware, soak_site, serve
):
    site, validators = soak_site
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    url = serve(make_middleware(prefix=soak.PREFIX, max_pool_connections=THREADS), threads=THREADS)
    port = urlsplit(url).port

    warm = soak.run("127.0.0.1", port, soak.plan(10 * CLIENTS, site, validators, seed=0), CLIENTS)
    assert warm.failures == []
    time.sleep(0.5)
    before = soak.process_figures()

    result = soak.run("127.0.0.1", port, soak.plan(REQUESTS, site, validators), CLIENTS)
    time.sleep(0.5)
    after = soak.process_figures()
    print(
        f"{result.requests} requests in {result.seconds:.1f}s ({result.rate:.0f} req/s); "
        f"{dict(result.statuses)}; before {before}, after {after}"
    )

    assert result.failures[:10] == []
    assert sum(result.statuses.values()) == REQUESTS
    # Every kind of answer was exercised.
    assert set(result.statuses) == {200, 206, 301, 304, 400, 404, 416}
    assert after["fds"] <= before["fds"] + 4
    assert after["threads"] <= before["threads"]
    # The process holds the test's own objects too; a leak of one small
    # object per request would still show well past this.
    assert after["rss_kib"] <= before["rss_kib"] + 48 * 1024
