"""An S3 answer cut at any point never becomes a 500: before the answer has
started it is a logged 502, after it the connection is aborted, so a client
never takes a short body for a whole one. Both stores, over real HTTP:
client -> waitress -> middleware -> fault proxy -> moto's S3 server."""

from __future__ import annotations

import http.client
import os
from urllib.parse import urlsplit

import pytest

BIG = os.urandom(2 * 1024 * 1024)


def fetch(url: str, path: str, method: str = "GET", headers=None):
    """(status, body, whether the body was cut short)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        try:
            return response.status, response.read(), False
        except http.client.IncompleteRead as error:
            return response.status, error.partial, True
    finally:
        connection.close()


@pytest.fixture
def url(make_middleware, serve, proxy, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=BIG)
    # One attempt, and a breaker that never opens: each cut is seen as it is.
    app = make_middleware(endpoint_url=proxy.url, max_attempts=1, breaker_failures=10_000)
    return serve(app)


def etag_of(url: str) -> str:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("HEAD", "/docs/digits.txt")
        return connection.getresponse().getheader("ETag")
    finally:
        connection.close()


# S3's answer, as the middleware asks for it: (request path, method, headers,
# the client's answer when S3 is not cut, the size of S3's body).
ANSWERS = {
    "GetObject 200": ("/docs/digits.txt", "GET", {}, 200, 10),
    "GetObject 200, large": ("/docs/big.bin", "GET", {}, 200, len(BIG)),
    "GetObject 206": ("/docs/big.bin", "GET", {"Range": "bytes=0-99"}, 206, 100),
    "GetObject 304": ("/docs/digits.txt", "GET", {"If-None-Match": "{etag}"}, 304, 0),
    "GetObject 404": ("/docs/nope.html", "GET", {}, 404, None),
    "GetObject 412": ("/docs/digits.txt", "GET", {"If-Match": '"other"'}, 412, None),
    "GetObject 416": ("/docs/digits.txt", "GET", {"Range": "bytes=50-"}, 416, None),
    "HeadObject 200": ("/docs/digits.txt", "HEAD", {}, 200, 0),
    "HeadObject 404": ("/docs/nope.html", "HEAD", {}, 404, 0),
}


def cut_points(head: int, body: int | None) -> dict[str, int]:
    """Where to cut S3's answer: in its status line, its headers, right
    after them, in its (error) body, and in a later chunk of a large one."""
    points = {"status line": 5, "headers": head // 2, "end of headers": head}
    if body is None or body > 0:
        points["body"] = head + min(body or 40, 200_000) // 2
    if body and body > 1024 * 1024:
        points["later chunk"] = head + 1024 * 1024
    return points


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_an_s3_answer_cut_anywhere_is_a_clean_5xx_or_an_aborted_body(url, proxy, answer):
    path, method, headers, status, size = ANSWERS[answer]
    headers = {name: value.format(etag=etag_of(url)) for name, value in headers.items()}
    proxy.heads.clear()
    whole = fetch(url, path, method, headers)
    assert whole[0] == status
    head = proxy.heads[-1]  # the last S3 answer of the request, uncut
    for where, offset in cut_points(head, size).items():
        proxy.set("cut-at", after=offset)
        got, body, short = fetch(url, path, method, headers)
        assert got != 500, (answer, where)
        if where == "later chunk":
            # The answer had started: the connection is aborted, never ended
            # as if the body were whole.
            assert got == 200 and short, (answer, where)
        elif where == "status line" or (method == "GET" and status in (200, 206)):
            # Before the answer has started: a clean 502.
            assert (got, short) == (502, False), (answer, where, got)
            assert body == b"502 Bad Gateway\n" or method == "HEAD"
        else:
            # The status came whole, and it alone decides the answer (a client
            # may read a header block cut short as ended): that answer, or 502.
            assert got in (status, 502) and not short, (answer, where, got)
        proxy.set("pass")
