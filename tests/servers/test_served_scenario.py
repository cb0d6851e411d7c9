"""The middleware under gunicorn and uWSGI, over real HTTP, in every setup.

The framework scenario (tests/frameworks/) records each environ inside the
test process; here the app runs in the server's workers, so this is its
focused counterpart: what a browser or curl sees of the bucket's pages and
of the host app's own routes, for each worker model, with the app loaded
before or after the fork, on both stores.
"""

from __future__ import annotations

import socket

import requests
from sample_site import SITE
from server_process import WORKERS
from traffic import APP_NOT_FOUND, HOST_HOME, STYLE_ETAG


def get(served, path: str, **options) -> requests.Response:
    return requests.get(served.url + path, allow_redirects=False, timeout=30, **options)


def test_the_index_of_the_prefix_comes_from_the_bucket(served):
    answer = get(served, "/docs/")
    assert answer.status_code == 200
    assert answer.content == SITE["index.html"][0]
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["ETag"].startswith('"')


def test_assets_come_from_the_bucket_with_their_types(served):
    for path, key, media_type in (
        ("/docs/style.css", "style.css", "text/css; charset=utf-8"),
        ("/docs/img/logo.png", "img/logo.png", "image/png"),
        ("/docs/caf%C3%A9/menu.html", "caf\u00e9/menu.html", "text/html; charset=utf-8"),
    ):
        answer = get(served, path)
        assert answer.status_code == 200, path
        assert answer.content == SITE[key][0], path
        assert answer.headers["Content-Type"] == media_type, path
        assert answer.headers["Content-Length"] == str(len(SITE[key][0])), path
        assert not any(name.lower().startswith("x-amz-") for name in answer.headers)


def test_the_prefix_and_a_folder_without_their_slash_redirect_keeping_the_query(served):
    prefix = get(served, "/docs?lang=en")
    assert prefix.status_code == 301
    assert prefix.headers["Location"] == "/docs/?lang=en"
    folder = get(served, "/docs/guide?v=2")
    assert folder.status_code == 301
    assert folder.headers["Location"] == "/docs/guide/?v=2"
    followed = get(served, folder.headers["Location"])
    assert followed.content == SITE["guide/index.html"][0]


def test_a_known_etag_is_answered_304_without_a_body(served):
    assert get(served, "/docs/style.css").headers["ETag"] == STYLE_ETAG
    answer = get(served, "/docs/style.css", headers={"If-None-Match": STYLE_ETAG})
    assert answer.status_code == 304
    assert answer.headers["ETag"] == STYLE_ETAG
    assert answer.content == b""
    stale = get(served, "/docs/style.css", headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200
    assert stale.content == SITE["style.css"][0]


def test_a_range_is_answered_206_and_one_past_the_end_416(served):
    answer = get(served, "/docs/digits.txt", headers={"Range": "bytes=2-5"})
    assert answer.status_code == 206
    assert answer.content == b"2345"
    assert answer.headers["Content-Range"] == "bytes 2-5/10"
    past_the_end = get(served, "/docs/digits.txt", headers={"Range": "bytes=50-"})
    assert past_the_end.status_code == 416
    assert past_the_end.headers["Content-Range"] == "bytes */10"


def test_a_missing_key_is_the_middlewares_404_not_the_apps(served):
    answer = get(served, "/docs/no-such-page.html")
    assert answer.status_code == 404
    assert APP_NOT_FOUND not in answer.content
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_host_apps_routes_are_untouched(served):
    home = get(served, "/")
    assert home.status_code == 200
    assert home.content == HOST_HOME
    names = {name.lower() for name in home.headers}
    # The host's own headers and the test app's pid; nothing of the middleware's.
    assert "x-content-type-options" not in names
    assert "accept-ranges" not in names
    for path in ("/no-such-page", "/docsfoo", "/Docs/"):
        answer = get(served, path)
        assert answer.status_code == 404, path
        assert APP_NOT_FOUND in answer.content, path


def test_a_post_body_reaches_the_host_app_whole(served):
    body = bytes(range(256)) * 4096  # 1 MiB
    answer = requests.post(served.url + "/echo", data=body, timeout=30)
    assert answer.status_code == 200
    assert answer.content == body


def test_a_post_under_the_prefix_is_answered_405_by_the_middleware(served):
    answer = requests.post(served.url + "/docs/echo", data=b"x" * 1000, timeout=30)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_head_of_a_doc_sends_its_length_and_no_body(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(
            b"HEAD /docs/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    # Field names are case-insensitive (RFC 9110 §5.1): granian sends them lowercase.
    lines = [line.lower() for line in head.split(b"\r\n")]
    assert f"content-length: {len(SITE['style.css'][0])}".encode() in lines
    assert body == b""


def test_every_worker_serves_the_bucket(served):
    workers = served.workers()
    assert len(workers) == WORKERS
    answered_by = set()
    for _ in range(500):
        answer = get(served, "/docs/img/logo.png", headers={"Connection": "close"})
        assert answer.status_code == 200
        assert answer.content == SITE["img/logo.png"][0]
        answered_by.add(int(answer.headers["X-Worker-Pid"]))
        if answered_by == workers:
            break
    assert answered_by == workers
