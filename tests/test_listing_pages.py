"""A listing page costs one ListObjectsV2 request on every store, however
large the folder: both stores, over real HTTP, counting the requests that
reach moto's S3 server (it logs each one through the ``werkzeug`` logger)."""

from __future__ import annotations

import logging
import time

import pytest
import requests

FOLDER_SIZE = 5000
PAGE = 100


@pytest.fixture
def large_folder(bucket):
    """``many/``, a folder of FOLDER_SIZE keys. Put through moto's backend
    (5,000 PutObject requests would take half a minute); read over HTTP."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for number in range(FOLDER_SIZE):
        backend.put_object(bucket, f"many/k{number:05d}", b"x")
    return "many/"


def listings(caplog) -> int:
    """How many ListObjectsV2 requests moto's server logged so far."""
    return sum("list-type=2" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("after", [None, "k02500"])
def test_a_listing_page_is_one_list_objects_request(
    serve, make_middleware, large_folder, caplog, after
):
    url = serve(make_middleware(listing=True, listing_page_size=PAGE))
    query = "format=json" + (f"&after={after}" if after else "")
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        page = requests.get(f"{url}/docs/{large_folder}?{query}", timeout=30)
        assert listings(caplog) == 1
    assert page.status_code == 200
    names = [item["name"] for item in page.json()["objects"]]
    first = int(after[1:]) + 1 if after else 0
    assert names == [f"k{number:05d}" for number in range(first, first + PAGE)]
    assert page.json()["next"] == f"?after=k{first + PAGE - 1:05d}"


def test_the_last_page_of_a_large_folder_says_there_is_no_next(
    serve, make_middleware, large_folder, caplog
):
    url = serve(make_middleware(listing=True, listing_page_size=PAGE))
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        page = requests.get(f"{url}/docs/{large_folder}?format=json&after=k04949", timeout=30)
        assert listings(caplog) == 1
    names = [item["name"] for item in page.json()["objects"]]
    assert names == [f"k{number:05d}" for number in range(4950, FOLDER_SIZE)]
    assert page.json()["next"] is None


def test_a_listing_page_ends_within_the_deadline(serve, make_middleware, large_folder, proxy):
    """Every S3 request here takes 0.6 s: the folder's index document's, then
    the page's. One attempt (1.5 s at most) fits the deadline after the
    first; a listing of the whole folder, a request per 1,000 keys, would
    not."""
    app = make_middleware(
        endpoint_url=proxy.url,
        listing=True,
        listing_page_size=PAGE,
        connect_timeout=0.5,
        read_timeout=1.0,
        deadline=2.5,
    )
    url = serve(app)
    requests.get(f"{url}/docs/digits.txt", timeout=10)  # reads the publish manifest once
    proxy.set("latency", delay=0.6)
    started = time.monotonic()
    page = requests.get(f"{url}/docs/{large_folder}?format=json", timeout=30)
    elapsed = time.monotonic() - started
    assert page.status_code == 200
    assert len(page.json()["objects"]) == PAGE
    assert elapsed < 2.5
