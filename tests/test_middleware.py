"""In-process WSGI tests of the middleware's decisions: which answer, how many
S3 calls, and that every S3 stream is closed. Answers pass wsgiref's validator."""

from __future__ import annotations

import logging
import os
import threading

import boto3
import pytest
from sample_site import SITE
from wsgi_call import call, make_environ

from s3wsgi import S3App, S3Middleware
from s3wsgi.stores.boto3_store import Body, BotoStore


class CountingClient:
    """A real boto3 client to moto's server that counts the S3 operations made."""

    def __init__(self, endpoint):
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.calls: list[str] = []
        self.client.meta.events.register("before-call.s3", self._count)

    def _count(self, model, **_):
        self.calls.append(model.name)

    def reset(self):
        self.calls.clear()


@pytest.fixture
def counting(s3_endpoint):
    return CountingClient(s3_endpoint)


@pytest.fixture
def opened_bodies(monkeypatch):
    """Every Body the boto3 store hands out, to check each was closed."""
    bodies = []
    original = BotoStore.get

    def get(self, request):
        obj = original(self, request)
        bodies.append(obj.body)
        return obj

    monkeypatch.setattr(BotoStore, "get", get)
    yield bodies
    for body in bodies:
        assert _is_closed(body), "an S3 stream was left open"


def _is_closed(body: Body) -> bool:
    return body.closed


def recording_app(seen):
    def app(environ, start_response):
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"from the app"]

    return app


@pytest.fixture
def docs(bucket, counting, opened_bodies):
    """The middleware at /docs over the test bucket, with counted S3 calls,
    after a first request has read the (missing) publish manifest."""
    seen: list[dict] = []
    middleware = S3Middleware(recording_app(seen), bucket=bucket, client=counting.client)
    middleware.seen = seen
    call(middleware, "/docs/digits.txt")
    assert counting.calls == ["GetObject", "GetObject"]  # the manifest, then the object
    counting.reset()
    return middleware


# --- §1 pass-through ---------------------------------------------------------


def test_other_requests_reach_the_app_with_the_same_environ(docs, counting):
    environ = make_environ("/docsfoo", "POST", {"X-Thing": "1"})
    environ["wsgi.input"] = _Unreadable()
    before = dict(environ)
    started = []
    result = docs(environ, lambda status, headers, exc_info=None: started.append(status))
    assert list(result) == [b"from the app"]
    assert docs.seen == [environ] and docs.seen[0] is environ
    assert environ == before
    assert counting.calls == []


class _Unreadable:
    def read(self, *args):
        raise AssertionError("the middleware read the request body")

    readline = readlines = read

    def __iter__(self):
        raise AssertionError("the middleware read the request body")


def test_only_the_prefix_and_below_are_claimed(docs, counting):
    for path in ("/", "/doc", "/docsfoo", "/docs.html", "/other/docs/"):
        assert call(docs, path).body == b"from the app", path
    assert counting.calls == []
    assert call(docs, "/docs/").code == 200


# --- §3 mapping -----------------------------------------------------------------


def test_folder_paths_serve_their_index_document(docs):
    assert call(docs, "/docs/").body == SITE["index.html"][0]
    assert call(docs, "/docs/guide/").body == SITE["guide/index.html"][0]


def test_utf8_paths_name_utf8_keys(docs):
    answer = call(docs, "/docs/caf\u00e9/menu.html")
    assert answer.code == 200
    assert answer.body == SITE["caf\u00e9/menu.html"][0]


def test_key_prefix_maps_the_mount_to_a_folder(s3_client, bucket, counting):
    s3_client.put_object(Bucket=bucket, Key="v2/index.html", Body=b"version two")
    app = S3Middleware(recording_app([]), bucket=bucket, client=counting.client, key_prefix="v2")
    assert call(app, "/docs/").body == b"version two"


@pytest.mark.parametrize(
    "path",
    [
        "/docs/../secret",
        "/docs/a/../../secret",
        "/docs/./index.html",
        "/docs//index.html",
        "/docs/a\\b",
        "/docs/a\x00b",
        "/docs/a\x1bb",
        "/docs/" + "a" * 1025,
    ],
)
def test_unsafe_paths_get_400_before_s3_is_called(docs, counting, path):
    answer = call(docs, path)
    assert answer.code == 400
    assert counting.calls == []


def test_invalid_utf8_gets_400(docs, counting):
    environ_path = "/docs/\xff\xfe.html"  # already a WSGI string: bytes ff fe
    answer = call(docs, "/", PATH_INFO=environ_path)
    assert answer.code == 400
    assert counting.calls == []


def test_prefix_without_slash_redirects_with_script_name_and_query(docs, counting):
    answer = call(docs, "/docs", SCRIPT_NAME="/intranet", QUERY_STRING="a=1")
    assert answer.code == 301
    assert answer.header("Location") == "/intranet/docs/?a=1"
    assert counting.calls == []


def test_folder_without_slash_redirects_when_its_index_exists(docs, counting):
    answer = call(docs, "/docs/guide", QUERY_STRING="x=1&y=%20")
    assert answer.code == 301
    assert answer.header("Location") == "/docs/guide/?x=1&y=%20"
    assert counting.calls == ["GetObject", "HeadObject"]


def test_missing_key_without_index_is_404_after_two_calls(docs, counting):
    assert call(docs, "/docs/nothing-here").code == 404
    assert counting.calls == ["GetObject", "HeadObject"]
    counting.reset()
    assert call(docs, "/docs/nothing/").code == 404
    assert counting.calls == ["GetObject"]


# --- §4 methods --------------------------------------------------------------


def test_options_and_other_methods(docs, counting):
    answer = call(docs, "/docs/", "OPTIONS")
    assert answer.code == 204 and answer.header("Allow") == "GET, HEAD, OPTIONS"
    for method in ("POST", "PUT", "DELETE", "PATCH", "PROPFIND"):
        answer = call(docs, "/docs/index.html", method)
        assert answer.code == 405, method
        assert answer.header("Allow") == "GET, HEAD, OPTIONS"
    assert counting.calls == []


def test_head_makes_one_head_object_and_sends_no_body(docs, counting):
    get = call(docs, "/docs/style.css")
    counting.reset()
    head = call(docs, "/docs/style.css", "HEAD")
    assert counting.calls == ["HeadObject"]
    assert head.body == b""
    assert head.headers == get.headers


@pytest.mark.parametrize(
    "path, code", [("/docs", 301), ("/docs/nope", 404), ("/docs/..", 400), ("/docs/guide", 301)]
)
def test_no_answer_to_head_has_a_body(docs, path, code):
    answer = call(docs, path, "HEAD")
    assert answer.code == code
    assert answer.body == b""


# --- §5 one S3 request -----------------------------------------------------------


def etag_of(docs, path):
    return call(docs, path).header("ETag")


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, 200),
        ({"If-None-Match": "{etag}"}, 304),
        ({"If-None-Match": "W/{etag}"}, 304),
        ({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 304),
        ({"If-Match": '"nope"'}, 412),
        ({"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, 412),
        ({"Range": "bytes=0-3"}, 206),
        ({"Range": "bytes=100-"}, 416),
        ({"Range": "bytes=0-3", "If-Range": "{etag}"}, 206),
        ({"Range": "bytes=0-1,4-5"}, 200),
    ],
)
def test_common_requests_make_one_s3_call(docs, counting, headers, code):
    etag = etag_of(docs, "/docs/digits.txt")
    counting.reset()
    headers = {name: value.format(etag=etag) for name, value in headers.items()}
    assert call(docs, "/docs/digits.txt", headers=headers).code == code
    assert counting.calls == ["GetObject"]


def test_stale_if_range_sends_the_whole_object(docs, counting):
    answer = call(docs, "/docs/digits.txt", headers={"Range": "bytes=0-3", "If-Range": '"old"'})
    assert answer.code == 200 and answer.body == b"0123456789"
    assert counting.calls == ["GetObject", "GetObject"]


@pytest.mark.parametrize(
    "headers, code, body",
    [
        ({"If-None-Match": "*"}, 304, b""),
        ({"If-None-Match": '"x", {etag}'}, 304, b""),
        ({"If-Match": '"x", {etag}'}, 200, b"0123456789"),
        ({"If-Match": "W/{etag}"}, 412, None),
        ({"Range": "bytes=2-3", "If-Range": "{last_modified}"}, 206, b"23"),
        ({"Range": "bytes=2-3", "If-Range": "Thu, 01 Jan 1970 00:00:00 GMT"}, 200, b"0123456789"),
        ({"Range": "bytes=-0"}, 416, None),
    ],
)
def test_what_s3_gets_wrong_is_decided_from_a_head(docs, counting, headers, code, body):
    first = call(docs, "/docs/digits.txt")
    values = {"etag": first.header("ETag"), "last_modified": first.header("Last-Modified")}
    counting.reset()
    headers = {name: value.format(**values) for name, value in headers.items()}
    answer = call(docs, "/docs/digits.txt", headers=headers)
    assert answer.code == code
    if body is not None:
        assert answer.body == body
    assert counting.calls[0] == "HeadObject"
    # Bytes are only fetched when they are sent.
    assert counting.calls.count("GetObject") == (1 if code in (200, 206) else 0)


def test_range_not_satisfiable_from_head_path_tells_the_size(docs):
    answer = call(docs, "/docs/digits.txt", headers={"Range": "bytes=-0"})
    assert answer.header("Content-Range") == "bytes */10"


# --- §6 streaming and resources ------------------------------------------------


def test_body_is_streamed_in_large_chunks(s3_client, bucket, counting, opened_bodies):
    size = 3 * 256 * 1024 + 1000
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=os.urandom(size))
    app = S3Middleware(recording_app([]), bucket=bucket, client=counting.client)
    result = app(make_environ("/docs/big.bin"), lambda *a: None)
    try:
        sizes = [len(chunk) for chunk in result]
    finally:
        result.close()
    assert sum(sizes) == size
    assert all(s >= 64 * 1024 for s in sizes[:-1])
    assert len(sizes) <= 5


def test_closing_a_half_read_body_drops_the_s3_connection(
    s3_client, bucket, counting, opened_bodies
):
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=os.urandom(2 * 1024 * 1024))
    app = S3Middleware(recording_app([]), bucket=bucket, client=counting.client)
    result = app(make_environ("/docs/big.bin"), lambda *a: None)
    next(iter(result))
    [body] = opened_bodies
    assert not _is_closed(body)
    result.close()
    assert _is_closed(body)


def test_one_client_per_process_shared_by_threads(bucket, s3_endpoint):
    app = S3Middleware(
        recording_app([]),
        bucket=bucket,
        endpoint_url=s3_endpoint,
        max_pool_connections=48,
        store="boto3",
    )
    store = app.store.inner  # inside the retrying, breaker-guarded store
    clients = []
    threads = [threading.Thread(target=lambda: clients.append(store.client)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in clients}) == 1
    config = clients[0].meta.config
    assert config.max_pool_connections == 48
    assert config.connect_timeout == 3 and config.read_timeout == 15
    # One attempt per call: retries are the middleware's, within its deadline.
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_makes_its_own_client(bucket, s3_endpoint):
    app = S3Middleware(recording_app([]), bucket=bucket, endpoint_url=s3_endpoint, store="boto3")
    store = app.store.inner
    parent = store.client
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        ok = store.client is not parent and call(app, "/docs/digits.txt").code == 200
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"1"
    assert store.client is parent


# --- options -----------------------------------------------------------------


def test_authorize_false_answers_403_without_calling_s3(bucket, counting):
    asked = []

    def authorize(environ):
        asked.append(environ["PATH_INFO"])
        return environ.get("HTTP_X_USER") == "alice"

    app = S3Middleware(
        recording_app([]), bucket=bucket, client=counting.client, authorize=authorize
    )
    for method in ("GET", "HEAD", "OPTIONS", "POST"):
        assert call(app, "/docs/", method).code == 403
    assert call(app, "/docs").code == 403
    assert counting.calls == []
    assert call(app, "/docs/", headers={"X-User": "alice"}).code == 200
    assert call(app, "/elsewhere").code == 200  # the app's own paths are the app's business
    assert "/elsewhere" not in asked


def test_error_document_is_served_with_404(s3_client, bucket, counting):
    s3_client.put_object(
        Bucket=bucket, Key="404.html", Body=b"<h1>lost</h1>", ContentType="text/html"
    )
    app = S3Middleware(
        recording_app([]), bucket=bucket, client=counting.client, error_document="404.html"
    )
    answer = call(app, "/docs/missing.html")
    assert answer.code == 404
    assert answer.body == b"<h1>lost</h1>"
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    head = call(app, "/docs/missing.html", "HEAD")
    assert head.code == 404 and head.body == b""


def test_missing_error_document_falls_back_to_plain_404(bucket, counting, caplog):
    app = S3Middleware(
        recording_app([]), bucket=bucket, client=counting.client, error_document="gone.html"
    )
    with caplog.at_level(logging.WARNING, logger="s3wsgi"):
        assert call(app, "/docs/missing.html").code == 404
    assert "gone.html" in caplog.text


def test_fallthrough_hands_missing_keys_to_the_app(bucket, counting):
    seen: list[dict] = []
    app = S3Middleware(recording_app(seen), bucket=bucket, client=counting.client, fallthrough=True)
    answer = call(app, "/docs/not-in-s3")
    assert answer.body == b"from the app"
    assert seen[0]["PATH_INFO"] == "/docs/not-in-s3"
    assert call(app, "/docs/").body == SITE["index.html"][0]


def test_cache_control_option_is_a_default_only(s3_client, bucket, counting):
    s3_client.put_object(Bucket=bucket, Key="own.css", Body=b"x", CacheControl="no-cache")
    app = S3Middleware(
        recording_app([]), bucket=bucket, client=counting.client, cache_control="max-age=300"
    )
    assert call(app, "/docs/style.css").header("Cache-Control") == "max-age=300"
    assert call(app, "/docs/own.css").header("Cache-Control") == "no-cache"


def test_extra_headers_are_added_to_every_answer(bucket, counting):
    csp = ("Content-Security-Policy", "sandbox")
    app = S3Middleware(recording_app([]), bucket=bucket, client=counting.client, headers=[csp])
    for path in ("/docs/", "/docs", "/docs/nope", "/docs/.."):
        assert call(app, path).header("Content-Security-Policy") == "sandbox", path
    assert call(app, "/other").header("Content-Security-Policy") is None


@pytest.mark.parametrize(
    "options, message",
    [
        ({"bucket": ""}, "bucket"),
        ({"bucket": "b", "prefix": "docs"}, "prefix"),
        ({"bucket": "b", "index_document": "a/b.html"}, "index_document"),
        ({"bucket": "b", "headers": {"X-A": "1\r\nX-B: 2"}}, "headers"),
        ({"bucket": "b", "authorize": "yes"}, "authorize"),
        ({"bucket": "b", "chunk_size": 1024}, "chunk_size"),
    ],
)
def test_bad_options_are_refused_clearly(options, message):
    with pytest.raises(ValueError, match=message):
        S3Middleware(recording_app([]), **options)


def test_s3app_serves_the_bucket_at_the_root(bucket, counting):
    app = S3App(bucket=bucket, client=counting.client)
    assert call(app, "/").body == SITE["index.html"][0]
    assert call(app, "/guide/intro.html").code == 200
    assert call(app, "/nope").code == 404
    assert call(app, "", SCRIPT_NAME="/site").header("Location") == "/site/"


def test_s3app_under_a_prefix_answers_404_elsewhere(bucket, counting):
    app = S3App(bucket=bucket, client=counting.client, prefix="/site")
    assert call(app, "/site/").code == 200
    assert call(app, "/other").code == 404
    assert call(app, "/other", "HEAD").body == b""


def test_no_folder_lookup_for_a_key_too_long_to_have_an_index(docs, counting):
    assert call(docs, "/docs/" + "a" * 1020).code == 404
    assert counting.calls == ["GetObject"]
