"""Redirect targets that come from the bucket (an object's S3 website
redirect, an entry of ``redirects_file``): bucket data, never configuration,
so checked as strictly as a request path and re-serialised, never echoed.

A target is either a path (``/guide/new.html``), which must stay inside
the mount, or an absolute ``http(s)`` URL to a host the operator listed in
``redirect_hosts``. Anything else is refused: no open redirect, no header
splitting, no ``javascript:`` or ``data:``, no way out of the mount.

Pure functions: no I/O, so every rule here is cheap to test exhaustively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .paths import BadPath, key_for

# RFC 3986 §3.1: a scheme, then ":". Browsers read such a target as an
# absolute URL whatever follows, so it is checked as one.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")

# An absolute target is visible ASCII (RFC 3986 §2): no whitespace, no
# control or non-ASCII character, and no backslash, which browsers read as
# "/" (WHATWG URL) where Python's urlsplit reads it as part of the userinfo.
_NOT_URL = re.compile(r"[^\x21-\x5b\x5d-\x7e]")

# What stays as it is when a part is re-serialised: RFC 3986 pchar (path),
# plus "/" and "?" in a query or fragment (§3.4, §3.5), and "%" only where
# it starts a percent-encoded byte; everything else is percent-encoded.
_PATH_ESCAPED = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")
_QUERY_ESCAPED = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


class BadTarget(ValueError):
    """A target no client may be sent to: the answer is 404."""


@dataclass(frozen=True)
class Local:
    """A path inside the mount: decoded text, no leading slash, every
    segment checked as a request path's (``key_for``)."""

    path: str


@dataclass(frozen=True)
class Remote:
    """An absolute URL to an allowed host, rebuilt from its parsed parts."""

    url: str


def checked(target: str, allowed_hosts: frozenset[str], *, root: str = "") -> Local | Remote:
    """``target`` as a place a redirect may send a client, else BadTarget.

    A path must start with ``root`` (a key prefix ending in ``/``, for S3
    website redirects, whose paths are the bucket's), which is taken off.
    ``allowed_hosts`` are lowercase host names.
    """
    if _SCHEME.match(target):
        return _remote(target, allowed_hosts)
    if target.startswith("//"):
        raise BadTarget("a scheme-relative URL (//host) is not a path")
    path = target[1:] if target.startswith("/") else target
    try:
        key_for(path, key_prefix="", index_document="")
    except BadPath as error:
        raise BadTarget(str(error)) from None
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 can make
        raise BadTarget("the path is not Unicode text") from None
    if not path.startswith(root):
        raise BadTarget(f"the path is outside key_prefix {root!r}")
    return Local(path[len(root) :])


def _remote(target: str, allowed_hosts: frozenset[str]) -> Remote:
    if _NOT_URL.search(target):
        raise BadTarget(
            "an absolute URL holds whitespace, a backslash, a control or a non-ASCII character"
        )
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError as error:
        raise BadTarget(f"not a URL ({str(error):.80})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadTarget(f"the scheme {scheme!r:.40} is neither http nor https")
    if "@" in parts.netloc:
        raise BadTarget("the URL holds a user name")
    host = parts.hostname
    if not host or host not in allowed_hosts:
        raise BadTarget(f"the host {host!r:.80} is not in redirect_hosts")
    url = f"{scheme}://{f'[{host}]' if ':' in host else host}"
    if port is not None:
        url += f":{port}"
    url += _escape(_PATH_ESCAPED, parts.path) or "/"
    if parts.query:
        url += "?" + _escape(_QUERY_ESCAPED, parts.query)
    if parts.fragment:
        url += "#" + _escape(_QUERY_ESCAPED, parts.fragment)
    return Remote(url)


def _escape(pattern: re.Pattern[str], text: str) -> str:
    """``text`` (visible ASCII) with what ``pattern`` finds percent-encoded."""
    return pattern.sub(lambda found: f"%{ord(found.group()):02X}", text)
