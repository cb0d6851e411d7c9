"""The one integration scenario every framework's example app goes through.

Over real HTTP (waitress, and moto's S3 server behind the middleware), at the
server's root and mounted under a SCRIPT_NAME: the framework's own routes,
form bodies, cookies and 404 pages are untouched, and the bucket's pages,
assets, redirects and conditional answers are the middleware's.

A framework's test file provides an ``example`` fixture (an :class:`Example`)
and a class ``Test<Framework>(FrameworkScenario)``.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
DOCS = {
    "index.html": (
        b"<html><link rel=stylesheet href=style.css><h1>Docs home</h1>"
        b"<a href=guide/>Guide</a></html>",
        "text/html",
    ),
    "style.css": (b"h1 { color: teal }\n", "text/css"),
    "guide/index.html": (b"<html><h1>Guide</h1><a href=intro.html>Intro</a></html>", "text/html"),
    "guide/intro.html": (b"<html><h1>Intro</h1><a href=../index.html>up</a></html>", "text/html"),
    "img/logo.png": (LOGO, "image/png"),
    "digits.txt": (b"0123456789", "text/plain"),
    "caf\u00e9/menu.html": ("<p>caf\u00e9 \u2615</p>".encode(), "text/html"),
    "caf\u00e9/index.html": ("<p>le caf\u00e9</p>".encode(), "text/html"),
}

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Every example app's own 404 page says this.
APP_NOT_FOUND = "This page is not part of the app."


def framework(name: str):
    """Import a framework for its tests: skipped where it is not installed,
    except in its own tox environment (FRAMEWORK_UNDER_TEST), where a missing
    framework fails instead of passing as skipped."""
    if os.environ.get("FRAMEWORK_UNDER_TEST") == name:
        return importlib.import_module(name)
    return pytest.importorskip(name)


def docs_environment(patch: pytest.MonkeyPatch, bucket: str, endpoint: str) -> None:
    """Name the bucket and endpoint the way the examples read them."""
    patch.setenv("S3WSGI_BUCKET", bucket)
    patch.setenv("S3WSGI_ENDPOINT_URL", endpoint)


def all_closed(store_calls: list[tuple[str, str]], timeout: float = 5.0) -> bool:
    """Whether every body S3 streamed gets closed within ``timeout``: a server
    closes it just after the client has read the last byte, not before."""
    deadline = time.monotonic() + timeout
    while True:
        gets = sorted(key for call, key in store_calls if call == "get")
        if gets == sorted(key for call, key in store_calls if call == "close"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def import_example(module: str, *, under: str = ""):
    """Import ``examples/<under>/<module>`` as its README runs it."""
    folder = str(EXAMPLES / under)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(module)


class Example:
    """What a framework's test file hands the scenario.

    :param app: the WSGI application the example serves.
    :param middleware: the :class:`s3wsgi.S3Middleware` in it; its ``app``
        is the framework's own WSGI application.
    :param framework: the name the example's ``/api/status`` reports.
    :param login: ``login(session, url)`` when the example's docs need a
        login; ``url(path)`` gives the absolute URL of an app path.
    """

    def __init__(self, app, middleware, *, framework: str, login: Callable | None = None):
        self.app = app
        self.middleware = middleware
        self.framework = framework
        self.login = login


class CountingInput:
    """``wsgi.input``, counting the bytes read from it."""

    def __init__(self, stream):
        self.stream = stream
        self.bytes_read = 0

    def _count(self, data):
        self.bytes_read += len(data)
        return data

    def read(self, *size):
        return self._count(self.stream.read(*size))

    def readline(self, *size):
        return self._count(self.stream.readline(*size))

    def readlines(self, *hint):
        lines = self.stream.readlines(*hint)
        self.bytes_read += sum(map(len, lines))
        return lines

    def __iter__(self):
        return iter(self.readline, b"")


class Recorder:
    """A WSGI app around another, keeping each environ it passed on and how
    much of the body had been read by then."""

    def __init__(self, app, *, count_input: bool = False):
        self.app = app
        self.count_input = count_input
        self.calls: list[tuple[dict, int]] = []
        self.inputs: list[CountingInput] = []

    def __call__(self, environ, start_response):
        if self.count_input:
            environ["wsgi.input"] = CountingInput(environ["wsgi.input"])
            self.inputs.append(environ["wsgi.input"])
        self.calls.append((environ, environ["wsgi.input"].bytes_read))
        return self.app(environ, start_response)


class Site:
    """The example under waitress, mounted at ``mount``, with recorders
    outside the middleware and between it and the framework."""

    def __init__(self, example: Example, serve, mount: str):
        self.example = example
        self.mount = mount
        self.framework_app = example.middleware.app
        self.inner = Recorder(self.framework_app)
        example.middleware.app = self.inner
        self.outer = Recorder(example.app, count_input=True)
        self.serve = serve
        self.base = serve(self.outer, url_prefix=mount)
        self.http = requests.Session()
        if example.login is not None:
            example.login(self.http, self.url)

    def url(self, path: str) -> str:
        return f"{self.base}{self.mount}{path}"

    def get(self, path: str, **options) -> requests.Response:
        options.setdefault("allow_redirects", False)
        return self.http.get(self.url(path), timeout=10, **options)

    def restore(self):
        self.http.close()
        self.example.middleware.app = self.framework_app

    def raw(self, request: bytes) -> bytes:
        """Send one request as bytes; everything the server sent back."""
        host, port = urlsplit(self.base).hostname, urlsplit(self.base).port
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def hidden_inputs(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


class FrameworkScenario:
    """The scenario; ``Test<Framework>(FrameworkScenario)`` runs it."""

    @pytest.fixture(params=["", "/intranet"], ids=["at-root", "under-script-name"])
    def mount(self, request):
        return request.param

    @pytest.fixture
    def site(self, example, serve, mount):
        site = Site(example, serve, mount)
        yield site
        site.restore()

    # The framework's own routes, untouched.

    def test_home_page_is_the_apps_and_links_to_the_docs_under_the_mount(self, site):
        answer = site.get("/")
        assert answer.status_code == 200
        assert f'href="{site.mount}/docs/"' in answer.text
        assert site.inner.calls[-1][0] is site.outer.calls[-1][0]

    def test_form_post_reaches_the_app_with_its_body_unread_and_the_same_environ(self, site):
        form = site.get("/form")
        assert form.status_code == 200
        action = re.search(r'action="([^"]+)"', form.text).group(1)
        assert action.startswith(f"{site.mount}/")
        fields = {**hidden_inputs(form.text), "message": "caf\u00e9 & <b>tea</b>"}
        answer = site.http.post(site.base + action, data=fields, timeout=10)
        assert answer.status_code == 200
        assert "You said: caf\u00e9 &amp; &lt;b&gt;tea&lt;/b&gt;" in answer.text
        environ, read_before = site.inner.calls[-1]
        assert environ is site.outer.calls[-1][0]
        assert environ["REQUEST_METHOD"] == "POST"
        assert read_before == 0
        # The framework read it all (WebOb may then swap in a copy of its own).
        assert site.outer.inputs[-1].bytes_read == int(environ["CONTENT_LENGTH"])

    def test_json_route_is_answered_by_the_app_with_no_header_added(self, site):
        answer = site.get("/api/status")
        assert answer.status_code == 200
        assert answer.json()["framework"] == site.example.framework
        assert answer.json()["script_name"] == site.mount
        alone = requests.get(
            f"{site.serve(site.framework_app, url_prefix=site.mount)}{site.mount}/api/status",
            cookies=site.http.cookies,
            timeout=10,
        )
        assert alone.status_code == 200
        assert answer.content == alone.content
        names = {name.lower() for name in answer.headers} - {"date"}
        assert names == {name.lower() for name in alone.headers} - {"date"}

    def test_cookies_pass_both_ways(self, site):
        first = site.get("/visit")
        assert "Visit number 1" in first.text
        assert first.cookies["visits"] == "1"
        second = site.get("/visit")
        assert "Visit number 2" in second.text
        assert second.cookies["visits"] == "2"

    @pytest.mark.parametrize("path", ["/no-such-page", "/docsfoo", "/doc", "/Docs/"])
    def test_paths_outside_the_prefix_get_the_apps_own_404(self, site, path):
        answer = site.get(path)
        assert answer.status_code == 404
        assert APP_NOT_FOUND in answer.text
        assert site.inner.calls[-1][0]["PATH_INFO"] == path

    # The bucket, answered by the middleware.

    def test_docs_pages_and_assets_come_from_the_bucket(self, site):
        calls = len(site.inner.calls)
        for path, key, media_type in (
            ("/docs/", "index.html", "text/html; charset=utf-8"),
            ("/docs/guide/", "guide/index.html", "text/html; charset=utf-8"),
            ("/docs/guide/intro.html", "guide/intro.html", "text/html; charset=utf-8"),
            ("/docs/style.css", "style.css", "text/css; charset=utf-8"),
            ("/docs/img/logo.png", "img/logo.png", "image/png"),
        ):
            answer = site.get(path)
            assert answer.status_code == 200, path
            assert answer.content == DOCS[key][0], path
            assert answer.headers["Content-Type"] == media_type
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Accept-Ranges"] == "bytes"
            assert not any(name.lower().startswith("x-amz-") for name in answer.headers)
        assert len(site.inner.calls) == calls  # the framework never saw them

    def test_a_unicode_key_is_served_from_its_percent_encoded_path(self, site):
        answer = site.get("/docs/caf%C3%A9/menu.html")
        assert answer.status_code == 200
        assert answer.content == DOCS["caf\u00e9/menu.html"][0]
        folder = site.get("/docs/caf%C3%A9")
        assert folder.status_code == 301
        assert folder.headers["Location"] == f"{site.mount}/docs/caf%C3%A9/"

    def test_prefix_without_its_slash_redirects_under_the_mount(self, site):
        answer = site.get("/docs")
        assert answer.status_code == 301
        assert answer.headers["Location"] == f"{site.mount}/docs/"
        with_query = site.get("/docs?lang=en")
        assert with_query.headers["Location"] == f"{site.mount}/docs/?lang=en"

    def test_folder_without_its_slash_redirects_keeping_the_query(self, site):
        answer = site.get("/docs/guide?v=2")
        assert answer.status_code == 301
        assert answer.headers["Location"] == f"{site.mount}/docs/guide/?v=2"
        followed = site.http.get(site.base + answer.headers["Location"], timeout=10)
        assert followed.content == DOCS["guide/index.html"][0]

    def test_a_known_etag_is_answered_304_without_a_body(self, site):
        first = site.get("/docs/style.css")
        etag = first.headers["ETag"]
        answer = site.get("/docs/style.css", headers={"If-None-Match": etag})
        assert answer.status_code == 304
        assert answer.headers["ETag"] == etag
        assert answer.content == b""
        stale = site.get("/docs/style.css", headers={"If-None-Match": '"not-it"'})
        assert stale.status_code == 200
        assert stale.content == DOCS["style.css"][0]

    def test_a_range_is_answered_206(self, site):
        answer = site.get("/docs/digits.txt", headers={"Range": "bytes=2-5"})
        assert answer.status_code == 206
        assert answer.content == b"2345"
        assert answer.headers["Content-Range"] == "bytes 2-5/10"
        past_the_end = site.get("/docs/digits.txt", headers={"Range": "bytes=50-"})
        assert past_the_end.status_code == 416
        assert past_the_end.headers["Content-Range"] == "bytes */10"

    def test_a_missing_doc_is_the_middlewares_404_not_the_apps(self, site):
        calls = len(site.inner.calls)
        answer = site.get("/docs/no-such-page.html")
        assert answer.status_code == 404
        assert APP_NOT_FOUND not in answer.text
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert len(site.inner.calls) == calls

    def test_head_of_a_doc_sends_its_headers_and_no_body(self, site):
        cookie = "; ".join(f"{name}={value}" for name, value in site.http.cookies.items())
        reply = site.raw(
            f"HEAD {site.mount}/docs/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {cookie}\r\nConnection: close\r\n\r\n".encode()
        )
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert f"Content-Length: {len(DOCS['style.css'][0])}".encode() in head
        assert body == b""
