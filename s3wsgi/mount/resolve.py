"""Resolving a request into what it asks for: an object, a redirect, a
listing, the versions document, a miss.

Some of it reads the bucket (the redirects file, versions.json, the
manifest, a folder's index, a listing): the guard runs it inside the
request's S3 turn and deadline, and :meth:`Resolver.targets` asks S3 only
as far as the request needs, one candidate after another.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus

from ..http.paths import MAX_KEY_BYTES, BadPath, key_for, query_value, text_to_wsgi, wsgi_to_text
from ..http.targets import BadTarget, Remote, checked
from ..options import Options
from ..site import VARIANT_SUFFIXES, VERSIONS_NAME
from ..stores.base import Budget, Clock, ListingStore, NotFound, OutOfTime
from .asked import (
    NAVIGATION_VARY,
    Asked,
    Environ,
    Fallback,
    HandOn,
    Listing,
    Miss,
    ObjectTarget,
    Redirect,
    Target,
    VersionsDocument,
    location,
)
from .hosted import Moved, Redirects, Versions, WebsiteRedirect, is_navigation
from .objects import ObjectAnswers
from .variants import Variants

log = logging.getLogger("s3wsgi")


class Resolver:
    """What the requests to one mount ask for.

    :param options: the mount's options.
    :param prefix: the mount's path prefix, without its trailing slash.
    :param key_prefix: the site's key prefix, with its trailing slash (or
        empty).
    :param objects: what heads an object (a folder's index, a large one).
    :param uncached: the store site files and listings are read through,
        past the object cache: a publish is seen at once.
    :param fresh: whether a key is in the object cache, fresh.
    :param owner: the prefix of the other mount whose rules a key is read
        under, or None when it is this mount's own.
    """

    def __init__(
        self,
        options: Options,
        *,
        prefix: str,
        key_prefix: str,
        objects: ObjectAnswers,
        uncached: ListingStore,
        fresh: Callable[[str], bool],
        owner: Callable[[str], str | None],
        clock: Clock = time.monotonic,
    ):
        self.options = options
        self.prefix = prefix
        self.key_prefix = key_prefix
        self.objects = objects
        self.uncached = uncached
        self.fresh = fresh
        self.owner = owner
        ttl = options.published.files_ttl
        self.variants = Variants(uncached, ttl, clock=clock) if options.published.variants else None
        redirects_file = options.redirects.file
        self.redirects = (
            Redirects(
                options.redirects.paths,
                uncached,
                key_prefix + redirects_file.lstrip("/") if redirects_file else None,
                ttl,
                clock=clock,
            )
            if options.redirects.paths or redirects_file
            else None
        )
        self.redirect_hosts = frozenset(
            host.strip().lower() for host in options.redirects.hosts.split(",") if host.strip()
        )
        self.versions = (
            Versions(
                uncached,
                key_prefix,
                ttl,
                options.versions.aliases,
                options.versions.default,
                clock=clock,
            )
            if options.versions.enabled
            else None
        )
        self.error_document = (options.error_document or "").lstrip("/") or None

    def from_memory(self, key: str) -> bool:
        """Whether the answer for ``key`` needs no S3 request at all, so no
        turn: the object fresh in the cache, and its manifest known (a
        variant or a stale manifest would ask S3), and no file in the
        bucket (redirects, versions) that could send the path elsewhere."""
        if self.redirects is not None or self.versions is not None or not self.fresh(key):
            return False
        variants = self.variants
        return variants is None or (
            variants.fresh(self.key_prefix) and not variants.of(self.key_prefix, key, None)
        )

    def targets(self, asked: Asked, budget: Budget) -> Iterator[Target]:
        """What ``asked`` resolves to, best first: the caller answers each
        in turn and asks for the next only when the one before proves
        missing (NotFound), so S3 is asked no more than needed. The last is
        a :class:`Miss` or :class:`HandOn`, which always answer."""
        routed = self._route(asked, budget)
        if not isinstance(routed, Asked):
            yield routed
            return
        try:
            found = self._object(routed, budget)
        except WebsiteRedirect as redirect:
            yield self.website_redirect(routed.key, redirect.location, routed.environ)
            return
        except NotFound:
            found = None
        if found is not None:
            yield found
        yield from self._missing(routed, budget)

    def _route(self, asked: Asked, budget: Budget) -> Asked | Target:
        """Redirects, then the version: where the path leads. ``asked`` is
        the path's key without versions; a version names another (and the
        returned Asked has the version's site and key)."""
        if self.redirects is not None:
            moved = self.redirects.target("/" + asked.path, budget)
            if moved is not None:
                return self._moved(asked.environ, moved)
        if self.versions is not None:
            asked_for = self._version(asked, budget)
            if not isinstance(asked_for, Asked):
                return asked_for
            asked = asked_for
        owner = self.owner(asked.key)
        if owner is not None:
            # Another mount's key, reached through this one (a version alias,
            # a wider key_prefix): its rules, not these, would apply.
            log.warning("%s: a key of the mount at %s; answering 404", asked.key, owner)
            return Miss("another mount's key")
        return asked

    def _version(self, asked: Asked, budget: Budget) -> Asked | Target:
        """The version the path's first segment names, and the path under it."""
        assert self.versions is not None
        name, slash, text = asked.path.partition("/")
        if not name:
            default = self.versions.default(budget)
            if default is None:
                return Miss("no default version")
            place = self._location(asked.environ, text_to_wsgi(default) + "/")
            return Redirect(place, HTTPStatus.FOUND)
        if name == VERSIONS_NAME and not slash:
            return VersionsDocument(self.versions.document(budget))
        version = self.versions.resolve(name, budget)
        if version is None:
            return Miss("no such version")
        if not slash:
            return Redirect(self._location(asked.environ, asked.wsgi_path + "/"))
        try:  # the version's name is checked as a request path's segments are
            key = key_for(
                f"{version}/{text}",
                key_prefix=self.key_prefix,
                index_document=self.options.index_document,
            )
        except BadPath as error:
            log.warning("%s: version %.80r cannot name a key: %s", text, version, error)
            return Miss("a version that cannot name a key")
        site = self.key_prefix + version + "/"
        return dataclasses.replace(asked, path=text, site=site, key=key)

    def _object(self, asked: Asked, budget: Budget) -> Target | None:
        """The key's object: a presigned redirect for a large one (with
        ``redirect_over_bytes``), else the object with the encodings of its
        variants; None for a variant's own key, reached only through its file.
        Raises NotFound and WebsiteRedirect as a HeadObject does."""
        key = asked.key
        limit = self.options.downloads.over_bytes
        if limit is not None:
            head = self.objects.head(key, budget)
            if head.redirect is not None:
                raise WebsiteRedirect(head.redirect)
            if (head.size or 0) > limit:
                return self._presigned(key)
        if self.variants is None:
            return ObjectTarget(key)
        encodings = self.variants.of(asked.site, key, budget)
        if not encodings and self._is_variant(asked.site, key, budget):
            # Sent as it is stored, it would be Brotli or gzip whatever
            # the client accepts.
            return None
        return ObjectTarget(key, encodings)

    def _is_variant(self, site: str, key: str, budget: Budget) -> bool:
        """Whether ``key`` is a variant the manifest lists (``KEY.br``)."""
        assert self.variants is not None
        for coding, suffix in VARIANT_SUFFIXES.items():
            if key.endswith(suffix):
                return coding in self.variants.of(site, key[: -len(suffix)], budget)
        return False

    def _presigned(self, key: str) -> Redirect:
        """302 to a GetObject URL S3 answers by itself: the client's range
        and validators then go to S3 directly."""
        # Signed here, not asked of S3 (nor of the cache): no attempt, no breaker.
        url = self.uncached.presign(key, self.options.downloads.expires)
        return Redirect(url, HTTPStatus.FOUND, "private, no-store")

    def _missing(self, asked: Asked, budget: Budget) -> Iterator[Target]:
        """A missing key: a folder's redirect, a listing, a single-page
        app's page, the wrapped app, the error document, or 404."""
        environ = asked.environ
        folder_index = f"{asked.key}/{self.options.index_document}"
        if not asked.folder and len(folder_index.encode()) <= MAX_KEY_BYTES:
            try:
                self.objects.head(folder_index, budget)
            except NotFound:
                pass
            except OutOfTime:
                log.info("%s: no time left to look for %s", asked.key, folder_index)
            else:
                yield Redirect(self._location(environ, asked.wsgi_path + "/"))
                return
        if asked.folder and self.options.listing.enabled:
            listed = self._listing(asked, budget)
            if listed is not None:
                yield listed
                return
        spa = self.options.spa_fallback
        if spa and is_navigation(environ):
            yield Fallback(asked.site + spa.lstrip("/"))
        if self.options.fallthrough:
            yield HandOn("a missing key")
            return
        page = asked.site + self.error_document if self.error_document else None
        # A navigation would have had the single-page app's page.
        yield Miss("a missing key", page=page, vary=NAVIGATION_VARY if spa else None)

    def _listing(self, asked: Asked, budget: Budget) -> Listing | Miss | None:
        """The folder's listing; None where S3 lists nothing there (no such
        folder) or will not list (no s3:ListBucket: a 404, not a 502)."""
        environ = asked.environ
        folder = asked.site + asked.path
        try:
            # The page after a name, which goes to S3 as a key: the same
            # rules as a request path's.
            after_name = query_value(environ.get("QUERY_STRING", ""), "after")
            after = folder + after_name if after_name else None
            if after is not None and len(after.encode()) > MAX_KEY_BYTES:
                raise BadPath("after is longer than an S3 key may be")
        except BadPath as error:
            log.info("refused the listing of %r: %s", environ.get("PATH_INFO"), error)
            return Miss("a bad page of a listing", HTTPStatus.BAD_REQUEST)
        # Listings are never kept: read past the cache.
        store = self.uncached
        limit = self.options.listing.page_size
        try:
            listed = store.list(folder, after=after, limit=limit, budget=budget)
            if not listed.folders and not listed.objects and after is not None and asked.path:
                # An empty page: past the folder's end, or no such folder.
                first = store.list(folder, after=None, limit=1, budget=budget)
                if not first.folders and not first.objects:
                    return None
        except NotFound:
            log.info("%s: S3 would not list it (no s3:ListBucket?)", folder)
            return None
        if not listed.folders and not listed.objects and after is None and asked.path:
            return None
        # The path as the reader asked for it, a version's name included.
        shown = wsgi_to_text(environ.get("SCRIPT_NAME", "")) + self.prefix + "/"
        shown += wsgi_to_text(asked.wsgi_path)
        return Listing(listed, folder, shown, after)

    def website_redirect(
        self, key: str, target: str, environ: Environ, *, navigation: bool = False
    ) -> Redirect | Miss:
        """301 as S3 website hosting answers an object with a redirect: a path
        is the bucket's (mapped into this mount, so under key_prefix), an
        absolute URL only to a host in ``redirect_hosts``. A single-page
        app's page is a navigation's answer only: its redirect varies too."""
        moved = self._moved(environ, Moved(target, key), root=self.key_prefix)
        if navigation:
            return dataclasses.replace(moved, vary=NAVIGATION_VARY)
        return moved

    def _moved(self, environ: Environ, moved: Moved, root: str = "") -> Redirect | Miss:
        """301 to a redirect's target: a path under the prefix, or an
        absolute URL. The operator's (``redirects``) is trusted; the
        bucket's is checked and rebuilt (:mod:`s3wsgi.http.targets`) and
        anything else refused with a logged 404: never an open redirect or
        a way out of the mount. A bucket's path must start with ``root``."""
        if moved.source is not None:
            try:
                place = checked(moved.target, self.redirect_hosts, root=root)
            except BadTarget as error:
                # %.200r: escaped, and one line however long the target
                log.warning("%s: redirect to %.200r refused: %s", moved.source, moved.target, error)
                return Miss("a redirect the bucket may not give")
            if isinstance(place, Remote):
                return Redirect(place.url)
            target = place.path
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", moved.target):
            return Redirect(moved.target)
        else:
            target = moved.target.lstrip("/")
        return Redirect(self._location(environ, text_to_wsgi(target)))

    def _location(self, environ: Environ, wsgi_path: str) -> str:
        return location(environ, self.prefix, wsgi_path)
