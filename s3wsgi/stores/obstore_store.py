"""The fast store: obstore (Rust's object_store) instead of boto3's pipeline.

A GetObject through boto3 costs about a millisecond of Python per request;
through obstore the request is signed, sent and parsed in Rust with the GIL
released, and the body arrives in large chunks. The answers and faults are
the same as :mod:`s3wsgi.boto3_store`'s (SPEC.md §5, §7).

Install with ``pip install 's3wsgi[fast]'`` and pick it with
``S3Middleware(..., store="obstore")``.

What obstore does not expose, and so this store cannot forward: the
``Expires`` header, and the headers of S3's 304. A 304 to If-None-Match
carries the matched ETag (the middleware adds its ``cache_control``); a 304
to If-Modified-Since alone costs one HeadObject more, for the ETag.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import obstore
from obstore.exceptions import NotModifiedError, PreconditionError

from ..http.conditions import parse_range
from .base import (
    NotFound,
    NotModified,
    PreconditionFailed,
    RangeNotSatisfiable,
    S3Object,
    StoreError,
    UpstreamError,
    forwarded_headers,
)

log = logging.getLogger("s3wsgi")

# obstore reports S3's errors as text: the status line, then S3's XML body.
_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_ACTUAL_SIZE = re.compile(r"<ActualObjectSize>(\d+)</ActualObjectSize>")

# As in boto3_store: 403 stands for a missing key when ListBucket is not
# granted; a HeadObject error has no body, so no code at all.
_NOT_FOUND_CODES = frozenset({"", "NoSuchKey", "NotFound", "AccessDenied"})
_THROTTLED_CODES = frozenset({"SlowDown", "ServiceUnavailable", "RequestLimitExceeded"})

# object_store's names for what S3 calls these headers.
_ATTRIBUTE_HEADERS = (
    ("Content-Type", "content-type"),
    ("Cache-Control", "cache-control"),
    ("Content-Encoding", "content-encoding"),
    ("Content-Language", "content-language"),
    ("Content-Disposition", "content-disposition"),
)


class StreamBody:
    """The WSGI iterable of an object's bytes, in chunks of ``chunk_size`` or more.

    ``close()`` drops the response: a body not read to its end closes its
    connection rather than return it to the pool. A fault while reading
    propagates, so the server aborts the response instead of ending it early.
    """

    __slots__ = ("_stream", "_first")

    def __init__(self, stream):
        self._stream = stream
        self._first = b""

    def prefetch(self) -> None:
        """Read the first chunk now: a server sends no status line before the
        first body byte, so a fault here must become an error answer, where
        one raised from the iterable would be a 500."""
        self._first = next(self._stream, b"")

    def __iter__(self) -> Iterator[bytes]:
        stream = self._stream
        if stream is None:
            return
        first, self._first = self._first, b""
        if first:
            yield first
        yield from stream

    def close(self) -> None:
        # The last reference to the Rust stream: dropping it releases the
        # connection at once.
        self._stream = None
        self._first = b""


class ObstoreStore:
    """Reads one bucket through obstore.

    :param bucket: the bucket's name.
    :param endpoint_url: an S3-compatible endpoint; ``http://`` is allowed.
    :param region_name: the bucket's region (else ``AWS_REGION`` /
        ``AWS_DEFAULT_REGION``, else us-east-1).
    :param connect_timeout, read_timeout, max_attempts: as for the boto3
        store: a request S3 never answers fails within a minute. The read
        timeout applies to each read, so a long body is never cut short.
    :param max_pool_connections: idle connections kept, at least the
        server's thread count.
    :param addressing_style: ``"virtual"`` or ``"path"``; obstore's default
        (path) otherwise.
    :param credential_provider: an obstore credential provider. Without one,
        credentials come from ``AWS_*`` variables, web identity, the
        container or instance metadata; when none of the variables is set
        and boto3 finds credentials (profiles, SSO, ...), boto3's chain is used.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        max_attempts: int = 3,
        max_pool_connections: int = 32,
        addressing_style: str | None = None,
        chunk_size: int = 256 * 1024,
        credential_provider=None,
    ):
        self.bucket = bucket
        self.chunk_size = chunk_size
        self._store = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._credential_provider = credential_provider
        config: dict = {}
        if endpoint_url:
            config["endpoint"] = endpoint_url
        if region_name:
            config["region"] = region_name
        if addressing_style in ("virtual", "path"):
            config["virtual_hosted_style_request"] = addressing_style == "virtual"
        attempt = connect_timeout + read_timeout
        self._options = {
            "config": config,
            "client_options": {
                "allow_http": bool(endpoint_url and endpoint_url.startswith("http://")),
                "connect_timeout": timedelta(seconds=connect_timeout),
                "read_timeout": timedelta(seconds=read_timeout),
                # obstore's default caps a whole request, body included, at
                # 30 s; a large object to a slow client takes longer, and the
                # read timeout already catches a stalled S3.
                "timeout": timedelta(days=1),
                "pool_max_idle_per_host": str(max_pool_connections),
            },
            "retry_config": {
                "max_retries": max(max_attempts - 1, 0),
                "retry_timeout": timedelta(seconds=max_attempts * attempt),
            },
        }

    @property
    def store(self):
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    _check_runtime(pid)
                    # Again after a fork: connections must not be shared
                    # between processes.
                    self._store = obstore.store.S3Store(
                        self.bucket,
                        credential_provider=self._credential_provider or _boto3_credentials(),
                        **self._options,
                    )
                    self._pid = pid
        return self._store

    def head(self, key: str) -> S3Object:
        # A HEAD that, unlike obstore.head, also reports Content-Type & co.
        result = self._call("head_object", key, {"head": True}, {})
        return S3Object(200, _headers(result, None))

    def get(self, key: str, **params) -> S3Object:
        """GetObject with Range / IfMatch / IfNoneMatch / IfModifiedSince /
        IfUnmodifiedSince as given."""
        options: dict = {}
        byte_range = params.get("Range")
        if byte_range is not None:
            options["range"] = _range_option(byte_range)
        for name, option in (
            ("IfMatch", "if_match"),
            ("IfNoneMatch", "if_none_match"),
            ("IfModifiedSince", "if_modified_since"),
            ("IfUnmodifiedSince", "if_unmodified_since"),
        ):
            if params.get(name) is not None:
                options[option] = _utc(params[name])
        result = self._call("get_object", key, options, params)
        body = StreamBody(result.stream(min_chunk_size=self.chunk_size))
        try:
            body.prefetch()
        except Exception as error:  # obstore's errors while reading
            body.close()
            raise self._error(error, "get_object", key) from None
        status = 206 if byte_range is not None else 200
        return S3Object(status, _headers(result, byte_range), body)

    def _call(self, operation: str, key: str, options: dict, params: dict):
        store = self.store  # outside the try: a fork's RuntimeError is no S3 fault
        try:
            return obstore.get(store, key, options=options)
        except NotModifiedError:
            tag = params.get("IfNoneMatch")
            if tag:
                # S3 answered 304 to this one tag: it is the object's ETag.
                raise NotModified({"etag": tag}) from None
            # Only a date matched, and obstore hides S3's 304 headers: a 304
            # must still carry the ETag (RFC 9110 §15.4.5). Rare: clients
            # that kept an ETag send If-None-Match.
            raise NotModified(self.head(key).headers) from None
        except PreconditionError:
            raise PreconditionFailed() from None
        except Exception as error:  # obstore's errors, and its Rust panics
            raise self._error(error, operation, key) from None

    def _error(self, error: Exception, operation: str, key: str) -> StoreError:
        text = str(error)
        status_match = _STATUS.search(text)
        status = int(status_match.group(1)) if status_match else None
        code_match = _CODE.search(text)
        code = code_match.group(1) if code_match else ""
        if status in (403, 404) and code in _NOT_FOUND_CODES:
            return NotFound()
        if status == 416:
            size = _ACTUAL_SIZE.search(text)
            return RangeNotSatisfiable(int(size.group(1)) if size else None)
        log.error("%s %s/%s failed: %s", operation, self.bucket, key, text.split("\n\nDebug", 1)[0])
        if status == 503 or code in _THROTTLED_CODES:
            return UpstreamError(503)
        # reqwest's error kinds, in obstore's debug text: a connect or read
        # timeout is a gateway timeout; a refused or reset connection is not.
        if status is None and ("kind: Timeout" in text or "TimedOut" in text):
            return UpstreamError(504)
        return UpstreamError(502)


# The process whose requests started obstore's runtime (tokio): its threads
# do not survive a fork, and a child that uses it waits forever.
_runtime_pid: int | None = None
_runtime_lock = threading.Lock()


def _check_runtime(pid: int) -> None:
    """Fail at once, not hang, when a forked child would reuse the runtime."""
    global _runtime_pid
    with _runtime_lock:
        if _runtime_pid is None:
            _runtime_pid = pid
        elif _runtime_pid != pid:
            raise RuntimeError(
                f"obstore was used in process {_runtime_pid} before it forked this one, and"
                " its runtime does not survive a fork: make no S3 request before the server"
                " forks its workers (e.g. no warm-up request with gunicorn --preload),"
                " or use store='boto3'"
            )


def _range_option(value: str):
    """S3's ``bytes=`` range as obstore's: end-exclusive, offset or suffix."""
    byte_range = parse_range(value)
    if byte_range is None:
        raise ValueError(f"not a single byte range: {value!r}")
    first, last = byte_range
    if first is None:
        return {"suffix": last}
    if last is None:
        return {"offset": first}
    return (first, last + 1)


def _utc(value):
    """A date as obstore takes it: in ``datetime.timezone.utc`` (webob's
    dates carry a tzinfo of its own; a naive one means UTC, as for boto3)."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _headers(result, byte_range: str | None) -> dict[str, str]:
    """The allowlisted headers S3 sent, rebuilt from obstore's metadata."""
    meta = result.meta
    start, end = result.range
    raw = {"content-length": str(end - start)}
    if byte_range is not None:
        raw["content-range"] = f"bytes {start}-{end - 1}/{meta['size']}"
    if meta["e_tag"]:
        raw["etag"] = meta["e_tag"]
    raw["last-modified"] = email.utils.format_datetime(meta["last_modified"], usegmt=True)
    attributes = result.attributes
    for attribute, header in _ATTRIBUTE_HEADERS:
        if attribute in attributes:
            raw[header] = attributes[attribute]
    return forwarded_headers(raw)


def _boto3_credentials():
    """boto3's credential chain, when the environment names no keys itself."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return None
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    session = boto3.session.Session()
    if session.get_credentials() is None:
        return None
    return Boto3CredentialProvider(session)
