"""What a hosted site needs beyond its objects: redirects (configured, from
a file in the bucket, or S3 website redirects), versions and their aliases
(as Read the Docs serves them), and single-page apps' navigations.

The files in the bucket (``redirects_file``, ``versions.json``) are read
like the publish manifest: kept, and asked for again (one conditional
GetObject) at most every ``site_files_ttl`` seconds.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from typing import NamedTuple
from wsgiref.types import WSGIEnvironment

from ..http.encodings import weighted
from ..site import VERSIONS_NAME
from ..site import versions as versions_file
from ..site.kept import Kept
from ..stores.base import Budget, Clock, Store

log = logging.getLogger("s3wsgi")

# Lines logged about one read of versions.json: enough to fix it by, and no
# flood from a file of a million bad names.
MAX_LOGGED = 20


class WebsiteRedirect(Exception):
    """An object carries an S3 website redirect to ``location``."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def _redirect_map(data: bytes) -> dict[str, str]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise ValueError("not JSON") from None
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in document.items()
    ):
        raise ValueError("not a JSON object of paths to paths")
    return {_path(k): v for k, v in document.items()}


def _path(path: str) -> str:
    """A path under the prefix as configured: ``/guide/old.html``."""
    return "/" + path.lstrip("/")


# A control character (C0, DEL, C1) in a configured redirect: CR and LF
# would split the Location header, and none belongs in a URL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class Moved(NamedTuple):
    """Where a path moved, and who says so: ``source`` is the key of the
    object in the bucket (checked as bucket data), or None for the
    operator's ``redirects`` (trusted)."""

    target: str
    source: str | None


class Redirects:
    """Paths that moved: ``old -> new``, both under the prefix (``/old.html``)
    or the new one an absolute URL; from code, and from a file in the bucket.

    ValueError for a configured target that cannot be a Location: a control
    character, or an absolute URL that is not ASCII."""

    def __init__(
        self,
        configured: Iterable[tuple[str, str]],
        store: Store,
        file_key: str | None,
        ttl: float,
        *,
        clock: Clock = time.monotonic,
    ):
        self.configured = {_path(old): new for old, new in configured}
        for old, new in self.configured.items():
            if _CONTROL.search(old) or _CONTROL.search(new):
                raise ValueError(f"redirects: {old!r} -> {new!r} holds a control character")
            if _ABSOLUTE.match(new) and not new.isascii():
                raise ValueError(
                    f"redirects: {old!r} -> {new!r}: an absolute URL must be ASCII"
                    " (percent-encode the rest)"
                )
        self.file_key = file_key
        self.file = Kept(store, file_key, _redirect_map, ttl, clock=clock) if file_key else None

    def target(self, path: str, budget: Budget | None) -> Moved | None:
        """Where ``path`` (decoded, under the prefix, with a leading ``/``) moved."""
        target = self.configured.get(path)
        if target is not None:
            return Moved(target, None)
        moved = self.file.get(budget) if self.file is not None else None
        target = moved.get(path) if moved else None
        return Moved(target, self.file_key) if target is not None else None


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
        *,
        clock: Clock = time.monotonic,
    ):
        key = key_prefix + VERSIONS_NAME
        self.file = Kept(store, key, lambda body: _checked_versions(key, body), ttl, clock=clock)
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


def _checked_versions(key: str, body: bytes) -> versions_file.Document:
    """The file's usable entries; what it left out is logged once per read
    of a new file, not once per request."""
    document, dropped = versions_file.checked(body)
    for problem in dropped[:MAX_LOGGED]:
        log.warning("%s: %s; left out", key, problem)
    if len(dropped) > MAX_LOGGED:
        log.warning("%s: %d more entries left out", key, len(dropped) - MAX_LOGGED)
    return document


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
