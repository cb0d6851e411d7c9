"""A host app in plain WSGI (no framework), for the scenario's ``bare`` run."""

from __future__ import annotations

import json
import os
from html import escape
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from s3wsgi import S3Middleware

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def host_app(environ, start_response):
    """Home page, form, form POST, JSON, a cookie counter, and its own 404."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    mount = environ.get("SCRIPT_NAME", "")
    headers = [("Content-Type", "text/html; charset=utf-8")]
    status = "200 OK"
    if (method, path) == ("GET", "/"):
        body = page("Home", f'<p><a href="{mount}/docs/">Documentation</a></p>')
    elif (method, path) == ("GET", "/form"):
        body = page(
            "Form",
            f'<form method=post action="{mount}/echo"><input name=message>'
            "<button>Send</button></form>",
        )
    elif (method, path) == ("POST", "/echo"):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(size).decode("utf-8"))
        said = escape(form.get("message", [""])[0])
        body = page("Received", f"<p>You said: {said}</p>")
    elif (method, path) == ("GET", "/api/status"):
        headers = [("Content-Type", "application/json")]
        body = json.dumps(
            {"framework": "bare", "path": mount + path, "script_name": mount, "user": None}
        ).encode()
    elif (method, path) == ("GET", "/visit"):
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        seen = cookie["visits"].value if "visits" in cookie else ""
        count = (int(seen) if seen.isdigit() else 0) + 1
        headers.append(("Set-Cookie", f"visits={count}; Path=/; HttpOnly; SameSite=Lax"))
        body = page("Visits", f"<p>Visit number {count}</p>")
    else:
        status = "404 Not Found"
        body = page("Not found", "<p>This page is not part of the app.</p>")
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


def page(title: str, body: str) -> bytes:
    return PAGE.format(title=escape(title), body=body).encode()


def make_application():
    """The host app with the bucket named in the environment under /docs/."""
    return S3Middleware(
        host_app,
        bucket=os.environ["S3WSGI_BUCKET"],
        endpoint_url=os.environ.get("S3WSGI_ENDPOINT_URL") or None,
        prefix="/docs",
    )
