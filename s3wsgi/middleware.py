"""The WSGI middleware: claim a path prefix, answer it from S3, pass the rest on."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from .bulkhead import Bulkhead
from .check import BucketProblem, check_bucket
from .hidden import Hidden
from .hosted import Moved, Redirects, Versions, WebsiteRedirect, is_navigation
from .http import responses
from .http.bodies import Watched
from .http.encodings import choose
from .http.paths import (
    MAX_KEY_BYTES,
    BadPath,
    key_for,
    query_value,
    redirect_location,
    text_to_wsgi,
    wsgi_to_text,
)
from .http.responses import Response
from .http.targets import BadTarget, Remote, checked
from .listing import render as render_listing
from .objects import ObjectAnswers
from .observe.observer import Observer, observer_for
from .options import STORE_MAKING, Options, environ_name, environ_options
from .site import HASHED_PATTERN, IMMUTABLE, VARIANT_SUFFIXES, VERSIONS_NAME, is_entry_point
from .stores.base import Budget, NotFound, OutOfTime, Store, UpstreamError
from .stores.events import NO_EVENTS, StoreEvents
from .stores.factory import StoreChain, make_store
from .variants import Variants

log = logging.getLogger("s3wsgi")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# Seconds a client should wait when the bound on S3 requests is full.
BUSY_RETRY_AFTER = 1


def not_found_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The app behind :class:`S3App`: everything outside the prefix is 404."""
    return responses.text_response(HTTPStatus.NOT_FOUND, [])(environ, start_response)


class Mount:
    """One path prefix served from one bucket: which requests it claims
    (:meth:`match`) and their answers (:meth:`respond`), for the WSGI
    middleware below and the framework adapters alike.

    :param options: an :class:`~s3wsgi.options.Options`, or none and the
        options as keywords (``bucket``, ``prefix``, ...): the docs' options
        table lists them all.
    :param chain: the stores to read through instead of ones made from the
        options (mounts of one middleware share theirs).
    """

    def __init__(
        self, options: Options | None = None, *, chain: StoreChain | None = None, **keywords: Any
    ):
        if options is None:
            options = Options(**_with_environ(keywords))
        elif keywords:
            raise TypeError("give options either as an Options or as keywords, not both")
        self.options = options
        self.prefix = options.prefix.rstrip("/")
        key_prefix = options.key_prefix.strip("/")
        self.key_prefix = key_prefix + "/" if key_prefix else ""
        self.index_document = options.index_document
        self.error_document = (options.error_document or "").lstrip("/") or None
        self.fallthrough = options.fallthrough
        self.headers = list(options.headers)
        self.authorize = options.authorize
        scope = options.cache_scope
        self.private = scope == "private" or (scope == "auto" and options.authorize is not None)
        if options.check:
            problem = check_bucket(options)
            if problem:
                raise BucketProblem(problem)
        # Logs S3's faults; metrics and Server-Timing if asked. The stores
        # report to it from the start; a chain another mount made already
        # reports to that mount's, which shares with this one.
        self.observer = observer_for(options)
        if chain is None:
            chain = store_for(options, self.observer)
        elif isinstance(chain.events, Observer):
            chain.events.share(self.observer)
            self.observer.breaker_state(chain.resilient.breaker.state)
        self.chain = chain
        self.store = chain.top
        self.objects = ObjectAnswers(
            self.store, cache_control=self._cache_control, extra=self.headers
        )
        # Site files are read past the object cache, or a publish would be
        # seen only after cache_ttl.
        uncached = chain.resilient
        ttl = options.site_files_ttl
        self.variants = Variants(uncached, ttl) if options.variants else None
        # Immutable by name only when the operator asks: a name that merely
        # looks hashed (a UUID, a date) may be replaced, and a year-long
        # immutable answer would hide the new bytes from every browser.
        # Files s3wsgi publish hashed carry their own Cache-Control.
        by_name = options.immutable_hashed or options.hashed_pattern is not None
        hashed = options.hashed_pattern or HASHED_PATTERN
        self.hashed = re.compile(hashed) if by_name else None
        redirects_file = options.redirects_file
        self.redirects = (
            Redirects(
                options.redirects,
                uncached,
                self.key_prefix + redirects_file.lstrip("/") if redirects_file else None,
                ttl,
            )
            if options.redirects or redirects_file
            else None
        )
        self.redirect_hosts = frozenset(
            host.strip().lower() for host in options.redirect_hosts.split(",") if host.strip()
        )
        self.versions = (
            Versions(
                uncached, self.key_prefix, ttl, options.version_aliases, options.default_version
            )
            if options.versions
            else None
        )
        self.hidden = Hidden(options.hidden, (redirects_file.strip("/"),) if redirects_file else ())
        self.listing_hidden = [p.strip() for p in options.listing_hidden.split(",") if p.strip()]
        # The other mounts of the middleware: a key is answered only under
        # the rules of the mount that owns it (set by S3Middleware).
        self.owners: Callable[[Mount, str], Mount] = _self_owner
        self.bulkhead = Bulkhead(options.s3_request_bound, waiters=options.s3_request_waiters)
        self.attempt_seconds = options.connect_timeout + options.read_timeout

    def match(self, path_info: str) -> str | None:
        """Whether the prefix claims a request: the WSGI path after
        ``prefix + "/"`` (PEP 3333's latin-1 string) if it does, else None."""
        prefix = self.prefix
        if path_info == prefix or path_info.startswith(prefix + "/"):
            return path_info[len(prefix) + 1 :]
        return None

    def respond(self, environ: Environ, rest: str) -> Response | None:
        """The answer to a claimed request, or None when it is not ours
        after all (a missing key with ``fallthrough``): hand it on.

        ``rest`` is what :meth:`match` returned. The answer is a WSGI app;
        the framework adapters turn it into their own responses.
        """
        watched = self.observer.begin(environ)
        answer = None
        try:
            answer = self._respond(environ, rest)
            if answer is not None and self.private:
                responses.make_private(answer, self.options.authorize_vary)
        finally:
            # Also when the answer failed: the thread's next request starts clean.
            self.observer.end(watched, answer)
        return answer

    def _respond(self, environ: Environ, rest: str) -> Response | None:
        extra = self.headers
        if self.authorize is not None:
            try:
                refused = _refusal(self.authorize(environ), extra, self.options.authorize_vary)
            except Exception:
                # The app's own code failed: its fault, not S3's, and no
                # reader is let in by an error (RFC 9110 §15.6.1).
                log.exception("%r: authorize raised; answering 500", environ.get("PATH_INFO"))
                return responses.text_response(HTTPStatus.INTERNAL_SERVER_ERROR, extra)
            if refused is not None:
                return refused
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            if method == "OPTIONS":
                return responses.options_response(extra)
            return responses.method_not_allowed(extra)
        if environ.get("PATH_INFO", "") == self.prefix:
            return responses.redirect(self._location(environ, ""), extra)
        try:
            text = wsgi_to_text(rest)
            # The whole path is checked here, before S3 is asked anything.
            key = key_for(text, key_prefix=self.key_prefix, index_document=self.index_document)
        except BadPath as error:
            log.info("refused %r: %s", environ.get("PATH_INFO"), error)
            return responses.text_response(HTTPStatus.BAD_REQUEST, extra)
        if self.hidden.holds(text):
            # Never asked of S3: a hidden name is answered as a missing one.
            log.info("%r: a hidden name; answering 404", environ.get("PATH_INFO"))
            return (
                None if self.fallthrough else responses.text_response(HTTPStatus.NOT_FOUND, extra)
            )
        budget = Budget(self.options.request_deadline)
        if self._from_memory(key):
            return self._from_s3(environ, rest, text, key, budget)  # from memory: no S3 turn
        # A turn is worth waiting for only while one whole attempt still fits.
        waited = self.bulkhead.enter(max_wait=budget.seconds - self.attempt_seconds)
        if waited is None:
            log.warning("%s: every S3 turn is taken; answering 503", text)
            self.observer.bound_refused()
            return responses.error_response(503, extra, retry_after=BUSY_RETRY_AFTER)
        budget.spend(waited)
        answer = None
        started = time.monotonic()
        try:
            answer = self._from_s3(environ, rest, text, key, budget)
            if answer is None or answer.status < 500:  # S3's pace, not its timeouts
                self.bulkhead.answered(time.monotonic() - started)
        finally:
            if answer is None or _in_memory(answer.body):
                # S3 has nothing left to send: sending it to the client is
                # the server's work, and no S3 trouble can hold the thread.
                self.bulkhead.leave()
            else:
                answer.body = Watched(answer.body, self.bulkhead.sending())
        return answer

    def _from_memory(self, key: str) -> bool:
        """Whether the answer for ``key`` needs no S3 request at all, so no
        turn: the object fresh in the cache, and its manifest known (a
        variant or a stale manifest would ask S3)."""
        if self._routed or not self.chain.fresh(key):
            return False
        variants = self.variants
        return variants is None or (
            variants.fresh(self.key_prefix) and not variants.of(self.key_prefix, key, None)
        )

    @property
    def _routed(self) -> bool:
        """Whether a path's key depends on files in the bucket (redirects,
        versions): then even a cached object's answer may need S3."""
        return self.redirects is not None or self.versions is not None

    def _from_s3(
        self, environ: Environ, rest: str, text: str, key: str, budget: Budget
    ) -> Response | None:
        """No exception of a store's escapes: a fault is a logged 5xx."""
        try:
            return self._route(environ, rest, text, key, budget)
        except OutOfTime:
            log.error("%s: the request's deadline leaves no time for S3; answering 504", text)
            return responses.error_response(HTTPStatus.GATEWAY_TIMEOUT, self.headers)
        except UpstreamError as error:
            return responses.error_response(
                error.status, self.headers, retry_after=error.retry_after
            )
        except Exception:
            log.exception("%s: answering from S3 failed", text)
            return responses.error_response(HTTPStatus.BAD_GATEWAY, self.headers)

    def _route(
        self, environ: Environ, rest: str, text: str, key: str, budget: Budget
    ) -> Response | None:
        """Redirects, then the version, then the key's object. ``key`` is
        the path's key without versions; a version names another."""
        if self.redirects is not None:
            target = self.redirects.target("/" + text, budget)
            if target is not None:
                return self._moved(environ, target)
        site = self.key_prefix
        if self.versions is not None:
            name, slash, text = text.partition("/")
            if not name:
                default = self.versions.default(budget)
                if default is None:
                    return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
                location = self._location(environ, text_to_wsgi(default) + "/")
                return responses.redirect(location, self.headers, HTTPStatus.FOUND)
            if name == VERSIONS_NAME and not slash:
                return self._versions_document(budget)
            version = self.versions.resolve(name, budget)
            if version is None:
                return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
            if not slash:
                return responses.redirect(self._location(environ, rest + "/"), self.headers)
            site = self.key_prefix + version + "/"
            try:  # the version's name is checked as a request path's segments are
                key = key_for(
                    f"{version}/{text}",
                    key_prefix=self.key_prefix,
                    index_document=self.index_document,
                )
            except BadPath as error:
                log.warning("%s: version %.80r cannot name a key: %s", text, version, error)
                return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
        owner = self.owners(self, key)
        if owner is not self:
            # Another mount's key, reached through this one (a version alias,
            # a wider key_prefix): its rules, not these, would apply.
            log.warning("%s: a key of the mount at %s; answering 404", key, owner.prefix)
            return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
        try:
            return self._object(environ, site, key, budget)
        except WebsiteRedirect as redirect:
            return self._website_redirect(environ, key, redirect.location)
        except NotFound:
            return self._missing(environ, rest, text, site, key, budget)

    def _object(self, environ: Environ, site: str, key: str, budget: Budget) -> Response:
        """The object's answer: a presigned redirect for a large one (with
        ``redirect_over_bytes``), else its variant for the request's
        Accept-Encoding, if it has variants, with ``Vary: Accept-Encoding``
        on every answer for it (RFC 9110 §12.5.5), 304s and 206s included."""
        limit = self.options.redirect_over_bytes
        if limit is not None:
            head = self.objects.head(key, budget)
            if head.redirect is not None:
                raise WebsiteRedirect(head.redirect)
            if (head.size or 0) > limit:
                return self._presigned(key)
        encodings = self.variants.of(site, key, budget) if self.variants else ()
        if not encodings:
            if self.variants is not None and self._is_variant(site, key, budget):
                # Sent as it is stored, it would be Brotli or gzip whatever
                # the client accepts: a variant is reached only through its file.
                raise NotFound(key)
            return self.objects.answer(environ, key, budget)
        coding = choose(environ.get("HTTP_ACCEPT_ENCODING"), encodings)
        answer = None
        if coding is not None:
            try:
                variant = key + VARIANT_SUFFIXES[coding]
                answer = self.objects.answer(environ, variant, budget, name=key)
            except NotFound:
                log.warning("%s: its %s variant is missing; sending it as stored", key, coding)
        if answer is None:
            answer = self.objects.answer(environ, key, budget)
        answer.headers.append(("Vary", "Accept-Encoding"))
        return answer

    def _is_variant(self, site: str, key: str, budget: Budget) -> bool:
        """Whether ``key`` is a variant the manifest lists (``KEY.br``)."""
        assert self.variants is not None
        for coding, suffix in VARIANT_SUFFIXES.items():
            if key.endswith(suffix):
                return coding in self.variants.of(site, key[: -len(suffix)], budget)
        return False

    def _presigned(self, key: str) -> Response:
        """302 to a GetObject URL S3 answers by itself: the client's range
        and validators then go to S3 directly."""
        # Signed here, not asked of S3 (nor of the cache): no attempt, no breaker.
        url = self.chain.resilient.presign(key, self.options.presign_expires)
        return responses.redirect(
            url, self.headers, HTTPStatus.FOUND, cache_control="private, no-store"
        )

    def _cache_control(self, key: str) -> str | None:
        """Cache-Control for an object that carries none: immutable for a
        content-hashed name (RFC 8246), else the ``cache_control`` option."""
        hashed = self.hashed
        if hashed is not None and hashed.search(key) and not is_entry_point(key):
            return IMMUTABLE
        return self.options.cache_control

    def _missing(
        self, environ: Environ, rest: str, text: str, site: str, key: str, budget: Budget
    ) -> Response | None:
        """A missing key: a folder's redirect, a listing, a single-page
        app's page, the wrapped app (None), the error document, or 404.
        ``rest`` is the WSGI string of the path, ``text`` the decoded path
        under the site (version included in ``rest``, not in ``text``)."""
        method = environ["REQUEST_METHOD"]
        folder = not text or text.endswith("/")
        folder_index = f"{key}/{self.index_document}"
        if not folder and len(folder_index.encode()) <= MAX_KEY_BYTES:
            try:
                self.objects.head(folder_index, budget)
            except NotFound:
                pass
            except OutOfTime:
                log.info("%s: no time left to look for %s", key, folder_index)
            else:
                return responses.redirect(self._location(environ, rest + "/"), self.headers)
        if folder and self.options.listing:
            listed = self._listing(environ, site + text, text, budget)
            if listed is not None:
                return listed
        spa = self.options.spa_fallback
        if spa:
            navigation = is_navigation(environ)
            if navigation:
                try:
                    page = self.objects.answer(environ, site + spa.lstrip("/"), budget)
                except NotFound:
                    log.warning("spa_fallback %r is missing", site + spa.lstrip("/"))
                else:
                    page.headers.append(("Vary", "Sec-Fetch-Mode, Accept"))
                    return page
        if self.fallthrough:
            return None
        answer = None
        if self.error_document:
            error_key = site + self.error_document
            try:
                answer = self.objects.error_document(error_key, method, budget)
            except NotFound:
                log.warning("error_document %r is missing", error_key)
            except OutOfTime:
                log.info("%s: no time left to read the error document", key)
        if answer is None:
            answer = responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
        if spa:  # a navigation would have had the app's page
            answer.headers.append(("Vary", "Sec-Fetch-Mode, Accept"))
        return answer

    def _listing(self, environ: Environ, folder: str, text: str, budget: Budget) -> Response | None:
        """The folder's listing; None where S3 lists nothing there (no such
        folder) or will not list (no s3:ListBucket: a 404, not a 502)."""
        try:
            # The page after a name, which goes to S3 as a key: the same
            # rules as a request path's.
            after_name = query_value(environ.get("QUERY_STRING", ""), "after")
            after = folder + after_name if after_name else None
            if after is not None and len(after.encode()) > MAX_KEY_BYTES:
                raise BadPath("after is longer than an S3 key may be")
        except BadPath as error:
            log.info("refused the listing of %r: %s", environ.get("PATH_INFO"), error)
            return responses.text_response(HTTPStatus.BAD_REQUEST, self.headers)
        # Listings are never kept: read past the cache.
        store = self.chain.resilient
        limit = self.options.listing_page_size
        try:
            listing = store.list(folder, after=after, limit=limit, budget=budget)
            if not listing.folders and not listing.objects and after is not None and text:
                # An empty page: past the folder's end, or no such folder.
                first = store.list(folder, after=None, limit=1, budget=budget)
                if not first.folders and not first.objects:
                    return None
        except NotFound:
            log.info("%s: S3 would not list it (no s3:ListBucket?)", folder)
            return None
        if not listing.folders and not listing.objects and after is None and text:
            return None
        shown = wsgi_to_text(environ.get("SCRIPT_NAME", "")) + self.prefix + "/"
        shown += self._version_path(environ) + text
        return render_listing(environ, listing, folder, shown, self._listed, self.headers, after)

    def _listed(self, name: str) -> bool:
        """Whether a listing shows an entry of this name."""
        return not self.hidden.name(name) and not any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self.listing_hidden
        )

    def _version_path(self, environ: Environ) -> str:
        """The version segment of the request's path, with its slash."""
        if self.versions is None:
            return ""
        rest = wsgi_to_text(environ.get("PATH_INFO", "")[len(self.prefix) + 1 :])
        return rest.partition("/")[0] + "/"

    def _versions_document(self, budget: Budget) -> Response:
        """The versions, aliases and default as JSON, for a version switcher."""
        assert self.versions is not None
        body = json.dumps(self.versions.document(budget), ensure_ascii=False).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            *responses.STANDARD_HEADERS,
            *self.headers,
        ]
        return Response(HTTPStatus.OK, headers, [body])

    def _moved(self, environ: Environ, moved: Moved, root: str = "") -> Response:
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
                return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
            if isinstance(place, Remote):
                return responses.redirect(place.url, self.headers)
            target = place.path
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", moved.target):
            return responses.redirect(moved.target, self.headers)
        else:
            target = moved.target.lstrip("/")
        return responses.redirect(self._location(environ, text_to_wsgi(target)), self.headers)

    def _website_redirect(self, environ: Environ, key: str, location: str) -> Response:
        """301 as S3 website hosting answers an object with a redirect: a path
        is the bucket's (mapped into this mount, so under key_prefix), an
        absolute URL only to a host in ``redirect_hosts``."""
        return self._moved(environ, Moved(location, key), root=self.key_prefix)

    def _location(self, environ: Environ, rest: str) -> str:
        """This host's URL of ``rest`` (a WSGI string) under the prefix,
        SCRIPT_NAME included."""
        path = f"{environ.get('SCRIPT_NAME', '')}{self.prefix}/{rest}"
        return redirect_location(path, environ.get("QUERY_STRING", ""))


# A path on this site: one slash (two would name another host, RFC 3986
# §4.2; a backslash is read as a slash by browsers), then visible ASCII only,
# so never a CR or LF that would split the header.
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")


def _refusal(verdict: object, extra: list[tuple[str, str]], vary: str) -> Response | None:
    """What ``authorize``'s verdict answers: None lets the reader in; False
    is 403, a path on this site a 302 to it (the login page, say), and a
    :class:`~s3wsgi.http.responses.Response` is the app's own answer.

    A refusal depends on who asked: private and never stored (RFC 9111
    §5.2.2.3, §5.2.2.7), whatever ``cache_scope`` says, with a Vary on what
    the hook reads."""
    if isinstance(verdict, Response):
        answer = verdict
    elif isinstance(verdict, str):
        if not _SAME_SITE_PATH.fullmatch(verdict):
            raise ValueError(f"authorize returned {verdict!r}: not a path on this site")
        answer = responses.redirect(verdict, extra, HTTPStatus.FOUND)
    elif verdict:
        return None
    else:
        answer = responses.text_response(HTTPStatus.FORBIDDEN, extra)
    answer.headers.append(("Cache-Control", "no-store"))
    responses.make_private(answer, vary)
    return answer


def _with_environ(keywords: dict[str, Any]) -> dict[str, Any]:
    """The keywords, over the options ``S3WSGI_*`` variables set (as
    ``s3wsgi serve`` and the examples read them): a keyword wins."""
    given = set(keywords)
    if not isinstance(keywords.get("store", "auto"), str):
        given.update(STORE_MAKING)  # a ready store knows how to reach S3
    taken = environ_options(os.environ, given=given)
    if taken:
        names = ", ".join(environ_name(name) for name in sorted(taken))
        log.info("options from the environment: %s", names)
    return {**taken, **keywords}


def _self_owner(mount: Mount, key: str) -> Mount:
    """A mount alone owns every key it maps to."""
    return mount


def _in_memory(body: Iterable[bytes]) -> bool:
    """Whether a body is all in memory (a list of bytes, a cached object, a
    small object read whole), so S3 plays no further part in it."""
    return isinstance(body, (list, tuple)) or getattr(body, "in_memory", False)


def store_for(options: Options, events: StoreEvents = NO_EVENTS) -> StoreChain:
    """The chain of stores a mount with these options reads through."""
    return make_store(
        options.bucket,
        options.connection,
        options.policy,
        store=options.store,
        client=options.client,
        cache_max_bytes=options.cache_max_bytes,
        cache_ttl=options.cache_ttl,
        cache_max_object_bytes=options.cache_max_object_bytes,
        events=events,
    )


class S3Middleware:
    """Serve the objects of an S3 bucket under a path prefix of a WSGI app.

    Requests under ``prefix`` are answered from S3 by streaming the object;
    every other request reaches ``app`` untouched (the same environ, nothing
    read from its input, no header added).

    :param app: the WSGI application to wrap.
    :param options: an :class:`~s3wsgi.options.Options`, or none and the
        options as keywords (``bucket``, ``prefix``, ...).
    :param mounts: several sites in one middleware: ``prefix -> options``
        (a dict of keywords, or an Options), each over the keywords given
        here. Mounts of one bucket share one store and its connections, and
        all share the bound on S3 requests (the server's threads are one
        pool). The longest matching prefix answers.

    Usage::

        app.wsgi_app = S3Middleware(app.wsgi_app, bucket="my-docs", prefix="/docs")

        app.wsgi_app = S3Middleware(
            app.wsgi_app,
            mounts={"/docs": {"bucket": "my-docs"}, "/downloads": {"bucket": "my-files"}},
            server_threads=8,
        )
    """

    def __init__(
        self,
        app: WSGIApp,
        options: Options | None = None,
        *,
        mounts: Mapping[str, Mapping[str, Any] | Options] | None = None,
        **keywords: Any,
    ):
        self.app = app
        if mounts is None:
            self.mounts: list[Mount] = [Mount(options, **keywords)]
            return
        if options is not None:
            raise TypeError("give mounts with shared keywords, not an Options")
        if not mounts:
            raise ValueError("mounts: at least one prefix")
        made: list[Mount] = []
        stores: dict[tuple[object, ...], StoreChain] = {}
        bulkhead = None
        for prefix, given in mounts.items():
            if isinstance(given, Options):
                mount_options = dataclasses.replace(given, prefix=prefix)
            else:
                mount_options = Options(**_with_environ({**keywords, **given, "prefix": prefix}))
            spec = _store_spec(mount_options)
            shared = stores.get(spec) if spec is not None else None
            mount = Mount(mount_options, chain=shared)
            if spec is not None:
                stores.setdefault(spec, mount.chain)
            if bulkhead is None:
                bulkhead = mount.bulkhead
            elif mount.options.s3_request_bound != bulkhead.limit:
                # The server's threads are one pool: one bound for them all.
                raise ValueError(
                    f"mounts: {prefix} asks for another bound on S3 requests"
                    f" ({mount.options.s3_request_bound}) than {made[0].prefix}"
                    f" ({bulkhead.limit}): give max_s3_requests and server_threads"
                    " once, beside mounts"
                )
            mount.bulkhead = bulkhead
            made.append(mount)
        prefixes = [mount.prefix for mount in made]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError(f"mounts: a prefix is given twice: {prefixes}")
        self.mounts = sorted(made, key=lambda mount: len(mount.prefix), reverse=True)
        for mount in made:
            mount.owners = self._owner

    @property
    def mount(self) -> Mount:
        """The one mount of a middleware made without ``mounts``; with
        several, read them in :attr:`mounts`."""
        if len(self.mounts) != 1:
            raise AttributeError("mount")  # said by __getattr__, with the prefixes
        return self.mounts[0]

    # The one mount's, for a middleware of one (the common case).

    @property
    def options(self) -> Options:
        return self.mount.options

    @property
    def prefix(self) -> str:
        return self.mount.prefix

    @property
    def key_prefix(self) -> str:
        return self.mount.key_prefix

    @property
    def headers(self) -> list[tuple[str, str]]:
        return self.mount.headers

    @property
    def chain(self) -> StoreChain:
        return self.mount.chain

    @property
    def store(self) -> Store:
        return self.mount.store

    @property
    def bulkhead(self) -> Bulkhead:
        return self.mount.bulkhead

    @property
    def observer(self) -> Observer:
        return self.mount.observer

    def __getattr__(self, name: str) -> Any:
        # Any other attribute of the one mount (fallthrough, versions, ...);
        # also where a property above found several.
        mounts: list[Mount] | None = self.__dict__.get("mounts")
        if name.startswith("__") or mounts is None:
            raise AttributeError(name)
        if len(mounts) != 1:
            prefixes = ", ".join(mount.prefix or "/" for mount in mounts)
            raise AttributeError(
                f"{name}: this middleware has several mounts ({prefixes}): see .mounts"
            )
        return getattr(mounts[0], name)

    def match(self, path_info: str) -> str | None:
        return self.mount.match(path_info)

    def respond(self, environ: Environ, rest: str) -> Response | None:
        return self.mount.respond(environ, rest)

    def _owner(self, mount: Mount, key: str) -> Mount:
        """The mount whose rules a key of ``mount``'s bucket is read under:
        of the mounts on that bucket, the one with the longest key_prefix
        holding the key, unless it guards its keys as ``mount`` does."""
        owner = mount
        bucket = mount.options.bucket
        for other in self.mounts:
            same = other.store is mount.store or (bucket and other.options.bucket == bucket)
            longer = len(other.key_prefix) > len(owner.key_prefix)
            if same and longer and key.startswith(other.key_prefix):
                owner = other
        if owner.authorize is mount.authorize and owner.private == mount.private:
            return mount
        return owner

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path_info = environ.get("PATH_INFO", "")
        for mount in self.mounts:
            rest = mount.match(path_info)
            if rest is not None:
                answer = mount.respond(environ, rest)
                if answer is None:
                    break
                return answer(environ, start_response)
        return self.app(environ, start_response)


def _store_spec(options: Options) -> tuple[object, ...] | None:
    """What makes two mounts' stores the same one, or None for a ready store."""
    if not isinstance(options.store, str):
        return None
    return (
        options.bucket,
        options.connection,
        options.policy,
        options.store,
        id(options.client),
        options.cache_max_bytes,
        options.cache_ttl,
        options.cache_max_object_bytes,
    )


class S3App(S3Middleware):
    """A complete WSGI app serving a bucket: at ``/`` by default, 404 elsewhere.

    Usage::

        application = S3App(bucket="my-docs")
    """

    def __init__(self, options: Options | None = None, **keywords: Any):
        if options is None:
            keywords.setdefault("prefix", "/")
        super().__init__(not_found_app, options, **keywords)
