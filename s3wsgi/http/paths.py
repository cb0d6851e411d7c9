"""From a request path to an S3 key, and from a key back to a redirect URL.

Pure functions: no I/O, so every rule here is cheap to test exhaustively.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote

# S3 refuses keys longer than this many UTF-8 bytes.
MAX_KEY_BYTES = 1024

# Backslash (a separator on Windows-backed stores and some proxies) and every
# control character, C0 and C1: none belongs in a URL path we serve.
_UNSAFE_CHARACTERS = re.compile(r"[\\\x00-\x1f\x7f-\x9f]")

# Characters left as they are in a path we put in a Location header: RFC 3986
# pchar, minus "%" so that every other byte is percent-encoded exactly once.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?%"


class BadPath(ValueError):
    """The request path cannot name a key: the client gets 400."""


def text_to_wsgi(text: str) -> str:
    """Text as PEP 3333 carries a path: its UTF-8 bytes, one character each."""
    return text.encode("utf-8").decode("latin-1")


def wsgi_to_text(value: str) -> str:
    """Decode a PEP 3333 "bytes-as-latin-1" string as the UTF-8 a browser sent."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError as error:
        raise BadPath("path is not valid UTF-8") from error


def key_for(rest: str, *, key_prefix: str, index_document: str) -> str:
    """Map the decoded path after the mount prefix to a key.

    ``rest`` has no leading slash; an empty ``rest`` or one ending in ``/``
    names a folder, whose ``index_document`` is served.
    """
    if _UNSAFE_CHARACTERS.search(rest):
        raise BadPath("path holds a backslash or a control character")
    segments = rest.split("/")
    if rest.endswith("/"):
        segments.pop()  # a folder's trailing slash is not an empty segment
    if rest and any(segment in ("", ".", "..") for segment in segments):
        raise BadPath("path holds an empty, '.' or '..' segment")
    if not rest or rest.endswith("/"):
        rest += index_document
    key = key_prefix + rest
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise BadPath("path is longer than an S3 key may be")
    return key


def redirect_location(wsgi_path: str, query_string: str = "") -> str:
    """A Location value for a path on this host, query string kept.

    Takes PEP 3333 strings, so the bytes the client sent are percent-encoded
    exactly once, and never yields a scheme-relative ``//host`` reference,
    whatever the path starts with.
    """
    raw = wsgi_path.encode("latin-1", "replace").lstrip(b"/")
    location = "/" + quote(raw, safe=_PATH_SAFE)
    if query_string:
        location += "?" + quote(query_string.encode("latin-1", "replace"), safe=_QUERY_SAFE)
    return location


def query_value(query_string: str, name: str) -> str | None:
    """The first value of ``name`` in a PEP 3333 query string, decoded as
    a form would be (``+`` is a space, RFC 3986 percent-encoding of UTF-8),
    or None; BadPath if it is not UTF-8 or holds a backslash or a control
    character, as a path may not."""
    try:
        text = query_string.encode("latin-1").decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeError as error:
        raise BadPath("query is not valid UTF-8") from error
    for key, value in pairs:
        if key == name:
            if _UNSAFE_CHARACTERS.search(value):
                raise BadPath(f"{name} holds a backslash or a control character")
            return value
    return None
