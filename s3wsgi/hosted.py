"""What a hosted site needs beyond its objects: redirects (configured, from
a file in the bucket, or S3 website redirects), versions and their aliases
(as Read the Docs serves them), and single-page apps' navigations.

The files in the bucket (``redirects_file``, ``versions.json``) are read
like the publish manifest: kept, and asked for again (one conditional
GetObject) at most every ``site_files_ttl`` seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit
from wsgiref.types import WSGIEnvironment

from .http.encodings import weighted
from .site import VERSIONS_NAME
from .site import versions as versions_file
from .site.kept import Kept
from .stores.base import Budget, Store


class WebsiteRedirect(Exception):
    """An object carries an S3 website redirect to ``location``."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def _redirect_map(data: bytes) -> dict[str, str]:
    try:
        document = json.loads(data)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in document.items()
    ):
        raise ValueError("not a JSON object of paths to paths")
    return {_path(k): v for k, v in document.items()}


def _path(path: str) -> str:
    """A path under the prefix as configured: ``/guide/old.html``."""
    return "/" + path.lstrip("/")


class Redirects:
    """Paths that moved: ``old -> new``, both under the prefix (``/old.html``)
    or the new one an absolute URL; from code, and from a file in the bucket."""

    def __init__(
        self,
        configured: Iterable[tuple[str, str]],
        store: Store,
        file_key: str | None,
        ttl: float,
    ):
        self.configured = {_path(old): new for old, new in configured}
        self.file = Kept(store, file_key, _redirect_map, ttl) if file_key else None

    def target(self, path: str, budget: Budget | None) -> str | None:
        """Where ``path`` (decoded, under the prefix, with a leading ``/``) moved."""
        target = self.configured.get(path)
        if target is None and self.file is not None:
            moved = self.file.get(budget)
            target = moved.get(path) if moved else None
        return target


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def website_location(location: str, allowed_hosts: frozenset[str]) -> tuple[str, bool] | None:
    """An S3 website redirect as a Location: ``(path, False)`` for a path in
    the bucket (S3 website hosting reads it from the bucket's root),
    ``(url, True)`` for an absolute URL to an allowed host, else None: never
    an open redirect to anywhere a bucket writer chose."""
    if location.startswith("/") and not location.startswith("//"):
        return location, False
    if not _SCHEME.match(location) and not location.startswith("//"):
        return None
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.hostname.lower() not in allowed_hosts:
        return None
    return location, True


class Versions:
    """The versions under a key prefix and their aliases: ``versions.json``
    (as ``s3wsgi publish --version`` writes it), with configured aliases
    and default winning over the file's."""

    def __init__(
        self,
        store: Store,
        key_prefix: str,
        ttl: float,
        aliases: Iterable[tuple[str, str]],
        default: str | None,
    ):
        self.file = Kept(store, key_prefix + VERSIONS_NAME, versions_file.loads, ttl)
        self.aliases = dict(aliases)
        self.default_name = default

    def document(self, budget: Budget | None) -> versions_file.Document:
        """The versions, the aliases and the default, as a switcher reads them."""
        found = self.file.get(budget) or versions_file.empty()
        aliases = {**found["aliases"], **self.aliases}
        return {
            "versions": list(found["versions"]),
            "aliases": aliases,
            "default": self.default_name or found.get("default"),
        }

    def resolve(self, name: str, budget: Budget | None) -> str | None:
        """The version ``name`` stands for, or None for no such version."""
        document = self.document(budget)
        if name in document["aliases"]:
            name = document["aliases"][name]
        return name if name in document["versions"] else None

    def default(self, budget: Budget | None) -> str | None:
        """The version or alias ``/docs/`` sends readers to."""
        return self.document(budget)["default"]


def is_navigation(environ: WSGIEnvironment) -> bool:
    """Whether a request is a page navigation, not a script's, a style's or
    an image's fetch: ``Sec-Fetch-Mode: navigate``, else an Accept that
    names HTML (browsers send both with navigations, and neither with
    subresources)."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return False
    mode: str | None = environ.get("HTTP_SEC_FETCH_MODE")
    if mode is not None:
        return mode.strip().lower() == "navigate"
    for media, quality in weighted(environ.get("HTTP_ACCEPT")):
        if media in ("text/html", "application/xhtml+xml"):
            return quality > 0
    return False
