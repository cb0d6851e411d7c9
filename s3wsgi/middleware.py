"""The WSGI middleware: claim a path prefix, answer it from S3, pass the rest on."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus

from .bulkhead import Bulkhead
from .http import responses
from .http.bodies import Watched
from .http.encodings import choose
from .http.paths import MAX_KEY_BYTES, BadPath, key_for, redirect_location, wsgi_to_text
from .http.responses import Response
from .objects import ObjectAnswers
from .observe.observer import watch
from .options import Options
from .site import HASHED_PATTERN, IMMUTABLE, VARIANT_SUFFIXES, is_entry_point
from .stores.base import Budget, NotFound, OutOfTime, UpstreamError
from .stores.cache import CachingStore
from .stores.factory import make_store
from .variants import Variants

log = logging.getLogger("s3wsgi")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

# Seconds a client should wait when the bound on S3 requests is full.
BUSY_RETRY_AFTER = 1


def not_found_app(environ, start_response):
    """The app behind :class:`S3App`: everything outside the prefix is 404."""
    return responses.text_response(HTTPStatus.NOT_FOUND, [])(environ, start_response)


class Mount:
    """One path prefix served from one bucket: which requests it claims
    (:meth:`match`) and their answers (:meth:`respond`), for the WSGI
    middleware below and the framework adapters alike.

    :param options: an :class:`~s3wsgi.options.Options`, or none and the
        options as keywords (``bucket``, ``prefix``, ...): the docs' options
        table lists them all.
    """

    def __init__(self, options: Options | None = None, **keywords):
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
        self.store = make_store(
            options.bucket,
            options.connection,
            options.policy,
            store=options.store,
            client=options.client,
            cache_max_bytes=options.cache_max_bytes,
            cache_ttl=options.cache_ttl,
            cache_max_object_bytes=options.cache_max_object_bytes,
        )
        self.objects = ObjectAnswers(
            self.store, cache_control=self._cache_control, extra=self.headers
        )
        # The manifest is read past the object cache, or a publish would be
        # seen only after cache_ttl.
        uncached = self.store.inner if isinstance(self.store, CachingStore) else self.store
        self.variants = Variants(uncached, options.site_files_ttl) if options.variants else None
        hashed = options.hashed_pattern or HASHED_PATTERN
        self.hashed = re.compile(hashed) if options.immutable_hashed else None
        self.bulkhead = Bulkhead(options.s3_request_bound)
        self.attempt_seconds = options.connect_timeout + options.read_timeout
        self.observer = watch(self)  # logs S3's faults; metrics and Server-Timing if asked

    def match(self, path_info: str) -> str | None:
        """Whether the prefix claims a request: the WSGI path after
        ``prefix + "/"`` (PEP 3333's latin-1 string) if it does, else None."""
        prefix = self.prefix
        if path_info == prefix or path_info.startswith(prefix + "/"):
            return path_info[len(prefix) + 1 :]
        return None

    def respond(self, environ: dict, rest: str) -> Response | None:
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

    def _respond(self, environ: dict, rest: str) -> Response | None:
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
            key = key_for(
                wsgi_to_text(rest), key_prefix=self.key_prefix, index_document=self.index_document
            )
        except BadPath as error:
            log.info("refused %r: %s", environ.get("PATH_INFO"), error)
            return responses.text_response(HTTPStatus.BAD_REQUEST, extra)
        budget = Budget(self.options.request_deadline)
        fresh = getattr(self.store, "fresh", None)
        if fresh is not None and fresh(key):
            return self._from_s3(environ, rest, key, budget)  # from memory: no S3 turn
        # A turn is worth waiting for only while one whole attempt still fits.
        waited = self.bulkhead.enter(max_wait=budget.seconds - self.attempt_seconds)
        if waited is None:
            log.warning("%s: every S3 turn is taken; answering 503", key)
            self.observer.bound_refused()
            return responses.error_response(503, extra, retry_after=BUSY_RETRY_AFTER)
        budget.spend(waited)
        answer = None
        try:
            answer = self._from_s3(environ, rest, key, budget)
            self.bulkhead.moved()  # S3 answered: the bound is not stuck
        finally:
            if answer is None or not answer.body:
                self.bulkhead.leave()
            else:
                answer.body = Watched(answer.body, self.bulkhead.moved, self.bulkhead.leave)
        return answer

    def _from_s3(self, environ: dict, rest: str, key: str, budget: Budget) -> Response | None:
        """No exception of a store's escapes: a fault is a logged 5xx."""
        try:
            try:
                return self._object(environ, key, budget)
            except NotFound:
                return self._missing(environ, rest, key, budget)
        except OutOfTime:
            log.error("%s: the request's deadline leaves no time for S3; answering 504", key)
            return responses.error_response(HTTPStatus.GATEWAY_TIMEOUT, self.headers)
        except UpstreamError as error:
            return responses.error_response(
                error.status, self.headers, retry_after=error.retry_after
            )
        except Exception:
            log.exception("%s: answering from S3 failed", key)
            return responses.error_response(HTTPStatus.BAD_GATEWAY, self.headers)

    def _object(self, environ: dict, key: str, budget: Budget) -> Response:
        """The object's answer: its variant for the request's Accept-Encoding,
        if it has variants, with ``Vary: Accept-Encoding`` on every answer
        for it (RFC 9110 §12.5.5), 304s and 206s included."""
        encodings = self.variants.of(self.key_prefix, key, budget) if self.variants else ()
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

    def _cache_control(self, key: str) -> str | None:
        """Cache-Control for an object that carries none: immutable for a
        content-hashed name (RFC 8246), else the ``cache_control`` option."""
        hashed = self.hashed
        if hashed is not None:
            name = key[len(self.key_prefix) :]
            if hashed.search(name) and not is_entry_point(name):
                return IMMUTABLE
        return self.options.cache_control

    def _missing(self, environ: dict, rest: str, key: str, budget: Budget) -> Response | None:
        """A missing key: a folder's redirect, the wrapped app (None), the
        error document, or 404. ``rest`` is the WSGI string of the path."""
        folder_index = f"{key}/{self.index_document}"
        if rest and not rest.endswith("/") and len(folder_index.encode()) <= MAX_KEY_BYTES:
            try:
                self.objects.head(folder_index, budget)
            except NotFound:
                pass
            except OutOfTime:
                log.info("%s: no time left to look for %s", key, folder_index)
            else:
                return responses.redirect(self._location(environ, rest + "/"), self.headers)
        if self.fallthrough:
            return None
        if self.error_document:
            error_key = self.key_prefix + self.error_document
            try:
                return self.objects.error_document(error_key, environ["REQUEST_METHOD"], budget)
            except NotFound:
                log.warning("error_document %r is missing", error_key)
            except OutOfTime:
                log.info("%s: no time left to read the error document", key)
        return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)

    def _location(self, environ: dict, rest: str) -> str:
        """This host's URL of ``rest`` (a WSGI string) under the prefix,
        SCRIPT_NAME included."""
        path = f"{environ.get('SCRIPT_NAME', '')}{self.prefix}/{rest}"
        return redirect_location(path, environ.get("QUERY_STRING", ""))


class S3Middleware(Mount):
    """Serve the objects of an S3 bucket under a path prefix of a WSGI app.

    Requests under ``prefix`` are answered from S3 by streaming the object;
    every other request reaches ``app`` untouched (the same environ, nothing
    read from its input, no header added).

    :param app: the WSGI application to wrap.
    :param options: an :class:`~s3wsgi.options.Options`, or none and the
        options as keywords (``bucket``, ``prefix``, ...).

    Usage::

        app.wsgi_app = S3Middleware(app.wsgi_app, bucket="my-docs", prefix="/docs")
    """

    def __init__(self, app: WSGIApp, options: Options | None = None, **keywords):
        super().__init__(options, **keywords)
        self.app = app

    def __call__(self, environ, start_response):
        rest = self.match(environ.get("PATH_INFO", ""))
        if rest is None:
            return self.app(environ, start_response)
        answer = self.respond(environ, rest)
        if answer is None:
            return self.app(environ, start_response)
        return answer(environ, start_response)


class S3App(S3Middleware):
    """A complete WSGI app serving a bucket: at ``/`` by default, 404 elsewhere.

    Usage::

        application = S3App(bucket="my-docs")
    """

    def __init__(self, options: Options | None = None, **keywords):
        if options is None:
            keywords.setdefault("prefix", "/")
        super().__init__(not_found_app, options, **keywords)
