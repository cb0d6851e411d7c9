"""The obstore store on its own: S3's answers and faults mapped to the seam,
against moto's real S3 server and a loopback server of canned S3 errors."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests
from sample_site import host_app

from s3wsgi.http.conditions import parse_range
from s3wsgi.stores.base import (
    Connection,
    NotFound,
    NotModified,
    ObjectRequest,
    PreconditionFailed,
    RangeNotSatisfiable,
    UpstreamError,
)

pytest.importorskip("obstore")

from s3wsgi.stores.obstore_store import ObstoreStore, nameable  # noqa: E402
from s3wsgi.stores.resilient import Policy, ResilientStore  # noqa: E402


@pytest.fixture
def store(bucket, s3_endpoint):
    return ObstoreStore(bucket, Connection(endpoint_url=s3_endpoint, region_name="us-east-1"))


def read(obj) -> bytes:
    try:
        return b"".join(obj.body)
    finally:
        obj.body.close()


def test_get_answers_the_object_with_s3s_headers(store, s3_client, bucket):
    s3_client.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=b"<p>hi</p>",
        ContentType="text/html",
        CacheControl="max-age=60",
        ContentDisposition="inline",
        ContentLanguage="en",
        ContentEncoding="identity",
    )
    expected = s3_client.head_object(Bucket=bucket, Key="doc.html")["ResponseMetadata"][
        "HTTPHeaders"
    ]
    obj = store.get(ObjectRequest("doc.html"))
    assert obj.status == 200
    assert read(obj) == b"<p>hi</p>"
    for name in (
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "cache-control",
        "content-disposition",
        "content-language",
        "content-encoding",
    ):
        assert obj.headers[name] == expected[name], name
    assert not any(name.startswith("x-amz-") for name in obj.headers)
    assert all(name == name.lower() for name in obj.headers)


def test_head_reports_the_headers_without_a_body(store, stored):
    obj = store.head(ObjectRequest("style.css"))
    assert obj.status == 200
    assert obj.body is None
    assert obj.headers["content-type"] == "text/css"
    assert obj.headers["content-length"] == str(len(stored("style.css")))
    assert obj.etag.startswith('"')


@pytest.mark.parametrize(
    "byte_range, part, content_range",
    [
        ("bytes=2-5", b"2345", "bytes 2-5/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
        ("bytes=-100", b"0123456789", "bytes 0-9/10"),
    ],
)
def test_a_range_answers_206_with_its_content_range(store, byte_range, part, content_range):
    obj = store.get(ObjectRequest("digits.txt", range=parse_range(byte_range)))
    assert obj.status == 206
    assert read(obj) == part
    assert obj.headers["content-range"] == content_range
    assert obj.headers["content-length"] == str(len(part))
    assert obj.size == 10


def test_an_unsatisfiable_range_raises_with_the_size(store):
    with pytest.raises(RangeNotSatisfiable) as raised:
        store.get(ObjectRequest("digits.txt", range=parse_range("bytes=10-")))
    assert raised.value.size == 10


def test_a_matching_if_none_match_raises_not_modified_with_the_etag(store):
    etag = store.head(ObjectRequest("digits.txt")).etag
    with pytest.raises(NotModified) as raised:
        store.get(ObjectRequest("digits.txt", if_none_match=etag))
    assert raised.value.headers["etag"] == etag


def test_if_modified_since_after_the_change_raises_not_modified(store):
    # obstore hides S3's 304 headers: the middleware fills them (test_http).
    later = datetime.now(timezone.utc) + timedelta(days=1)
    with pytest.raises(NotModified):
        store.get(ObjectRequest("digits.txt", if_modified_since=later))


def test_dates_in_any_time_zone_are_compared_as_instants(store):
    modified = store.head(ObjectRequest("digits.txt")).last_modified  # in UTC
    with pytest.raises(NotModified):
        store.get(ObjectRequest("digits.txt", if_modified_since=modified))
    naive_later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=1)
    with pytest.raises(NotModified):
        store.get(ObjectRequest("digits.txt", if_modified_since=naive_later))
    paris = timezone(timedelta(hours=1))
    obj = store.get(ObjectRequest("digits.txt", if_unmodified_since=modified.astimezone(paris)))
    assert read(obj) == b"0123456789"


def test_a_failing_if_match_or_if_unmodified_since_raises_precondition_failed(store):
    with pytest.raises(PreconditionFailed):
        store.get(ObjectRequest("digits.txt", if_match='"other"'))
    with pytest.raises(PreconditionFailed):
        store.get(
            ObjectRequest(
                "digits.txt", if_unmodified_since=datetime(2000, 1, 1, tzinfo=timezone.utc)
            )
        )


def test_a_matching_if_match_with_a_range_answers_the_part(store):
    etag = store.head(ObjectRequest("digits.txt")).etag
    obj = store.get(ObjectRequest("digits.txt", range=parse_range("bytes=0-2"), if_match=etag))
    assert (obj.status, read(obj)) == (206, b"012")


def test_a_missing_key_raises_not_found(store):
    with pytest.raises(NotFound):
        store.get(ObjectRequest("nothing/here.html"))
    with pytest.raises(NotFound):
        store.head(ObjectRequest("nothing/here.html"))


def test_a_missing_bucket_is_an_upstream_error_not_a_missing_key(s3_endpoint):
    store = ObstoreStore("no-such-bucket-here", Connection(endpoint_url=s3_endpoint))
    with pytest.raises(UpstreamError) as raised:
        store.get(ObjectRequest("index.html"))
    assert raised.value.status == 502


def test_closing_a_half_read_body_frees_its_connection(store, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=bytes(3 * 1024 * 1024))
    for _ in range(5):  # more than one pooled connection's worth of reuse
        obj = store.get(ObjectRequest("big.bin"))
        first = next(iter(obj.body))
        assert len(first) >= 64 * 1024
        obj.body.close()
    assert read(store.get(ObjectRequest("digits.txt"))) == b"0123456789"


def test_chunks_are_at_least_the_chunk_size(bucket, s3_endpoint, s3_client):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=bytes(1024 * 1024))
    store = ObstoreStore(bucket, Connection(endpoint_url=s3_endpoint, chunk_size=128 * 1024))
    obj = store.get(ObjectRequest("big.bin"))
    chunks = list(obj.body)
    obj.body.close()
    assert sum(map(len, chunks)) == 1024 * 1024
    assert all(len(chunk) >= 128 * 1024 for chunk in chunks[:-1])


class CannedS3:
    """A loopback server answering every request with one S3 error, counting them."""

    def __init__(self, status: int, code: str, *, delay: float = 0.0):
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>canned</Message><RequestId>REQ123</RequestId></Error>"
        ).encode()
        canned = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, with_body: bool):
                canned.requests += 1
                time.sleep(delay)
                # After a delay the client may have given up: that is the point.
                with contextlib.suppress(ConnectionError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if with_body:
                        self.wfile.write(body)

            def do_GET(self):
                self.answer(True)

            def do_HEAD(self):
                self.answer(False)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned():
    servers = []

    def start(status, code, **options):
        server = CannedS3(status, code, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    "status, code, expected",
    [
        (403, "AccessDenied", NotFound),
        (403, "SignatureDoesNotMatch", 502),
        (403, "InvalidAccessKeyId", 502),
        (404, "NoSuchBucket", 502),
        (503, "SlowDown", 503),
        (500, "InternalError", 502),
    ],
)
def test_s3_faults_map_to_the_spec_table(canned, status, code, expected):
    server = canned(status, code)
    store = ObstoreStore("bkt", Connection(endpoint_url=server.url))
    with pytest.raises(NotFound if expected is NotFound else UpstreamError) as raised:
        store.get(ObjectRequest("index.html"))
    if expected is not NotFound:
        assert raised.value.status == expected


def test_a_head_refused_with_403_is_a_missing_key(canned):
    server = canned(403, "AccessDenied")
    with pytest.raises(NotFound):
        ObstoreStore("bkt", Connection(endpoint_url=server.url)).head(ObjectRequest("index.html"))


def test_slow_down_is_retried_up_to_max_attempts(canned):
    server = canned(503, "SlowDown")
    store = ResilientStore(
        ObstoreStore("bkt", Connection(endpoint_url=server.url)),
        Policy(max_attempts=3),
        attempt_seconds=18,
    )
    with pytest.raises(UpstreamError) as raised:
        store.get(ObjectRequest("index.html"))
    assert raised.value.status == 503
    assert server.requests == 3


def test_a_read_timeout_is_a_gateway_timeout(canned):
    server = canned(200, "Never", delay=3)
    store = ObstoreStore("bkt", Connection(endpoint_url=server.url, read_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as raised:
        store.get(ObjectRequest("index.html"))
    assert raised.value.status == 504
    assert time.monotonic() - started < 2.5


def test_a_refused_connection_is_a_bad_gateway():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ObstoreStore("bkt", Connection(endpoint_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(UpstreamError) as raised:
        store.get(ObjectRequest("index.html"))
    assert raised.value.status == 502


def test_errors_never_carry_s3s_text(canned, caplog):
    server = canned(403, "SignatureDoesNotMatch")
    store = ObstoreStore("secret-bucket", Connection(endpoint_url=server.url))
    with pytest.raises(UpstreamError) as raised:
        store.get(ObjectRequest("index.html"))
    assert "secret-bucket" not in str(raised.value) and "REQ123" not in str(raised.value)
    assert "SignatureDoesNotMatch" in caplog.text


def test_the_middleware_serves_through_the_fast_store(serve, make_middleware, stored):
    app = make_middleware(store="obstore")
    url = serve(app)
    page = requests.get(f"{url}/docs/", timeout=10)
    assert page.status_code == 200
    assert page.content == stored("index.html")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    part = requests.get(f"{url}/docs/digits.txt", headers={"Range": "bytes=-4"}, timeout=10)
    assert (part.status_code, part.content) == (206, b"6789")
    assert part.headers["Content-Range"] == "bytes 6-9/10"
    again = requests.get(
        f"{url}/docs/digits.txt", headers={"If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 200
    cached = requests.get(
        f"{url}/docs/", headers={"If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert cached.status_code == 304
    assert cached.headers["ETag"] == page.headers["ETag"]


def test_a_child_forked_after_use_reads_through_boto3_and_says_so_once(store, caplog):
    assert read(store.get(ObjectRequest("digits.txt"))) == b"0123456789"
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what happened through the pipe
        status = b"hung"
        try:
            first = read(store.get(ObjectRequest("digits.txt")))
            second = read(store.get(ObjectRequest("digits.txt")))
            warnings = [r for r in caplog.records if "does not survive a fork" in r.message]
            status = b"ok" if first == second == b"0123456789" and len(warnings) == 1 else b"bad"
        except BaseException as error:  # noqa: BLE001 - reported, not raised, in a child
            status = repr(error).encode()
        finally:
            os.write(write_end, status)
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + 20
    while os.waitpid(child, os.WNOHANG)[0] == 0:
        if time.monotonic() > deadline:
            os.kill(child, 9)
            os.waitpid(child, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    with os.fdopen(read_end, "rb") as pipe:
        assert pipe.read() == b"ok"
    # The parent keeps its fast store.
    assert read(store.get(ObjectRequest("digits.txt"))) == b"0123456789"


def test_the_endpoint_may_come_from_the_environment_as_for_boto3(bucket, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)  # http://, as a local S3 is
    store = ObstoreStore(bucket, Connection(region_name="us-east-1"))
    assert read(store.get(ObjectRequest("digits.txt"))) == b"0123456789"


# Keys S3 holds and object_store's Path refuses: an empty, "." or ".." segment,
# or an ASCII control character (publish uploads a file named with a tab).
UNNAMEABLE = ["d/x//y.txt", "d/./a.txt", "d/../b.txt", "d/tab\there.txt", "d/del\x7f.txt"]


@pytest.mark.parametrize("key", UNNAMEABLE)
def test_nameable_agrees_with_object_store(store, s3_client, bucket, key):
    import obstore

    s3_client.put_object(Bucket=bucket, Key=key, Body=b"odd")
    assert not nameable(key)
    with pytest.raises(ValueError):
        obstore.get(store._obstore(), key)
    assert nameable("d/ok.txt") and nameable("caf\u00e9/x\u0085.txt")
    assert not nameable("") and not nameable("/lead.txt") and not nameable("trail/")


@pytest.mark.parametrize("key", UNNAMEABLE)
def test_a_key_object_store_cannot_name_is_read_through_boto3(store, s3_client, bucket, key):
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"odd",
        ContentType="text/plain",
        Expires=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )
    obj = store.get(ObjectRequest(key))
    assert (obj.status, read(obj), obj.headers["content-type"]) == (200, b"odd", "text/plain")
    head = store.head(ObjectRequest(key))
    assert head.headers["content-length"] == "3"
    # The fast store forwards no Expires, whichever way it read the object.
    assert "expires" not in obj.headers and "expires" not in head.headers
    with pytest.raises(NotFound):
        store.get(ObjectRequest(key + "-missing"))
    # http.client sends the URL as signed (requests would drop its dot segments).
    signed = urlsplit(store.presign(key, 60))
    connection = http.client.HTTPConnection(signed.hostname, signed.port, timeout=10)
    try:
        connection.request("GET", f"{signed.path}?{signed.query}")
        assert connection.getresponse().read() == b"odd"
    finally:
        connection.close()


@pytest.fixture
def fast_middleware(bucket, s3_endpoint):
    """``fast_middleware(**options)``: S3Middleware on the fast store."""
    from s3wsgi import S3Middleware

    def make(**options):
        return S3Middleware(
            host_app, bucket=bucket, endpoint_url=s3_endpoint, store="obstore", **options
        )

    return make


@pytest.mark.parametrize("key_prefix", ["odd//site", "odd/./site", "odd/../site", "odd\tsite"])
def test_the_fast_store_serves_keys_object_store_cannot_name(
    serve, fast_middleware, s3_client, bucket, key_prefix, caplog
):
    s3_client.put_object(Bucket=bucket, Key=f"{key_prefix}/page.html", Body=b"<p>odd</p>")
    app = fast_middleware(key_prefix=key_prefix, breaker_failures=2)
    url = serve(app)
    for _ in range(3):  # more than the breaker's failures
        page = requests.get(f"{url}/docs/page.html", timeout=10)
        assert (page.status_code, page.content) == (200, b"<p>odd</p>")
    assert requests.get(f"{url}/docs/missing.html", timeout=10).status_code == 404
    assert "GetObject" not in caplog.text  # no fault, no retry


def test_a_folder_holding_keys_object_store_cannot_name_is_listed(
    serve, fast_middleware, s3_client, bucket, caplog
):
    for key in [*UNNAMEABLE, "d/ok.txt"]:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"odd")
    app = fast_middleware(listing=True, breaker_failures=2)
    url = serve(app)
    for _ in range(3):  # more than the breaker's failures
        listed = requests.get(f"{url}/docs/d/?format=json", timeout=10)
        assert listed.status_code == 200
        names = [item["name"] for item in listed.json()["objects"]]
        assert names == ["del\x7f.txt", "ok.txt", "tab\there.txt"]
        assert listed.json()["folders"] == ["x"]  # "." and ".." hidden, as dot names are
    # Every object under the prefix is still served: the breaker never opened.
    assert requests.get(f"{url}/docs/digits.txt", timeout=10).content == b"0123456789"
    # A key the request path cannot name is refused as a bad path, not a fault.
    assert requests.get(f"{url}/docs/d/tab%09here.txt", timeout=10).status_code == 400
    assert "ListObjectsV2" not in caplog.text


def test_a_header_obstore_cannot_read_is_left_out_logged_once_and_never_retried(
    serve, fast_middleware, s3_client, bucket, caplog
):
    # boto3 sends the value's characters as Latin-1; moto keeps and returns them.
    s3_client.put_object(
        Bucket=bucket,
        Key="report.txt",
        Body=b"figures",
        ContentType="text/plain",
        ContentDisposition='attachment; filename="caf\u00e9.txt"',
        CacheControl="max-age=60",
    )
    url = serve(fast_middleware(breaker_failures=1))
    caplog.set_level(logging.INFO, logger="s3wsgi")
    for method in ("GET", "HEAD", "GET"):
        caplog.clear()
        answer = requests.request(method, f"{url}/docs/report.txt", timeout=10)
        assert answer.status_code == 200
        assert answer.content == (b"figures" if method == "GET" else b"")
        assert "Content-Disposition" not in answer.headers
        assert answer.headers["Cache-Control"] == "max-age=60"
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [
            "report.txt: its content-disposition from S3 is not visible ASCII; served without it"
        ]


def test_the_warning_of_an_unreadable_header_shows_the_key_escaped(
    store, s3_client, bucket, caplog
):
    s3_client.put_object(
        Bucket=bucket, Key="d/tab\there.txt", Body=b"x", ContentType="text/plain; x=\u00e9"
    )
    caplog.set_level(logging.WARNING, logger="s3wsgi")
    obj = store.get(ObjectRequest("d/tab\there.txt"))
    assert read(obj) == b"x" and "content-type" not in obj.headers
    assert [r.getMessage() for r in caplog.records] == [
        "d/tab\\there.txt: its content-type from S3 is not visible ASCII; served without it"
    ]


def test_a_key_object_store_refuses_past_the_check_is_still_read_through_boto3(
    store, s3_client, bucket, monkeypatch
):
    from s3wsgi.stores import obstore_store

    s3_client.put_object(Bucket=bucket, Key="d/x//y.txt", Body=b"odd")
    monkeypatch.setattr(obstore_store, "nameable", lambda key: True)  # a rule it missed
    assert read(store.get(ObjectRequest("d/x//y.txt"))) == b"odd"
