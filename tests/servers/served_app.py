"""The app the server tests run under gunicorn and uWSGI: a small host app
wrapped in S3Middleware, configured from ``S3WSGI_*`` variables as
examples/standalone.py configures S3App::

    S3WSGI_BUCKET=docs S3WSGI_PREFIX=/docs gunicorn served_app:application

``SERVED_APP_WARM_UP=1`` makes the module GET the index through the
middleware while it is imported, as a deployment's check at start-up would;
under ``gunicorn --preload`` (or uWSGI without ``--lazy-apps``) that request
is made in the master, before the workers are forked.

Every answer carries ``X-Worker-Pid``, so a test knows which worker answered.
"""

from __future__ import annotations

import logging
import os
import sys
from wsgiref.util import setup_testing_defaults

from s3wsgi import S3Middleware
from s3wsgi.options import convert_settings, environ_settings

# The host app's own 404 page says this; the middleware's never does.
APP_NOT_FOUND = b"This page is not part of the app."


def host_app(environ, start_response):
    """A home page, an echo of a POST body, and a 404 page of its own."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    status, content_type = "200 OK", "text/html; charset=utf-8"
    if (method, path) == ("GET", "/"):
        body = b'<html><h1>Host home</h1><a href="/docs/">Docs</a></html>'
    elif (method, path) == ("POST", "/echo"):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        content_type = "application/octet-stream"
    else:
        status = "404 Not Found"
        body = b"<html><p>" + APP_NOT_FOUND + b"</p></html>"
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def with_worker_pid(app):
    """``app``, its answers telling which process served them."""

    def served(environ, start_response):
        def start(status, headers, exc_info=None):
            # os.getpid() now: with --preload this module ran in the master.
            return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))], exc_info)

        return app(environ, start)

    return served


def warm_up(app: S3Middleware) -> None:
    """GET the index through ``app``; raise unless it is served."""
    environ: dict = {"PATH_INFO": app.prefix + "/"}
    setup_testing_defaults(environ)
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)
        return lambda data: None

    body = app(environ, start_response)
    try:
        for _ in body:
            pass
    finally:
        body.close()
    if not statuses[0].startswith("200"):
        raise RuntimeError(f"warm-up GET of the index answered {statuses[0]}")


# s3wsgi's warnings on stderr with their level, logger and process, where a
# test reads them (gunicorn's own loggers do not propagate to the root).
logging.basicConfig(
    stream=sys.stderr,
    level=logging.WARNING,
    format="%(levelname)s %(name)s [%(process)d] %(message)s",
)

middleware = S3Middleware(host_app, **convert_settings(environ_settings(os.environ)))
application = with_worker_pid(middleware)
if os.environ.get("SERVED_APP_WARM_UP") == "1":
    warm_up(middleware)
