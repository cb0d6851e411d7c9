"""Building the answers: an object's headers, errors, redirects, 304 and 416."""

from __future__ import annotations

import functools
import io
import mimetypes
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from .bodies import close

# The built-in table only: guesses must not depend on the host's
# /etc/mime.types. Modern web types Python's table lacks or names oddly.
_MEDIA_TYPES = mimetypes.MimeTypes()
for _type, _extension in (
    ("text/javascript", ".js"),
    ("text/javascript", ".mjs"),
    ("application/json", ".map"),
    ("application/manifest+json", ".webmanifest"),
    ("font/woff", ".woff"),
    ("font/woff2", ".woff2"),
    ("font/ttf", ".ttf"),
    ("font/otf", ".otf"),
    ("image/svg+xml", ".svg"),
    ("image/webp", ".webp"),
    ("image/avif", ".avif"),
    ("image/x-icon", ".ico"),
    ("application/wasm", ".wasm"),
    ("text/markdown", ".md"),
):
    _MEDIA_TYPES.add_type(_type, _extension)

# What S3 reports when the uploader set no type.
_UNTYPED = frozenset({"binary/octet-stream", "application/octet-stream"})
_TEXT_TYPES = frozenset(
    {"application/javascript", "application/json", "application/xml", "image/svg+xml"}
)

# RFC 9110 §9.3.7 / §15.5.6: the methods a static resource answers to.
ALLOW = "GET, HEAD, OPTIONS"

# Sent on every answer for a claimed path: the client may ask for ranges, and
# must not sniff a type (an S3 object's type is whatever the uploader said).
STANDARD_HEADERS = [("Accept-Ranges", "bytes"), ("X-Content-Type-Options", "nosniff")]

# The headers a 304 keeps from the 200 it stands for (RFC 9110 §15.4.5).
_NOT_MODIFIED_HEADERS = ("etag", "cache-control", "expires", "last-modified")

_HEADER_NAMES = {
    "content-type": "Content-Type",
    "content-length": "Content-Length",
    "content-range": "Content-Range",
    "etag": "ETag",
    "last-modified": "Last-Modified",
    "cache-control": "Cache-Control",
    "content-encoding": "Content-Encoding",
    "content-language": "Content-Language",
    "content-disposition": "Content-Disposition",
    "expires": "Expires",
}


# Each status's line, made once rather than from the enum on every answer.
_STATUS_LINES = {status: f"{status.value} {status.phrase}" for status in HTTPStatus}

# Smaller bodies gain nothing from a file wrapper: they fit in one write.
_WRAP_BYTES = 64 * 1024


class Response:
    """A status, its headers and a body iterable: a tiny WSGI answer."""

    __slots__ = ("status", "headers", "body")

    def __init__(
        self,
        status: HTTPStatus,
        headers: list[tuple[str, str]],
        body: Iterable[bytes] = (),
    ):
        self.status = status
        self.headers = headers
        self.body = body

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        status = self.status
        start_response(_STATUS_LINES.get(status) or f"{status.value} {status.phrase}", self.headers)
        body = self.body
        if environ["REQUEST_METHOD"] == "HEAD":
            close(body)
            return []
        if isinstance(body, (list, tuple)) and len(body) == 1 and len(body[0]) >= _WRAP_BYTES:
            # Bytes in memory (a cached object): as a file, which a server
            # may send without copying them into its buffers (PEP 3333).
            wrapper = environ.get("wsgi.file_wrapper")
            if wrapper is not None:
                wrapped: Iterable[bytes] = wrapper(io.BytesIO(body[0]))
                return wrapped
        return body


# content_type() is pure and asked the same question on every request for
# an object: guessing a type from the key alone costs 30 microseconds. Keys
# are at most 1 KiB (MAX_KEY_BYTES), so the memo stays within a few MiB.
@functools.lru_cache(maxsize=1024)
def content_type(reported: str | None, key: str) -> str:
    """S3's type unless it is missing or generic; text types get a charset."""
    if not reported or reported.split(";", 1)[0].strip().lower() in _UNTYPED:
        guessed, _ = _MEDIA_TYPES.guess_type(key, strict=False)
        reported = guessed or "application/octet-stream"
    media_type = reported.split(";", 1)[0].strip().lower()
    if "charset=" not in reported.lower() and (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith("+xml")
        or media_type.endswith("+json")
    ):
        reported += "; charset=utf-8"
    return reported


def object_headers(
    s3_headers: dict[str, str],
    key: str,
    *,
    cache_control: str | None,
    extra: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    """The headers of a 200 or 206: S3's allowlisted ones, fixed up."""
    headers = [
        (_HEADER_NAMES[name], value) for name, value in s3_headers.items() if name != "content-type"
    ]
    headers.append(("Content-Type", content_type(s3_headers.get("content-type"), key)))
    if cache_control and "cache-control" not in s3_headers:
        headers.append(("Cache-Control", cache_control))
    headers += STANDARD_HEADERS
    headers += extra
    return headers


def not_modified(
    s3_headers: dict[str, str],
    *,
    cache_control: str | None,
    extra: list[tuple[str, str]],
) -> Response:
    """304, keeping what is known of ETag / Cache-Control / Expires /
    Last-Modified, and filling Cache-Control where there is none."""
    kept = {name: s3_headers[name] for name in _NOT_MODIFIED_HEADERS if name in s3_headers}
    if cache_control and "cache-control" not in kept:
        kept["cache-control"] = cache_control
    headers = [(_HEADER_NAMES[name], value) for name, value in kept.items()]
    return Response(HTTPStatus.NOT_MODIFIED, headers + STANDARD_HEADERS + extra)


def text_response(
    status: HTTPStatus, extra: list[tuple[str, str]], *headers: tuple[str, str]
) -> Response:
    """A short plain-text answer naming the status, and nothing else: never
    an exception, a bucket, a key or a request id."""
    body = f"{status.value} {status.phrase}\n".encode()
    return Response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *headers,
            *STANDARD_HEADERS,
            *extra,
        ],
        [body],
    )


def redirect(
    location: str,
    extra: list[tuple[str, str]],
    status: HTTPStatus = HTTPStatus.MOVED_PERMANENTLY,
    *,
    cache_control: str | None = None,
) -> Response:
    """A redirect to ``location``: 301, or 302 for one that may change."""
    headers = [("Location", location)]
    if cache_control:
        headers.append(("Cache-Control", cache_control))
    return text_response(status, extra, *headers)


def range_not_satisfiable(size: int, extra: list[tuple[str, str]]) -> Response:
    # RFC 9110 §15.5.17: a 416 tells the current length.
    return text_response(
        HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, extra, ("Content-Range", f"bytes */{size}")
    )


def error_response(
    status: int, extra: list[tuple[str, str]], *, retry_after: int | None = None
) -> Response:
    """502, 503 or 504; a 503 says when to try again (RFC 9110 §10.2.3)."""
    headers = []
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        headers.append(("Retry-After", str(retry_after or 5)))
    return text_response(HTTPStatus(status), extra, *headers)


def make_private(response: Response, vary: str) -> None:
    """Keep an answer out of shared caches (RFC 9111 §5.2.2.7): ``private``
    in its Cache-Control, ``public`` and ``s-maxage`` dropped and the rest
    kept, and ``vary`` (what decided who may see it) added to its Vary."""
    headers = response.headers
    directives = ["private"]
    vary_names = [name.strip() for name in vary.split(",") if name.strip()]
    kept = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cache-control":
            for directive in value.split(","):
                directive = directive.strip()
                word = directive.split("=", 1)[0].strip().lower()
                if directive and word not in ("public", "private", "s-maxage"):
                    directives.append(directive)
        elif lowered == "vary":
            vary_names += [n.strip() for n in value.split(",") if n.strip()]
        else:
            kept.append((name, value))
    kept.append(("Cache-Control", ", ".join(directives)))
    if vary_names:
        seen: dict[str, str] = {}
        for name in vary_names:
            seen.setdefault(name.lower(), name)
        kept.append(("Vary", ", ".join(seen.values())))
    response.headers = kept


def options_response(extra: list[tuple[str, str]]) -> Response:
    return Response(HTTPStatus.NO_CONTENT, [("Allow", ALLOW), *STANDARD_HEADERS, *extra])


def method_not_allowed(extra: list[tuple[str, str]]) -> Response:
    return text_response(HTTPStatus.METHOD_NOT_ALLOWED, extra, ("Allow", ALLOW))
