"""Calling a WSGI app in-process, every answer checked by wsgiref's validator."""

from __future__ import annotations

from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.code = int(status.split()[0])
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


def make_environ(path: str, method: str = "GET", headers=None, **extra) -> dict:
    """``path`` is a text path; it becomes PEP 3333's latin-1 string of its UTF-8."""
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["REQUEST_METHOD"] = method
    environ["QUERY_STRING"] = ""
    environ["PATH_INFO"] = path.encode("utf-8").decode("latin-1")
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(extra)
    return environ


def call(app, path: str = "/", method: str = "GET", headers=None, **extra) -> Answer:
    """One request; the body read whole and the iterable closed, as a server would."""
    environ = make_environ(path, method, headers, **extra)
    started = []

    def start_response(status, response_headers, exc_info=None):
        started.append((status, response_headers))

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    status, response_headers = started[-1]
    return Answer(status, response_headers, body)
