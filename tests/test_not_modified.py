"""A 304 carries what the 200 it stands for would (RFC 9110 §15.4.5):
ETag, Last-Modified, Cache-Control, Expires, whatever the S3 server puts on
its own 304 (moto's carries the ETag only). Over real HTTP, both stores,
counting the S3 requests through a pass-through proxy."""

from __future__ import annotations

import pytest
import requests
from faultproxy import FaultProxy

CACHE_CONTROL = "public, max-age=3600"
EXPIRES = "Thu, 01 Jan 2099 00:00:00 GMT"


@pytest.fixture
def page(s3_client, bucket):
    s3_client.put_object(
        Bucket=bucket,
        Key="guide/cached.html",
        Body=b"<p>kept</p>",
        ContentType="text/html",
        CacheControl=CACHE_CONTROL,
        Expires=EXPIRES,
    )
    return "/docs/guide/cached.html"


def counted(proxy: FaultProxy, request) -> tuple[requests.Response, int]:
    """The answer, and how many S3 requests it took (moto closes every
    connection after one answer, so each is a connection)."""
    before = proxy.accepted
    answer = request()
    return answer, proxy.accepted - before


def assert_like_the_200(not_modified, ok, store_kind) -> None:
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    for name in ("ETag", "Last-Modified", "Cache-Control"):
        assert not_modified.headers.get(name) == ok.headers[name], name
    assert not_modified.headers["Cache-Control"] == CACHE_CONTROL
    if store_kind == "boto3":  # obstore does not expose Expires
        assert not_modified.headers["Expires"] == EXPIRES
    assert (
        "Content-Length" not in not_modified.headers
        or not_modified.headers["Content-Length"] == "0"
    )


def test_a_304_to_if_none_match_is_one_s3_request_with_the_200s_headers(
    make_middleware, serve, proxy, page, store_kind
):
    url = serve(make_middleware(endpoint_url=proxy.url))
    ok = requests.get(url + page, timeout=10)
    assert ok.status_code == 200
    again, s3_requests = counted(
        proxy, lambda: requests.get(url + page, headers={"If-None-Match": ok.headers["ETag"]})
    )
    assert_like_the_200(again, ok, store_kind)
    assert s3_requests == 1


def test_a_304_to_if_modified_since_carries_the_etag(
    make_middleware, serve, proxy, page, store_kind
):
    url = serve(make_middleware(endpoint_url=proxy.url))
    ok = requests.get(url + page, timeout=10)
    again, s3_requests = counted(
        proxy,
        lambda: requests.get(
            url + page, headers={"If-Modified-Since": ok.headers["Last-Modified"]}
        ),
    )
    assert_like_the_200(again, ok, store_kind)
    assert s3_requests <= 2


def test_a_304_for_a_200_this_process_never_sent_asks_s3_once_more(
    make_middleware, serve, proxy, page, store_kind
):
    # Another process (a gunicorn worker) sent the 200; this one learns the
    # headers with one HeadObject, once.
    other = serve(make_middleware(endpoint_url=proxy.url))
    ok = requests.get(other + page, timeout=10)
    url = serve(make_middleware(endpoint_url=proxy.url))
    validator = {"If-None-Match": ok.headers["ETag"]}
    first, s3_requests = counted(proxy, lambda: requests.get(url + page, headers=validator))
    assert_like_the_200(first, ok, store_kind)
    assert s3_requests == 3  # the publish manifest (once per process), the 304, a HEAD
    second, s3_requests = counted(proxy, lambda: requests.get(url + page, headers=validator))
    assert_like_the_200(second, ok, store_kind)
    assert s3_requests == 1


def test_the_cache_control_option_fills_a_304_as_it_fills_the_200(
    make_middleware, serve, proxy, stored
):
    url = serve(make_middleware(endpoint_url=proxy.url, cache_control="max-age=60"))
    ok = requests.get(url + "/docs/digits.txt", timeout=10)
    assert ok.headers["Cache-Control"] == "max-age=60"
    again = requests.get(
        url + "/docs/digits.txt", headers={"If-None-Match": ok.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "max-age=60"
