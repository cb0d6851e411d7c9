"""The sample site the tests serve, and a stand-in for the wrapped app.

A module of its own (not conftest) so that test files anywhere under tests/
can import it by one unambiguous name.
"""

from __future__ import annotations

SITE = {
    "index.html": (b"<html><link rel=stylesheet href=style.css><h1>Home</h1></html>", "text/html"),
    "style.css": (b"h1 { color: teal }\n", "text/css"),
    "guide/index.html": (b"<html><h1>Guide</h1><a href=../index.html>up</a></html>", "text/html"),
    "guide/intro.html": (b"<html><h1>Intro</h1></html>", "text/html"),
    "img/logo.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png"),
    "untyped.js": (b"console.log('hi');\n", "binary/octet-stream"),
    "caf\u00e9/menu.html": ("<p>caf\u00e9 \u2615</p>".encode(), "text/html"),
    "digits.txt": (b"0123456789", "text/plain"),
}


def fill_bucket(client, bucket: str, site: dict | None = None) -> None:
    for key, (body, content_type) in (site or SITE).items():
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def host_app(environ, start_response):
    """A stand-in for the wrapped app: says who answered, and what it saw."""
    body = f"host app: {environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
