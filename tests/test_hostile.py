"""Hostile input: any path, any header, any method.

Property-based tests (hypothesis) of the path -> key mapping and of the whole
middleware in-process over a recording store; raw-socket tests over real HTTP
for what HTTP clients would normalise away; the ``authorize`` hook denying
before any S3 call. The answer is always a clean 4xx, or the right
200/206/304/301: never a 5xx, never a key outside ``key_prefix``, never a
redirect off this host, never the request reflected unescaped.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import unquote_to_bytes, urlsplit
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_site import SITE

from s3wsgi import S3Middleware
from s3wsgi.http.paths import MAX_KEY_BYTES, BadPath, key_for, redirect_location, wsgi_to_text
from s3wsgi.stores.base import NotFound, ObjectRequest, S3Object
from s3wsgi.stores.cache import CachingStore

KEY_PREFIX = "site/"
# These properties judge answers, never timings: on a shared, noisy machine
# any example can stall past hypothesis's default 200 ms deadline, and a
# faster re-run would then be reported as a flaky test.
timeless = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f]")

# Pieces a hostile path is made of: separators, dot segments in their
# disguises, encodings, schemes and hosts, control characters.
FRAGMENTS = [
    "/",
    "//",
    ".",
    "..",
    "...",
    "%2e",
    "%2f",
    "%5c",
    "\\",
    "\x00",
    "\r\n",
    "\t",
    " ",
    "?",
    "#",
    ":",
    "@",
    "%",
    "http:",
    "//evil.example",
    "\\evil.example",
    "guide",
    "index.html",
    "caf\u00e9".encode().decode("latin-1"),
    "\xc0\xae",
    "\xe0\x80\xae",
    "\xff",
    "\x85",
    "<script>",
    '"',
    "'",
]
wsgi_text = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1"))
hostile_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), wsgi_text), max_size=12).map("".join)


# --- the mapping, pure ----------------------------------------------------------


@timeless
@given(rest=st.one_of(st.text(), hostile_text), key_prefix=st.sampled_from(["", "site/", "a/b/"]))
def test_any_path_maps_to_a_key_inside_key_prefix_or_is_refused(rest, key_prefix):
    try:
        key = key_for(rest, key_prefix=key_prefix, index_document="index.html")
    except BadPath:
        return
    assert key.startswith(key_prefix)
    inside = key[len(key_prefix) :].split("/")
    assert not any(segment in ("", ".", "..") for segment in inside)
    assert not UNSAFE.search(key)
    assert len(key.encode("utf-8")) <= MAX_KEY_BYTES


@timeless
@given(raw=st.binary())
def test_wsgi_paths_decode_as_utf8_or_are_refused(raw):
    try:
        text = wsgi_to_text(raw.decode("latin-1"))
    except BadPath:
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    else:
        assert text == raw.decode("utf-8")


@timeless
@given(path=st.one_of(wsgi_text, hostile_text), query=st.one_of(wsgi_text, hostile_text))
def test_any_redirect_location_is_a_local_path_in_plain_ascii(path, query):
    location = redirect_location(path, query)
    assert_local_location(location)
    # The path bytes survive, percent-encoded exactly once.
    target = location.split("?", 1)[0]
    assert unquote_to_bytes(target) == b"/" + path.encode("latin-1").lstrip(b"/")


def assert_local_location(location: str) -> None:
    """A path on this host: no scheme, no ``//host`` nor ``/\\host`` (which
    browsers read as ``//host``), nothing but printable ASCII."""
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))
    assert re.fullmatch(r"[\x21-\x7e]*", location), location
    assert not urlsplit(location).scheme and not urlsplit(location).netloc


# --- the whole middleware, in-process --------------------------------------------


class RecordingStore:
    """A store over a dict that records every key it is asked for."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects
        self.keys: list[str] = []

    def _find(self, key: str) -> bytes:
        self.keys.append(key)
        if key not in self.objects:
            raise NotFound()
        return self.objects[key]

    def head(self, request: ObjectRequest) -> S3Object:
        data = self._find(request.key)
        return S3Object(200, {"content-length": str(len(data)), "etag": '"e"'})

    def get(self, request: ObjectRequest) -> S3Object:
        data = self._find(request.key)
        return S3Object(200, {"content-length": str(len(data)), "etag": '"e"'}, [data])


def recording_middleware(*, cached: bool = False, **options) -> tuple[S3Middleware, RecordingStore]:
    objects = {KEY_PREFIX + key: body for key, (body, _) in SITE.items()}
    store = RecordingStore(objects)
    front = CachingStore(store, max_bytes=1024 * 1024) if cached else store
    middleware = S3Middleware(host_app_stub, store=front, key_prefix=KEY_PREFIX, **options)
    return middleware, store


def host_app_stub(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"host"]


def call_raw(app, method: str, path_info: str, query: str = "", script_name: str = "", **headers):
    """One request with a raw PEP 3333 environ; status, headers, body."""
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method, PATH_INFO=path_info, QUERY_STRING=query, SCRIPT_NAME=script_name
    )
    for name, value in headers.items():
        environ["HTTP_" + name.upper()] = value
    started = []
    result = validator(app)(environ, lambda s, h, exc_info=None: started.append((s, h)))
    try:
        body = b"".join(result)
    finally:
        result.close()
    status, response_headers = started[-1]
    return int(status.split()[0]), response_headers, body


header_value = st.one_of(
    st.none(),
    wsgi_text,
    st.sampled_from(
        [
            "bytes=0-1",
            "bytes=-5",
            "bytes=5-",
            "bytes=0-0,2-3",
            "bytes=9999999999999999999-",
            '"e"',
            "*",
            'W/"e"',
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            # Out of Python's range: invalid dates, which RFC 9110 ignores.
            "Mon, 01 Jan 99999999999 00:00:00 GMT",
            "Mon, 01 Jan 10000 00:00:00 GMT",
            "Mon, 01 Jan 0000 00:00:00 GMT",
        ]
    ),
)
methods = st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "TRACE", "BREW"])


@settings(timeless, max_examples=400)
@given(
    method=methods,
    rest=st.one_of(hostile_text, wsgi_text, st.sampled_from(["", "guide", "guide/", "caf"])),
    query=hostile_text,
    script_name=st.sampled_from(["", "/app", "/caf\xc3\xa9"]),
    range_=header_value,
    if_none_match=header_value,
    if_modified_since=header_value,
    if_range=header_value,
    if_match=header_value,
    if_unmodified_since=header_value,
    cached=st.booleans(),
)
def test_any_request_gets_a_sound_answer_and_no_key_outside_key_prefix(
    method,
    rest,
    query,
    script_name,
    range_,
    if_none_match,
    if_modified_since,
    if_range,
    if_match,
    if_unmodified_since,
    cached,
):
    # Cached, the store answers validators and ranges as S3 does; else it
    # ignores them as some S3 servers do, and the middleware decides.
    middleware, store = recording_middleware(cached=cached)
    headers = {
        "RANGE": range_,
        "IF_NONE_MATCH": if_none_match,
        "IF_MODIFIED_SINCE": if_modified_since,
        "IF_RANGE": if_range,
        "IF_MATCH": if_match,
        "IF_UNMODIFIED_SINCE": if_unmodified_since,
    }
    status, response_headers, body = call_raw(
        middleware,
        method,
        "/docs/" + rest,
        query,
        script_name,
        **{name: value for name, value in headers.items() if value is not None},
    )
    assert status < 500
    for key in store.keys:
        assert key.startswith(KEY_PREFIX)
        assert not any(s in ("", ".", "..") for s in key[len(KEY_PREFIX) :].split("/"))
    for name, value in response_headers:
        assert not re.search(r"[\r\n\x00]", name + value)
        if name.lower() == "location":
            assert_local_location(value)
    if method == "HEAD" or status in (204, 304):
        assert body == b""
    if status >= 300 and status != 304:
        assert_no_reflection(body)


def assert_no_reflection(body: bytes) -> None:
    """An error or redirect body names its status and nothing of the request."""
    assert re.fullmatch(rb"(\d{3} [A-Za-z -]+\n)?", body), body


@timeless
@given(method=methods, rest=st.one_of(hostile_text, wsgi_text))
def test_authorize_denies_any_request_before_the_store_is_asked(method, rest):
    middleware, store = recording_middleware(authorize=lambda environ: False)
    status, _, body = call_raw(middleware, method, "/docs/" + rest)
    assert status == 403
    assert store.keys == []
    assert body == (b"" if method == "HEAD" else b"403 Forbidden\n")


# --- over real HTTP, raw sockets ---------------------------------------------------


def raw_request(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers (lower-case names) and body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(request)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def get(url: str, target: bytes, method: bytes = b"GET", extra: bytes = b""):
    return raw_request(
        url,
        method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\n"
        b"Connection: close\r\n" + extra + b"\r\n",
    )


@pytest.fixture
def docs_url(make_middleware, serve):
    return serve(make_middleware())


@pytest.fixture(scope="module")
def no_s3_url():
    """The middleware with an S3 endpoint where nothing listens: an answer
    that is not a 502 was given without asking S3."""
    from appserver import AppServer

    server = AppServer(
        S3Middleware(
            host_app_stub,
            bucket="never-asked",
            endpoint_url="http://127.0.0.1:9",
            connect_timeout=0.5,
            max_attempts=1,
        )
    )
    yield server.url
    server.close()


@pytest.mark.parametrize(
    "target",
    [
        b"/docs/../index.html",
        b"/docs/guide/../index.html",
        b"/docs/guide/../../../etc/passwd",
        b"/docs/%2e%2e/index.html",
        b"/docs/%2E%2E/%2e%2E/etc/passwd",
        b"/docs/guide/%2e/intro.html",
        b"/docs/..%2findex.html",
        b"/docs/guide%2f..%2f..%2fsecret",
        b"/docs/..%5cindex.html",
        b"/docs/guide%5cintro.html",
        b"/docs/%5c%5cevil.example/x",
        b"/docs/index.html%00.png",
        b"/docs/%00",
        b"/docs/a%0d%0aSet-Cookie:%20x=1",
        b"/docs/%c0%ae%c0%ae/index.html",
        b"/docs/%e0%80%ae%e0%80%ae/index.html",
        b"/docs/%c0%af",
        b"/docs/%ff",
        b"/docs//etc/passwd",
        b"/docs/guide//intro.html",
        b"/docs/" + b"a" * 16 * 1024,
        b"/docs/" + b"a/" * 8 * 1024,
        b"/docs/" + b"%2e%2e/" * 2000 + b"x",
    ],
)
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_paths_that_clients_normalise_away_get_400_without_asking_s3(no_s3_url, target, method):
    status, headers, body = get(no_s3_url, target, method)
    assert status == 400
    assert body == (b"" if method == b"HEAD" else b"400 Bad Request\n")
    assert headers["content-type"].startswith("text/plain")
    assert "set-cookie" not in headers


def test_a_request_that_asks_s3_there_gets_502(no_s3_url):
    # The control for the tests above: their 400s were given before S3.
    status, _, body = get(no_s3_url, b"/docs/index.html")
    assert (status, body) == (502, b"502 Bad Gateway\n")


@pytest.mark.parametrize(
    "target",
    [b"/docs/caf\xc3\xa9/menu.html", b"/docs/caf\xe9/menu.html", b"/docs/\xff\xfe", b"/docs/\x80"],
)
def test_raw_bytes_outside_ascii_in_the_request_line_get_400(no_s3_url, target):
    # waitress refuses them before the middleware sees them; clients send %XX.
    status, headers, _ = get(no_s3_url, target)
    assert status == 400
    assert "location" not in headers


@pytest.mark.parametrize(
    ("target", "key"),
    [
        (b"/docs/guide%2fintro.html", "guide/intro.html"),  # %2f is a "/" in PATH_INFO
        (b"/docs/caf%C3%A9/menu.html", "caf\u00e9/menu.html"),
        (b"/docs/%64igits.txt", "digits.txt"),
        (b"http://evil.example/docs/digits.txt", "digits.txt"),  # absolute form: the path only
    ],
)
def test_odd_but_safe_spellings_serve_the_object_they_name(docs_url, target, key):
    status, _, body = get(docs_url, target)
    assert status == 200
    assert body == SITE[key][0]


def test_a_crlf_in_the_query_never_splits_the_redirect(docs_url):
    status, headers, body = get(docs_url, b"/docs/guide?a=%0d%0aSet-Cookie:%20x=1&<script>")
    assert status == 301
    assert headers["location"] == "/docs/guide/?a=%0d%0aSet-Cookie:%20x=1&%3Cscript%3E"
    assert "set-cookie" not in headers
    assert body == b"301 Moved Permanently\n"


@pytest.mark.parametrize(
    "target",
    [
        b"/docs/<script>alert(1)</script>.html",
        b"/docs/%3Cscript%3Ealert(1)%3C/script%3E",
        b"/docs/\"onmouseover='alert(1)'",
        b"/docs/<img%20src=x%20onerror=alert(1)>/../x",
    ],
)
def test_error_bodies_never_reflect_the_request(docs_url, target):
    status, headers, body = get(docs_url, target)
    assert status in (400, 404)
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert_no_reflection(body)


DIGITS = SITE["digits.txt"][0]


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        (b"Range: bytes=", 200, DIGITS),
        (b"Range: bytes=-", 200, DIGITS),
        (b"Range: bytes=abc", 200, DIGITS),
        (b"Range: bytes=5-2", 200, DIGITS),
        (b"Range: bytes=--1", 200, DIGITS),
        (b"Range: bytes=1-2-3", 200, DIGITS),
        (b"Range: bits=0-1", 200, DIGITS),
        (b"Range: bytes=0-1,3-4", 200, DIGITS),
        (b"Range: bytes=" + b"0-0," * 2000 + b"1-1", 200, DIGITS),
        (b"Range: bytes=99999999999999999999999999-", 200, DIGITS),
        (b"Range: bytes=9999999999999999999-", 416, None),
        (b"Range: bytes=10-", 416, None),
        (b"Range: bytes=-0", 416, None),
        (b"Range: bytes=3-", 206, DIGITS[3:]),
        (b"Range: bytes=-3", 206, DIGITS[-3:]),
        (b"Range: bytes=0-9999999999999999999", 206, DIGITS),
        (b"Range: bytes=\xe2\x80\x930-1", 200, DIGITS),
        (b"If-None-Match: garbage", 200, DIGITS),
        (b'If-None-Match: "unterminated', 200, DIGITS),
        (b"If-None-Match: W/", 200, DIGITS),
        (b'If-None-Match: "a", , ,,"b"', 200, DIGITS),
        (b'If-None-Match: "caf\xc3\xa9"', 200, DIGITS),
        (b"If-None-Match: \xff\xfe\x00", 400, None),
        (b'If-None-Match: "' + b"x" * 8000 + b'"', 200, DIGITS),
        (b"If-None-Match: *", 304, b""),
        (b"If-Modified-Since: yesterday", 200, DIGITS),
        (b"If-Modified-Since: Mon, 99 Foo 9999 99:99:99 GMT", 200, DIGITS),
        (b"If-Modified-Since: -1", 200, DIGITS),
        (b"If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT", 200, DIGITS),
        (b"If-Modified-Since: \xc3\xa9t\xc3\xa9", 200, DIGITS),
        # Dates out of Python's range are invalid dates: ignored, not a 500.
        (b"If-Modified-Since: Mon, 01 Jan 99999999999 00:00:00 GMT", 200, DIGITS),
        (b"If-Modified-Since: Mon, 01 Jan 10000 00:00:00 GMT", 200, DIGITS),
        (b"If-Unmodified-Since: Mon, 01 Jan 99999999999 00:00:00 GMT", 200, DIGITS),
        (b"If-Unmodified-Since: Mon, 01 Jan 10000 00:00:00 GMT", 200, DIGITS),
        (b"Range: bytes=0-1\r\nIf-Range: Mon, 01 Jan 99999999999 00:00:00 GMT", 200, DIGITS),
        (b"Range: bytes=0-1\r\nIf-Range: Mon, 01 Jan 10000 00:00:00 GMT", 200, DIGITS),
        (b"If-Unmodified-Since: garbage", 200, DIGITS),
        (b"If-Match: garbage", 200, DIGITS),
        (b"If-Match: \xff", 200, DIGITS),
        (b"Range: bytes=0-1\r\nIf-Range: garbage", 200, DIGITS),
        (b'Range: bytes=0-1\r\nIf-Range: "wrong"', 200, DIGITS),
        (b'Range: bytes=0-1\r\nIf-Range: W/"x"', 200, DIGITS),
        (b"Range: bytes=0-1\r\nIf-Range: Thu, 01 Jan 1970 00:00:00 GMT", 200, DIGITS),
        (b"Range: bytes=0-1\r\nIf-Range: \xe2\x98\x83", 200, DIGITS),
        (b"X-Anything: \x80\x81\xfe\xff", 200, DIGITS),
        (b"Cookie: \xc3\x28; a=\xff", 200, DIGITS),
    ],
)
def test_garbage_headers_are_ignored_or_answered_with_a_clean_4xx(docs_url, header, status, body):
    got_status, headers, got_body = get(docs_url, b"/docs/digits.txt", extra=header + b"\r\n")
    assert got_status == status
    if body is not None:
        assert got_body == body
    if status == 416:
        assert headers["content-range"] == f"bytes */{len(DIGITS)}"
    if status >= 400:
        # Ours names the status only; waitress's own 400 (for a NUL) names none.
        assert header.partition(b":")[2].strip() not in got_body


# --- authorize -------------------------------------------------------------------


class CountedClient:
    """A real boto3 client to moto's server; every S3 operation is counted."""

    def __init__(self, endpoint: str):
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.calls: list[str] = []
        self.client.meta.events.register("before-call.s3", self._count)

    def _count(self, model, **_):
        self.calls.append(model.name)


@pytest.fixture
def counted(s3_endpoint):
    return CountedClient(s3_endpoint)


@pytest.fixture
def authorized_url(bucket, counted, serve):
    """The middleware with ``authorize`` reading a request header."""

    def authorize(environ):
        return environ.get("HTTP_X_LET_ME_IN") == "yes"

    return serve(
        S3Middleware(host_app_stub, bucket=bucket, client=counted.client, authorize=authorize)
    )


AUTHORIZE_TARGETS = [
    b"/docs",
    b"/docs/",
    b"/docs/index.html",
    b"/docs/guide",
    b"/docs/missing.html",
    b"/docs/%2e%2e/secret",
    b"/docs/%ff",
    b"/docs//x",
    b"/docs/" + b"a" * 2000,
    b"/docs/digits.txt?x=1",
]


@pytest.mark.parametrize(
    "method", [b"GET", b"HEAD", b"OPTIONS", b"POST", b"PUT", b"DELETE", b"PATCH", b"BREW"]
)
def test_authorize_denies_every_method_and_path_shape_before_any_s3_call(
    authorized_url, counted, method
):
    for target in AUTHORIZE_TARGETS:
        extra = b"Range: bytes=0-1\r\nIf-None-Match: *\r\nContent-Length: 0\r\n"
        status, _, body = get(authorized_url, target, method, extra)
        assert status == 403, target
        assert body == (b"" if method == b"HEAD" else b"403 Forbidden\n")
    assert counted.calls == []


def test_authorize_allowing_lets_the_same_requests_reach_s3(authorized_url, counted):
    status, _, body = get(authorized_url, b"/docs/digits.txt", extra=b"X-Let-Me-In: yes\r\n")
    assert (status, body) == (200, DIGITS)
    assert counted.calls == ["GetObject", "GetObject"]  # the publish manifest, the object
    # Outside the prefix, authorize is not consulted: the host app answers.
    status, _, body = get(authorized_url, b"/elsewhere")
    assert (status, body) == (200, b"host")
