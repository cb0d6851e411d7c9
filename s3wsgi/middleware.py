"""The WSGI middleware: claim a path prefix, answer it from S3, pass the rest on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus

from .http import conditions as cond
from .http import responses
from .http.paths import MAX_KEY_BYTES, BadPath, key_for, redirect_location, wsgi_to_text
from .http.responses import Response
from .stores.base import (
    NotFound,
    NotModified,
    PreconditionFailed,
    RangeNotSatisfiable,
    S3Object,
    Store,
    UpstreamError,
)

log = logging.getLogger("s3wsgi")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def not_found_app(environ, start_response):
    """The app behind :class:`S3App`: everything outside the prefix is 404."""
    body = b"404 Not Found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


class S3Middleware:
    """Serve the objects of an S3 bucket under a path prefix of a WSGI app.

    Requests under ``prefix`` are answered from S3 by streaming the object;
    every other request reaches ``app`` untouched.

    :param app: the WSGI application to wrap.
    :param bucket: the bucket to serve.
    :param prefix: the URL path claimed, e.g. ``/docs``.
    :param key_prefix: the folder inside the bucket that ``prefix`` maps to.
    :param index_document: the key served for a folder path (``.../``).
    :param error_document: a key served with status 404 for a missing key.
    :param fallthrough: on a missing key, hand the request to ``app``.
    :param client: a ready boto3 S3 client (else one is made lazily).
    :param endpoint_url: an S3-compatible endpoint (MinIO, Ceph, R2, ...).
    :param region_name: the bucket's region.
    :param cache_control: Cache-Control for objects that carry none.
    :param headers: extra response headers, e.g. a Content-Security-Policy.
    :param authorize: ``callable(environ) -> bool``; False answers 403 before
        S3 is called.
    :param connect_timeout, read_timeout, max_attempts, max_pool_connections,
        addressing_style, chunk_size: how S3 is reached and read.
    :param store: ``"boto3"`` (the default: every boto3 configuration and
        credential source works), ``"obstore"`` (the fast store, needs
        ``s3wsgi[fast]``; ``client`` does not apply), or a ready object with
        the :class:`s3wsgi.store.Store` methods.
    :param cache_max_bytes: bytes of objects kept in memory per process;
        0 (the default) turns the cache off. See :mod:`s3wsgi.cache`.
    :param cache_ttl: seconds a cached object is served without asking S3
        (60); after that one conditional GET revalidates it. An object
        changed in S3 is therefore served stale for at most ``cache_ttl``
        seconds; 0 revalidates on every request.
    :param cache_max_object_bytes: larger objects are never cached, only
        streamed (1 MiB).

    Usage::

        app.wsgi_app = S3Middleware(app.wsgi_app, bucket="my-docs", prefix="/docs")
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        bucket: str,
        prefix: str = "/docs",
        key_prefix: str = "",
        index_document: str = "index.html",
        error_document: str | None = None,
        fallthrough: bool = False,
        client=None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        cache_control: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        authorize: Callable[[dict], bool] | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        max_attempts: int = 3,
        max_pool_connections: int = 32,
        addressing_style: str | None = None,
        chunk_size: int = 256 * 1024,
        store: str | Store = "boto3",
        cache_max_bytes: int = 0,
        cache_ttl: float = 60.0,
        cache_max_object_bytes: int = 1024 * 1024,
    ):
        if not bucket or not isinstance(bucket, str):
            raise ValueError("bucket: a bucket name is required")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"prefix must start with '/': {prefix!r}")
        if not index_document or "/" in index_document:
            raise ValueError(f"index_document must be a file name: {index_document!r}")
        if chunk_size < 64 * 1024:
            raise ValueError("chunk_size must be at least 64 KiB")
        if authorize is not None and not callable(authorize):
            raise ValueError("authorize must be callable(environ) -> bool")
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.key_prefix = key_prefix.strip("/") + "/" if key_prefix.strip("/") else ""
        self.index_document = index_document
        self.error_document = error_document.lstrip("/") if error_document else None
        self.fallthrough = fallthrough
        self.cache_control = cache_control
        self.headers = _header_list(headers)
        self.authorize = authorize
        connection = {
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_attempts": max_attempts,
            "max_pool_connections": max_pool_connections,
            "addressing_style": addressing_style,
            "chunk_size": chunk_size,
        }
        if store == "boto3":
            # Imported here: boto3 costs a fast store's process 13 MiB for nothing.
            from .stores.boto3_store import BotoStore

            store = BotoStore(bucket, client=client, **connection)
        elif store == "obstore":
            if client is not None:
                raise ValueError("client: a boto3 client needs store='boto3'")
            from .stores.obstore_store import ObstoreStore  # optional: s3wsgi[fast]

            store = ObstoreStore(bucket, **connection)
        elif isinstance(store, str) or not callable(getattr(store, "get", None)):
            raise ValueError(f"store must be 'boto3', 'obstore' or a Store: {store!r}")
        if cache_max_bytes:
            from .stores.cache import CachingStore

            store = CachingStore(
                store,
                max_bytes=cache_max_bytes,
                ttl=cache_ttl,
                max_object_bytes=cache_max_object_bytes,
            )
        self.store = store

    def __call__(self, environ, start_response):
        rest = self.match(environ.get("PATH_INFO", ""))
        if rest is None:
            return self.app(environ, start_response)
        return self.serve(environ, start_response, rest)

    def match(self, path_info: str) -> str | None:
        """The WSGI path after ``prefix + "/"`` if the prefix claims it, else None."""
        prefix = self.prefix
        if path_info == prefix or path_info.startswith(prefix + "/"):
            return path_info[len(prefix) + 1 :]
        return None

    def serve(self, environ, start_response, rest: str):
        """Answer a claimed request; ``rest`` is the WSGI path after ``prefix + "/"``."""
        return self.respond(environ, rest)(environ, start_response)

    def respond(self, environ, rest: str) -> Response | WSGIApp:
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
        try:
            try:
                return self._object(environ, key, method)
            except NotFound:
                return self._missing(environ, rest, key, method)
        except UpstreamError as error:
            return responses.error_response(error.status, extra)

    def _object(self, environ, key: str, method: str) -> Response:
        conditions = cond.parse_conditions(environ, with_range=method == "GET")
        plan = None if method == "HEAD" else cond.plan_get(conditions)
        if plan is None:
            return self._decide_locally(key, method, conditions)
        store = self.store
        try:
            try:
                obj = store.get(key, **plan.params)
            except PreconditionFailed:
                if not plan.if_range_guard:
                    raise
                # If-Range no longer matches: the whole object, no range.
                params = dict(plan.params)
                del params["Range"], params["IfMatch"]
                obj = store.get(key, **params)
        except PreconditionFailed:
            return responses.text_response(HTTPStatus.PRECONDITION_FAILED, self.headers)
        except NotModified as answer:
            tags = conditions.if_none_match
            # S3 said 304 to exactly one If-None-Match tag: that is the ETag.
            sent = tags[0].tag if isinstance(tags, list) else None
            return responses.not_modified(
                answer.headers, etag=sent, cache_control=self.cache_control, extra=self.headers
            )
        except RangeNotSatisfiable as answer:
            size = answer.size if answer.size is not None else store.head(key).size
            return responses.range_not_satisfiable(size, self.headers)
        return self._object_response(obj, key)

    def _decide_locally(self, key: str, method: str, conditions: cond.Conditions) -> Response:
        """HeadObject, then RFC 9110 §13.2.2 here; GET fetches only what is sent."""
        store = self.store
        head = store.head(key)
        etag, last_modified = head.etag, head.last_modified
        decision = cond.evaluate(conditions, etag, last_modified)
        if decision == 412:
            return responses.text_response(HTTPStatus.PRECONDITION_FAILED, self.headers)
        if decision == 304:
            return responses.not_modified(
                head.headers, etag=etag, cache_control=self.cache_control, extra=self.headers
            )
        if method == "HEAD":
            return self._object_response(head, key)
        if not cond.range_applies(conditions, etag, last_modified):
            return self._object_response(store.get(key), key)
        if cond.byte_span(conditions.range, head.size) is None:
            return responses.range_not_satisfiable(head.size, self.headers)
        try:
            # IfMatch: the part must come from the object just evaluated.
            obj = store.get(key, Range=cond.range_header(conditions.range), IfMatch=etag)
        except PreconditionFailed:
            obj = store.get(key)  # changed meanwhile: the whole object is always right
        return self._object_response(obj, key)

    def _object_response(self, obj: S3Object, key: str) -> Response:
        headers = responses.object_headers(
            obj.headers, key, cache_control=self.cache_control, extra=self.headers
        )
        return Response(HTTPStatus(obj.status), headers, obj.body or ())

    def _missing(self, environ, rest: str, key: str, method: str) -> Response | WSGIApp:
        """A missing key: a folder's redirect, the wrapped app, the error
        document, or 404. ``rest`` is the WSGI string of the path."""
        folder_index = f"{key}/{self.index_document}"
        if rest and not rest.endswith("/") and len(folder_index.encode()) <= MAX_KEY_BYTES:
            try:
                self.store.head(folder_index)
            except NotFound:
                pass
            else:
                return responses.redirect(self._location(environ, rest + "/"), self.headers)
        if self.fallthrough:
            return self.app
        if self.error_document:
            error_key = self.key_prefix + self.error_document
            try:
                obj = self.store.head(error_key) if method == "HEAD" else self.store.get(error_key)
            except NotFound:
                log.warning("error_document %r is missing", error_key)
            else:
                headers = responses.object_headers(
                    obj.headers, error_key, cache_control=None, extra=self.headers
                )
                return Response(HTTPStatus.NOT_FOUND, headers, obj.body or ())
        return responses.text_response(HTTPStatus.NOT_FOUND, self.headers)

    def _location(self, environ, rest: str) -> str:
        """This host's URL of ``rest`` (a WSGI string) under the prefix,
        SCRIPT_NAME included."""
        path = f"{environ.get('SCRIPT_NAME', '')}{self.prefix}/{rest}"
        return redirect_location(path, environ.get("QUERY_STRING", ""))


class S3App(S3Middleware):
    """A complete WSGI app serving a bucket: at ``/`` by default, 404 elsewhere.

    Usage::

        application = S3App(bucket="my-docs")
    """

    def __init__(self, *, bucket: str, prefix: str = "/", **options):
        super().__init__(not_found_app, bucket=bucket, prefix=prefix, **options)


def _header_list(headers) -> list[tuple[str, str]]:
    if not headers:
        return []
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"headers: names and values must be strings: {name!r}")
        if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
            raise ValueError(f"headers: malformed header {name!r}")
    return pairs
