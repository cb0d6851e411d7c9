"""What a request asks of a mount, and what that resolves to: the values
the guard (:mod:`.guard`), the resolver (:mod:`.resolve`) and
the answers (:mod:`.answer`) hand each other."""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from typing import Any

from ..http.paths import redirect_location
from ..site.versions import Document
from ..stores.base import Listing as Listed

Environ = dict[str, Any]

# The Vary of every answer a single-page app's fallback could have given
# instead: whether a request is a navigation is read from these.
NAVIGATION_VARY = "Sec-Fetch-Mode, Accept"


@dataclasses.dataclass(frozen=True)
class Asked:
    """One request to a mount, its path read and checked.

    :param environ: the request's WSGI environ.
    :param wsgi_path: its path under the mount as WSGI gives it (PEP 3333's
        latin-1 string after ``prefix + "/"``), version segment included:
        what a redirect to a place of the request's own is built from.
    :param path: the same path decoded, under the site (without the version
        segment where versions are served): what the redirects file, hidden
        names and listings are matched against.
    :param site: the key prefix of the site ``path`` is under:
        ``key_prefix``, or ``key_prefix + version + "/"``.
    :param key: the key ``path`` names (a folder's index document).
    """

    environ: Environ
    wsgi_path: str
    path: str
    site: str
    key: str

    @property
    def folder(self) -> bool:
        """Whether the path names a folder (the site's root included)."""
        return not self.path or self.path.endswith("/")


def location(environ: Environ, prefix: str, wsgi_path: str) -> str:
    """This host's URL of ``wsgi_path`` (a WSGI string) under ``prefix``,
    SCRIPT_NAME included, with the request's query."""
    path = f"{environ.get('SCRIPT_NAME', '')}{prefix}/{wsgi_path}"
    return redirect_location(path, environ.get("QUERY_STRING", ""))


# What a request resolves to: a closed set, each answered by .answer.


@dataclasses.dataclass(frozen=True)
class ObjectTarget:
    """An object: ``key`` as stored, or its variant for the request's
    Accept-Encoding among ``encodings`` (the manifest's; empty for none)."""

    key: str
    encodings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Fallback:
    """A single-page app's page, for a navigation to a missing key."""

    key: str


@dataclasses.dataclass(frozen=True)
class Redirect:
    """A redirect to ``location``, already checked: this host's URL or an
    allowed one; with ``vary`` where another request has another answer."""

    location: str
    status: HTTPStatus = HTTPStatus.MOVED_PERMANENTLY
    cache_control: str | None = None
    vary: str | None = None


@dataclasses.dataclass(frozen=True)
class Listing:
    """A page of a folder's listing: ``listed``, S3's page of ``folder``
    (a key prefix) after the key ``after``, shown as the path ``shown``."""

    listed: Listed
    folder: str
    shown: str
    after: str | None


@dataclasses.dataclass(frozen=True)
class VersionsDocument:
    """The versions, aliases and default, for a version switcher."""

    document: Document


@dataclasses.dataclass(frozen=True)
class Miss:
    """Nothing to serve, for ``reason``: ``status`` (404, or 400 for a bad
    query), as the error document ``page`` if there is one, with ``vary``
    if another request could have had a page."""

    reason: str
    status: HTTPStatus = HTTPStatus.NOT_FOUND
    page: str | None = None
    vary: str | None = None


@dataclasses.dataclass(frozen=True)
class HandOn:
    """Not this mount's after all (a miss with ``fallthrough``): the
    wrapped app answers."""

    reason: str


Target = ObjectTarget | Fallback | Redirect | Listing | VersionsDocument | Miss | HandOn
