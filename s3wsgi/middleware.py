"""The WSGI middleware: claim a path prefix, answer it from S3, pass the rest on."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote

from .bulkhead import Bulkhead
from .hosted import Redirects, Versions, WebsiteRedirect, is_navigation, website_location
from .http import responses
from .http.bodies import Watched
from .http.encodings import choose
from .http.paths import (
    MAX_KEY_BYTES,
    BadPath,
    key_for,
    redirect_location,
    text_to_wsgi,
    wsgi_to_text,
)
from .http.responses import Response
from .listing import render as render_listing
from .objects import ObjectAnswers
from .observe.observer import watch
from .options import Options
from .site import HASHED_PATTERN, IMMUTABLE, VARIANT_SUFFIXES, VERSIONS_NAME, is_entry_point
from .stores.base import Budget, NotFound, OutOfTime, Store, UpstreamError
from .stores.cache import CachingStore
from .stores.factory import make_store
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
    :param reader: a store to read through instead of one made from the
        options (mounts of one middleware share theirs).
    """

    def __init__(
        self, options: Options | None = None, *, reader: Store | None = None, **keywords: Any
    ):
        if options is None:
            options = Options(**keywords)
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
        self.store = reader if reader is not None else store_for(options)
        self.objects = ObjectAnswers(
            self.store, cache_control=self._cache_control, extra=self.headers
        )
        # Site files are read past the object cache, or a publish would be
        # seen only after cache_ttl.
        uncached = self.store.inner if isinstance(self.store, CachingStore) else self.store
        ttl = options.site_files_ttl
        self.variants = Variants(uncached, ttl) if options.variants else None
        hashed = options.hashed_pattern or HASHED_PATTERN
        self.hashed = re.compile(hashed) if options.immutable_hashed else None
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
        self.listing_hidden = [p.strip() for p in options.listing_hidden.split(",") if p.strip()]
        self.bulkhead = Bulkhead(options.s3_request_bound, waiters=options.s3_request_waiters)
        self.attempt_seconds = options.connect_timeout + options.read_timeout
        self.observer = watch(self)  # logs S3's faults; metrics and Server-Timing if asked

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
        answer = self._respond(environ, rest)
        if answer is not None and self.private:
            responses.make_private(answer, self.options.authorize_vary)
        self.observer.end(watched, answer)
        return answer

    def _respond(self, environ: Environ, rest: str) -> Response | None:
        extra = self.headers
        if self.authorize is not None and not self.authorize(environ):
            return responses.text_response(HTTPStatus.FORBIDDEN, extra)
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
        budget = Budget(self.options.request_deadline)
        fresh = getattr(self.store, "fresh", None)
        if fresh is not None and not self._routed and fresh(key):
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
                location = self._location(environ, quote(default) + "/")
                return responses.redirect(location, self.headers, HTTPStatus.FOUND)
            if name == VERSIONS_NAME and not slash:
                return self._versions_document(budget)
            version = self.versions.resolve(name, budget)
            if version is None:
                return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
            if not slash:
                return responses.redirect(self._location(environ, rest + "/"), self.headers)
            site = self.key_prefix + version + "/"
            key = key_for(text, key_prefix=site, index_document=self.index_document)
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

    def _presigned(self, key: str) -> Response:
        """302 to a GetObject URL S3 answers by itself: the client's range
        and validators then go to S3 directly."""
        url = self.store.presign(key, self.options.presign_expires)  # type: ignore[attr-defined]
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
                page = self.objects.answer(environ, site + spa.lstrip("/"), budget)
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
        after_values = [
            unquote(part[len("after=") :])
            for part in environ.get("QUERY_STRING", "").split("&")
            if part.startswith("after=")
        ]
        after = folder + after_values[0] if after_values and after_values[0] else None
        store: Any = self.store
        try:
            listing = store.list(
                folder, after=after, limit=self.options.listing_page_size, budget=budget
            )
        except NotFound:
            log.info("%s: S3 would not list it (no s3:ListBucket?)", folder)
            return None
        if not listing.folders and not listing.objects and after is None and text:
            return None
        shown = wsgi_to_text(environ.get("SCRIPT_NAME", "")) + self.prefix + "/"
        shown += self._version_path(environ) + text
        return render_listing(
            environ, listing, folder, shown, self.listing_hidden, self.headers, after
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

    def _moved(self, environ: Environ, target: str) -> Response:
        """301 to a configured redirect's target: a path under the prefix,
        or an absolute URL (configured by the operator, so trusted)."""
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target):
            return responses.redirect(target, self.headers)
        location = self._location(environ, text_to_wsgi(target.lstrip("/")))
        return responses.redirect(location, self.headers)

    def _website_redirect(self, environ: Environ, key: str, location: str) -> Response:
        """301 as S3 website hosting answers an object with a redirect: a path
        is the bucket's (mapped into this mount), an absolute URL only to an
        allowed host; anything else is refused (404), never an open redirect."""
        allowed = website_location(location, self.redirect_hosts)
        if allowed is None:
            log.warning("%s: website redirect to %r refused (see redirect_hosts)", key, location)
            return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
        target, absolute = allowed
        if absolute:
            return responses.redirect(target, self.headers)
        path = target.lstrip("/")
        if not path.startswith(self.key_prefix):
            log.warning("%s: website redirect to %r is outside key_prefix", key, location)
            return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)
        path = path[len(self.key_prefix) :]
        return responses.redirect(self._location(environ, text_to_wsgi(path)), self.headers)

    def _location(self, environ: Environ, rest: str) -> str:
        """This host's URL of ``rest`` (a WSGI string) under the prefix,
        SCRIPT_NAME included."""
        path = f"{environ.get('SCRIPT_NAME', '')}{self.prefix}/{rest}"
        return redirect_location(path, environ.get("QUERY_STRING", ""))


def _in_memory(body: Iterable[bytes]) -> bool:
    """Whether a body is all in memory (a list of bytes, a cached object, a
    small object read whole), so S3 plays no further part in it."""
    return isinstance(body, (list, tuple)) or getattr(body, "in_memory", False)


def store_for(options: Options) -> Store:
    """The store a mount with these options reads through."""
    return make_store(
        options.bucket,
        options.connection,
        options.policy,
        store=options.store,
        client=options.client,
        cache_max_bytes=options.cache_max_bytes,
        cache_ttl=options.cache_ttl,
        cache_max_object_bytes=options.cache_max_object_bytes,
    )


class S3Middleware(Mount):
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
            super().__init__(options, **keywords)
            self.mounts: list[Mount] = [self]
            return
        if options is not None:
            raise TypeError("give mounts with shared keywords, not an Options")
        if not mounts:
            raise ValueError("mounts: at least one prefix")
        made: list[Mount] = []
        stores: dict[tuple[object, ...], Store] = {}
        bulkhead = None
        for prefix, given in mounts.items():
            if isinstance(given, Options):
                mount_options = dataclasses.replace(given, prefix=prefix)
            else:
                mount_options = Options(**{**keywords, **given, "prefix": prefix})
            spec = _store_spec(mount_options)
            reader = stores.get(spec) if spec is not None else None
            mount = Mount(mount_options, reader=reader)
            if spec is not None:
                stores.setdefault(spec, mount.store)
            if bulkhead is None:
                bulkhead = mount.bulkhead
            mount.bulkhead = bulkhead
            made.append(mount)
        prefixes = [mount.prefix for mount in made]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError(f"mounts: a prefix is given twice: {prefixes}")
        self.mounts = sorted(made, key=lambda mount: len(mount.prefix), reverse=True)

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
