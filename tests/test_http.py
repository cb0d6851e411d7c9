"""What a browser or curl sees: real HTTP through waitress to moto's S3 server."""

from __future__ import annotations

import gzip
import http.client
import logging
import re
import socket
import time
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit
from wsgiref.validate import validator

import pytest
import requests
from sample_site import SITE


def raw_request(url: str, request: bytes) -> bytes:
    """Send bytes as they are (no client normalises the path) and read the
    whole answer; the request must ask for Connection: close."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def raw_get(
    url: str, target: str, method: str = "GET", headers: str = ""
) -> tuple[int, bytes, bytes]:
    """(status, head, body) for ``method target`` sent verbatim."""
    answer = raw_request(
        url,
        f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode(
            "latin-1"
        ),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def no_redirect(url, **kwargs):
    return requests.get(url, allow_redirects=False, timeout=10, **kwargs)


@pytest.fixture
def docs_url(make_middleware, serve):
    """The middleware at /docs/, every answer checked by wsgiref's validator."""
    return serve(validator(make_middleware(cache_control="max-age=60"))) + "/docs/"


# --- §1 the wrapped app, untouched ---------------------------------------------


def echo_app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    headers = [("Content-Type", "application/octet-stream"), ("X-App", "yes")]
    headers.append(("Set-Cookie", "session=abc; Path=/"))
    start_response("418 I'm a teapot", headers)
    return [
        environ["REQUEST_METHOD"].encode(),
        b":",
        body,
        b":",
        environ.get("HTTP_COOKIE", "").encode(),
    ]


def test_the_app_gets_its_requests_bodies_and_cookies_untouched(make_middleware, serve):
    plain = serve(echo_app)
    wrapped = serve(make_middleware(echo_app))
    answers = []
    for base in (plain, wrapped):
        response = requests.post(
            base + "/form?x=1", data=b"a=1&b=2", cookies={"c": "d"}, timeout=10
        )
        answers.append(response)
    bare, through = answers
    assert through.status_code == 418
    assert through.content == b"POST:a=1&b=2:c=d" == bare.content
    without_date = lambda r: {k: v for k, v in r.headers.items() if k != "Date"}  # noqa: E731
    assert without_date(through) == without_date(bare)
    assert requests.get(wrapped + "/docsy", timeout=10).status_code == 418


# --- §3 mapping and redirects ----------------------------------------------------


def test_a_documentation_site_loads_with_its_relative_assets(docs_url):
    page = requests.get(docs_url, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    stylesheet = re.search(rb"href=(\S+?)>", page.content).group(1).decode()
    css = requests.get(urljoin(docs_url, stylesheet), timeout=10)
    assert css.status_code == 200 and css.content == SITE["style.css"][0]
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    guide = requests.get(docs_url + "guide/", timeout=10)
    up = re.search(rb"href=(\S+?)>", guide.content).group(1).decode()
    assert (
        requests.get(urljoin(docs_url + "guide/", up), timeout=10).content == SITE["index.html"][0]
    )
    image = requests.get(docs_url + "img/logo.png", timeout=10)
    assert image.content == SITE["img/logo.png"][0] and image.headers["Content-Type"] == "image/png"


def test_unicode_paths(docs_url):
    response = requests.get(docs_url + "caf\u00e9/menu.html", timeout=10)
    assert response.status_code == 200
    assert response.content == SITE["caf\u00e9/menu.html"][0]


def test_redirects_add_the_slash_keep_the_query_and_stay_local(docs_url):
    base = docs_url[: -len("/docs/")]
    response = no_redirect(base + "/docs?lang=en")
    assert response.status_code == 301
    assert response.headers["Location"] == "/docs/?lang=en"
    response = no_redirect(docs_url + "guide?a=1&b=%C3%A9")
    assert response.status_code == 301
    assert response.headers["Location"] == "/docs/guide/?a=1&b=%C3%A9"
    assert requests.get(docs_url + "guide", timeout=10).content == SITE["guide/index.html"][0]
    # A unicode folder is percent-encoded exactly once.
    status, head, _ = raw_get(docs_url, "/docs/caf%C3%A9")
    assert status == 404  # café/index.html does not exist
    assert no_redirect(docs_url + "nothing").status_code == 404


def test_redirects_include_the_mount_point(make_middleware, serve):
    base = serve(make_middleware(), url_prefix="/intranet")
    response = no_redirect(base + "/intranet/docs")
    assert response.headers["Location"] == "/intranet/docs/"
    response = no_redirect(base + "/intranet/docs/guide")
    assert response.headers["Location"] == "/intranet/docs/guide/"
    assert requests.get(base + "/intranet/docs/guide/", timeout=10).status_code == 200


def test_unicode_folder_redirect_is_encoded_once(make_middleware, serve, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="caf\u00e9/index.html", Body=b"menu")
    base = serve(make_middleware())
    status, head, _ = raw_get(base, "/docs/caf%C3%A9?q=%C3%A9")
    assert status == 301
    assert b"\r\nLocation: /docs/caf%C3%A9/?q=%C3%A9\r\n" in head


@pytest.mark.parametrize(
    "target",
    [
        "/docs/%2e%2e/secret",
        "/docs/..%2fsecret",
        "/docs/a/%2E%2E/%2E%2E/secret",
        "/docs/%5csecret",
        "/docs/a%00b",
        "/docs/a%0d%0ab",
        "/docs/%ff%fe",
        "/docs/%c0%ae%c0%ae/secret",
        "/docs//index.html",
        "/docs/./index.html",
        "/docs/" + "a" * 1100,
    ],
)
def test_unsafe_paths_get_400_over_the_wire(docs_url, target):
    status, _, body = raw_get(docs_url, target)
    assert status == 400
    assert body == b"400 Bad Request\n"


# --- §4 methods and headers --------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/docs/", "/docs/style.css", "/docs", "/docs/missing", "/docs/%2e%2e/x", "/docs/guide"],
)
def test_head_sends_the_headers_of_get_and_never_a_body(docs_url, target):
    get_status, get_head, _ = raw_get(docs_url, target)
    head_status, head_head, head_body = raw_get(docs_url, target, "HEAD")
    assert head_status == get_status
    assert head_body == b""
    strip = lambda h: sorted(line for line in h.split(b"\r\n")[1:] if not line.startswith(b"Date:"))  # noqa: E731
    assert strip(head_head) == strip(get_head)


def test_options_and_405(docs_url):
    response = requests.options(docs_url, timeout=10)
    assert response.status_code == 204
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    for method in ("POST", "PUT", "DELETE"):
        response = requests.request(method, docs_url + "index.html", data=b"x", timeout=10)
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_s3_headers_are_forwarded_from_an_allowlist(docs_url, s3_client, bucket, store_kind):
    s3_client.put_object(
        Bucket=bucket,
        Key="report.txt.gz",
        Body=gzip.compress(b"hello"),
        ContentType="text/plain",
        ContentEncoding="gzip",
        ContentLanguage="en",
        ContentDisposition='attachment; filename="report.txt"',
        CacheControl="no-store",
        Expires=datetime(2030, 1, 1, tzinfo=timezone.utc),
        Metadata={"owner": "secret-team"},
    )
    connection = http.client.HTTPConnection(urlsplit(docs_url).netloc, timeout=10)
    connection.request("GET", "/docs/report.txt.gz")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    headers = {name.lower(): value for name, value in response.getheaders()}
    assert gzip.decompress(body) == b"hello"
    assert headers["content-encoding"] == "gzip"
    assert headers["content-language"] == "en"
    assert headers["content-disposition"] == 'attachment; filename="report.txt"'
    assert headers["cache-control"] == "no-store"
    if store_kind == "boto3":
        # obstore does not expose Expires (a documented limit of the fast store).
        assert headers["expires"] == "Tue, 01 Jan 2030 00:00:00 GMT"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    assert headers["accept-ranges"] == "bytes"
    assert headers["x-content-type-options"] == "nosniff"
    assert not [name for name in headers if name.startswith("x-amz")]
    assert "secret-team" not in str(headers)
    assert "etag" in headers and "last-modified" in headers


def test_untyped_objects_get_a_type_from_their_extension(docs_url):
    response = requests.get(docs_url + "untyped.js", timeout=10)
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"


def test_every_answer_says_nosniff_and_accepts_ranges(docs_url):
    for path in ("", "style.css", "missing", "%2e%2e/x", "guide"):
        response = no_redirect(docs_url + path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Accept-Ranges"] == "bytes", path


# --- §5 conditional and range requests -------------------------------------------


def test_if_none_match_gives_304_with_etag_and_cache_control(docs_url):
    first = requests.get(docs_url + "style.css", timeout=10)
    etag = first.headers["ETag"]
    response = requests.get(docs_url + "style.css", headers={"If-None-Match": etag}, timeout=10)
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "max-age=60"
    weak = requests.get(
        docs_url + "style.css", headers={"If-None-Match": f'"x", W/{etag}'}, timeout=10
    )
    assert weak.status_code == 304 and weak.headers["ETag"] == etag
    star = requests.get(docs_url + "style.css", headers={"If-None-Match": "*"}, timeout=10)
    assert star.status_code == 304
    other = requests.get(docs_url + "style.css", headers={"If-None-Match": '"other"'}, timeout=10)
    assert other.status_code == 200 and other.content == SITE["style.css"][0]


def test_if_modified_since(docs_url):
    first = requests.get(docs_url + "style.css", timeout=10)
    last_modified = first.headers["Last-Modified"]
    response = requests.get(
        docs_url + "style.css", headers={"If-Modified-Since": last_modified}, timeout=10
    )
    assert response.status_code == 304
    old = requests.get(
        docs_url + "style.css",
        headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        timeout=10,
    )
    assert old.status_code == 200
    # If-None-Match wins: a stale tag means 200 whatever the date says.
    both = requests.get(
        docs_url + "style.css",
        headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified},
        timeout=10,
    )
    assert both.status_code == 200
    garbage = requests.get(
        docs_url + "style.css", headers={"If-Modified-Since": "yesterday"}, timeout=10
    )
    assert garbage.status_code == 200


def test_failed_preconditions_give_412(docs_url):
    etag = requests.get(docs_url + "digits.txt", timeout=10).headers["ETag"]
    for headers in (
        {"If-Match": '"nope"'},
        {"If-Match": f"W/{etag}"},
        {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
    ):
        response = requests.get(docs_url + "digits.txt", headers=headers, timeout=10)
        assert response.status_code == 412, headers
    for headers in ({"If-Match": etag}, {"If-Match": "*"}, {"If-Match": f'"a", {etag}'}):
        response = requests.get(docs_url + "digits.txt", headers=headers, timeout=10)
        assert response.status_code == 200, headers


@pytest.mark.parametrize(
    "range_header, status, body, content_range",
    [
        ("bytes=2-5", 206, b"2345", "bytes 2-5/10"),
        ("bytes=7-", 206, b"789", "bytes 7-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=-500", 206, b"0123456789", "bytes 0-9/10"),
        ("bytes=5-100", 206, b"56789", "bytes 5-9/10"),
        ("bytes=10-", 416, None, "bytes */10"),
        ("bytes=-0", 416, None, "bytes */10"),
        ("bytes=0-1,5-6", 200, b"0123456789", None),
        ("bytes=5-2", 200, b"0123456789", None),
        ("pages=1", 200, b"0123456789", None),
    ],
)
def test_ranges(docs_url, range_header, status, body, content_range):
    response = requests.get(docs_url + "digits.txt", headers={"Range": range_header}, timeout=10)
    assert response.status_code == status
    if body is not None:
        assert response.content == body
        assert response.headers["Content-Length"] == str(len(body))
    assert response.headers.get("Content-Range") == content_range


def test_if_range(docs_url):
    first = requests.get(docs_url + "digits.txt", timeout=10)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    cases = [
        (etag, 206, b"23"),
        ('"stale"', 200, b"0123456789"),
        (f"W/{etag}", 200, b"0123456789"),
        (last_modified, 206, b"23"),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 200, b"0123456789"),
    ]
    for if_range, status, body in cases:
        response = requests.get(
            docs_url + "digits.txt",
            headers={"Range": "bytes=2-3", "If-Range": if_range},
            timeout=10,
        )
        assert (response.status_code, response.content) == (status, body), if_range


def test_head_ignores_range(docs_url):
    response = requests.head(docs_url + "digits.txt", headers={"Range": "bytes=0-1"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "10"


# --- §6 streaming -------------------------------------------------------------


def test_a_client_leaving_mid_body_does_not_disturb_the_server(
    make_middleware, serve, s3_client, bucket
):
    payload = bytes(range(256)) * 4096 * 8  # 8 MiB
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=payload)
    base = serve(make_middleware())
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", urlsplit(base).port), timeout=10) as sock:
            sock.sendall(b"GET /docs/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    response = requests.get(base + "/docs/big.bin", timeout=30)
    assert response.content == payload
    ranged = requests.get(
        base + "/docs/big.bin", headers={"Range": "bytes=1000000-1000009"}, timeout=10
    )
    assert ranged.content == payload[1000000:1000010]


# --- §7 faults ----------------------------------------------------------------


def assert_clean_error(response, status, bucket):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert len(response.content) < 100
    for secret in (bucket, "Traceback", "Error", "RequestId", "amz"):
        assert secret not in response.text


def test_a_missing_bucket_is_a_502_that_names_nothing(make_middleware, serve, caplog):
    base = serve(make_middleware(bucket="no-such-bucket-here"))
    with caplog.at_level(logging.ERROR, logger="s3wsgi"):
        response = requests.get(base + "/docs/index.html", timeout=10)
    assert_clean_error(response, 502, "no-such-bucket-here")
    assert "NoSuchBucket" in caplog.text and "no-such-bucket-here" in caplog.text


def test_an_unreachable_endpoint_is_a_502_in_bounded_time(make_middleware, serve, caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    base = serve(make_middleware(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=2))
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="s3wsgi"):
        response = requests.get(base + "/docs/index.html", timeout=30)
    assert time.monotonic() - started < 10
    assert_clean_error(response, 502, "site-")
    assert "GetObject" in caplog.text or "get_object" in caplog.text
