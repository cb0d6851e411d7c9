"""The fast store: obstore (Rust's object_store) instead of boto3's pipeline.

A GetObject through boto3 costs about a millisecond of Python per request;
through obstore the request is signed, sent and parsed in Rust with the GIL
released, and the body arrives in large chunks. The answers and faults are
the boto3 store's; credentials come from boto3's whole chain (environment,
profiles and SSO, container and instance roles, web identity).

obstore's runtime does not survive a fork: a process forked after it was
used (gunicorn ``--preload`` with a request made before the fork) reads
through the boto3 store instead, and says so once in the log.

What obstore does not do, this store does through boto3's client, so that
it answers as the boto3 store does:

- a listing: one ListObjectsV2 request per page (object_store lists a
  folder whole, a request per 1,000 keys, and fails on a key below);
- a key object_store cannot name (an empty, ``.`` or ``..`` segment, or an
  ASCII control character, all of which S3 allows): read through boto3;
- an object whose Content-Type & co. are not ASCII, which object_store will
  not read: read through boto3, served without those headers
  (:func:`s3wsgi.stores.shared.readable_headers`);
- an object's website redirect location, which obstore does not report:
  asked once per version of each object (the first HEAD of a key goes
  through boto3, a first GET asks a HeadObject more), then remembered.

What obstore does not expose, and so this store cannot forward: the
``Expires`` header, and the headers of S3's 304 (the middleware fills a
304's headers from what it knows of the 200).
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import NotModifiedError, PreconditionError

from . import base
from .boto3_store import BotoStore
from .faults import Where, fault
from .green import OffHub
from .shared import Body, PerProcess, readable_headers

if TYPE_CHECKING:
    from obstore import GetOptions, GetResult, ObjectMeta
    from obstore.auth.boto3 import Boto3CredentialProvider
    from obstore.store import S3Config, S3CredentialProvider, S3Store

log = logging.getLogger("s3wsgi")

# obstore reports S3's errors as text: the status line, then S3's XML body.
_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([^<]*)</Code>")
_ACTUAL_SIZE = re.compile(r"<ActualObjectSize>(\d+)</ActualObjectSize>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_REQUEST_ID = re.compile(r"<RequestId>([^<]*)</RequestId>")
# object_store checks a ranged answer against the request, and refuses a
# server's whole object ("non-partial") or a part other than the one asked.
_WHOLE_TO_A_RANGE = "non-partial response when range requested"
_OTHER_PART = re.compile(r"Requested (\d+)\.\.(\d+), got \d+\.\.\d+")
# object_store refuses an answer with a header it cannot read as ASCII.
_UNREADABLE_HEADER = re.compile(r"contained non UTF-8 characters|containing non-ASCII data")
# What object_store's Path refuses in a key: ASCII control characters.
_UNNAMEABLE = re.compile(r"[\x00-\x1f\x7f]")
# Objects whose website redirect location is remembered.
_REMEMBERED_REDIRECTS = 4096

# object_store's names for what S3 calls these headers (Content-Type, first
# in FORWARDED_HEADERS, aside).
_ATTRIBUTE_HEADERS = (
    ("Cache-Control", "cache-control"),
    ("Content-Encoding", "content-encoding"),
    ("Content-Language", "content-language"),
    ("Content-Disposition", "content-disposition"),
)

# How often obstore asks boto3's credentials again: temporary ones are
# renewed by botocore well before they expire.
_CREDENTIALS_TTL = timedelta(minutes=5)


class ForkedRuntime(RuntimeError):
    """obstore was used in a parent process: its runtime is not in this one."""


class _NotForObstore(Exception):
    """object_store refused the key, or S3's answer to it: boto3 can read it."""


class _WrongPart(Exception):
    """The server answered a range with the whole object (``span`` None) or
    with another part than ``span``, the one asked for."""

    def __init__(self, span: tuple[int, int] | None):
        super().__init__("wrong part")
        self.span = span


class ObstoreStore:
    """Reads one bucket through obstore.

    :param bucket: the bucket's name.
    :param connection: how S3 is reached; ``http://`` endpoints are allowed.
        The read timeout applies to each read, so a long body is never cut
        short.
    :param credential_provider: an obstore credential provider; by default
        boto3's credential chain.
    """

    def __init__(
        self,
        bucket: str,
        connection: base.Connection = base.Connection(),
        *,
        credential_provider: S3CredentialProvider | None = None,
    ):
        self.bucket = bucket
        self.connection = connection
        self.chunk_size = connection.chunk_size
        self._credential_provider = credential_provider
        self._store: PerProcess[S3Store | ForkedRuntime] = PerProcess(self._make_store)
        self._fallback: PerProcess[BotoStore] = PerProcess(self._make_fallback)
        self._boto3: PerProcess[BotoStore] = PerProcess(lambda: BotoStore(bucket, connection))
        self._redirects = _Redirects(_REMEMBERED_REDIRECTS)
        # Under gevent or eventlet, obstore's calls (and its body's reads)
        # block in Rust: on threads of their own, as many as S3 requests
        # may be in flight (the options raise the pool to the bound).
        self._off_hub = OffHub(connection.max_pool_connections)

    def _make_store(self) -> S3Store | ForkedRuntime:
        try:
            _check_runtime(os.getpid())
        except ForkedRuntime as error:
            return error
        connection = self.connection
        config: S3Config = {}
        # As boto3 does: the S3 endpoint of the environment when none is given.
        endpoint = (
            connection.endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or ""
        )
        if endpoint:
            config["endpoint"] = endpoint
        if connection.region_name:
            config["region"] = connection.region_name
        if connection.addressing_style in ("virtual", "path"):
            config["virtual_hosted_style_request"] = connection.addressing_style == "virtual"
        return obstore.store.S3Store(
            self.bucket,
            config=config,
            client_options={
                "allow_http": endpoint.startswith("http://"),
                "connect_timeout": timedelta(seconds=connection.connect_timeout),
                "read_timeout": timedelta(seconds=connection.read_timeout),
                # obstore's default caps a whole request, body included, at
                # 30 s; a large object to a slow client takes longer, and the
                # read timeout already catches a stalled S3.
                "timeout": timedelta(days=1),
                "pool_max_idle_per_host": str(connection.max_pool_connections),
            },
            # One attempt: retries are the resilient store's.
            retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=1)},
            credential_provider=self._credential_provider or boto3_credentials(),
        )

    def _make_fallback(self) -> BotoStore:
        log.warning(
            "obstore was used before this process (pid %d) was forked from its parent, and its"
            " runtime does not survive a fork: this process reads S3 through boto3 (see the"
            " deployment notes: make no S3 request before the server forks)",
            os.getpid(),
        )
        return self._boto3.get()

    def _obstore(self) -> S3Store | None:
        """obstore's store in this process, or None where only the fallback can run."""
        store = self._store.get()
        return None if isinstance(store, ForkedRuntime) else store

    def head(self, request: base.ObjectRequest) -> base.S3Object:
        store = self._obstore()
        if store is None:
            return self._fallback.get().head(request)
        if not nameable(request.key):
            return self._through_boto3("head", request)
        if not self._redirects.knows(request.key):
            # One HeadObject either way, and boto3's also says the redirect.
            return self._head_through_boto3(request)
        # A HEAD that, unlike obstore.head, also reports Content-Type & co.
        try:
            result = self._call(store, "head_object", request, {**_options(request), "head": True})
        except _NotForObstore:
            return self._through_boto3("head", request)
        meta = result.meta  # built anew by obstore at each read: read once
        redirect = self._redirect(request, meta)
        return base.S3Object(200, _headers(result, meta, request), redirect=redirect)

    def list(
        self, prefix: str, *, after: str | None, limit: int, budget: base.Budget | None = None
    ) -> base.Listing:
        # One ListObjectsV2 request (delimiter, start-after, max-keys) per
        # page, which object_store cannot make: its listing of a folder is
        # whole, a request per 1,000 keys that no deadline cuts, and fails
        # on a key it cannot name.
        return self._boto3.get().list(prefix, after=after, limit=limit, budget=budget)

    def presign(self, key: str, expires: int) -> str:
        store = self._obstore()
        if store is None or not nameable(key):
            return self._boto3.get().presign(key, expires)
        return obstore.sign(store, "GET", key, timedelta(seconds=expires))

    def _through_boto3(self, operation: str, request: base.ObjectRequest) -> base.S3Object:
        """The boto3 store's answer, for what object_store cannot ask or read
        (an answer it does not read comes again: S3 never sent its body)."""
        boto3_store = self._boto3.get()
        obj = boto3_store.head(request) if operation == "head" else boto3_store.get(request)
        obj.headers = readable_headers(obj.headers, request.key)
        # As through obstore, which cannot see it: one rule for every key.
        obj.headers.pop("expires", None)
        return obj

    def _head_through_boto3(self, request: base.ObjectRequest) -> base.S3Object:
        """HeadObject through boto3, its redirect remembered for this version."""
        obj = self._through_boto3("head", request)
        self._redirects.remember(request.key, (obj.etag, obj.last_modified), obj.redirect)
        return obj

    def _redirect(self, request: base.ObjectRequest, meta: ObjectMeta) -> str | None:
        """An object's website redirect location, which obstore does not
        report: asked through boto3 once per version of the object (its
        ETag and Last-Modified: a rewrite changes the latter at least)."""
        known = self._redirects.recall(request.key, (meta["e_tag"], meta["last_modified"]))
        if known is not None:
            return known.location
        try:
            head = self._head_through_boto3(base.ObjectRequest(request.key, budget=request.budget))
        except base.NotFound:
            return None  # deleted since: the object read is served as it was
        return head.redirect

    def get(self, request: base.ObjectRequest) -> base.S3Object:
        store = self._obstore()
        if store is None:
            return self._fallback.get().get(request)
        if not nameable(request.key):
            return self._through_boto3("get", request)
        try:
            result = self._call(store, "get_object", request, _options(request))
        except _NotForObstore:
            return self._through_boto3("get", request)
        except _WrongPart as wrong:
            # As the boto3 store would pass such an answer on for the
            # middleware to check: ask for what it can use.
            if wrong.span is not None and wrong.span != request.range:
                log.warning("%s: the S3 server sent another part; asking again", request.key)
                request = replace(request, range=wrong.span)
            else:
                log.warning("%s: the S3 server ignores ranges; reading it whole", request.key)
                request = replace(request, range=None)
            try:
                result = self._call(store, "get_object", request, _options(request))
            except _WrongPart:
                log.error("%s: the S3 server sent a part other than asked, twice", request.key)
                raise base.UpstreamError(502) from None
        start, end = result.range
        meta = result.meta  # built anew by obstore at each read: read once
        headers = _headers(result, meta, request)
        redirect = self._redirect(request, meta)
        if end - start <= self.chunk_size:
            # One chunk: obstore collects it in Rust in one call, at a third
            # of the CPU of its stream for 200 KiB, and the connection goes
            # back to the pool at once. Copied into bytes, as its stream's
            # chunks are: PEP 3333 wants bytes, not a buffer.
            try:
                body = Body.whole(bytes(self._off_hub.call(result.bytes)))
            except Exception as error:  # obstore's errors while reading
                raise self._error(error, "get_object", request.key) from None
        else:
            stream: Iterator[bytes] = result.stream(min_chunk_size=self.chunk_size)
            if self._off_hub.green:
                stream = _OffHubChunks(stream, self._off_hub)
            body = Body(stream, _nothing)
            try:
                body.prefetch(self.chunk_size)
            except Exception as error:
                body.close()
                raise self._error(error, "get_object", request.key) from None
        status = 206 if request.range is not None else 200
        return base.S3Object(status, headers, body, redirect)

    def _call(
        self, store: S3Store, operation: str, request: base.ObjectRequest, options: GetOptions
    ) -> GetResult:
        try:
            return self._off_hub.call(lambda: obstore.get(store, request.key, options=options))
        except NotModifiedError:
            # S3 answered 304 to this one tag, so it is the object's ETag;
            # obstore hides the rest of S3's 304 headers.
            tag = request.if_none_match
            raise base.NotModified({"etag": tag} if tag else {}) from None
        except PreconditionError:
            raise base.PreconditionFailed() from None
        except ValueError:
            # A key object_store refuses before any request (one nameable()
            # let through): no fault of S3's, for no retry and no breaker.
            raise _NotForObstore() from None
        except Exception as error:  # obstore's errors, and its Rust panics
            if _UNREADABLE_HEADER.search(str(error)):
                raise _NotForObstore() from None
            if request.range is not None:
                text = str(error)
                other = _OTHER_PART.search(text)
                if other is not None:
                    first, end = int(other.group(1)), int(other.group(2))
                    raise _WrongPart((first, end - 1) if end > first else None) from None
                if _WHOLE_TO_A_RANGE in text:
                    raise _WrongPart(None) from None
            raise self._error(error, operation, request.key) from None

    def _error(self, error: Exception, operation: str, key: str) -> base.StoreError:
        text = str(error)
        status_match = _STATUS.search(text)
        status = int(status_match.group(1)) if status_match else None
        code_match = _CODE.search(text)
        code = code_match.group(1) if code_match else ""
        # A HeadObject error has no body, so no code at all.
        where: Where = {"operation": operation, "bucket": self.bucket, "key": key}
        if status in (403, 404) and (code in base.NOT_FOUND_CODES or not code):
            return fault(base.NotFound(), **where, status=status, code=code)
        if status == 416:
            size = _ACTUAL_SIZE.search(text)
            return base.RangeNotSatisfiable(int(size.group(1)) if size else None)
        if status == 503 or code in base.THROTTLED_CODES:
            failure = base.UpstreamError(503, retryable=True)
        elif status is not None:
            failure = base.UpstreamError(502, retryable=status >= 500)
        else:
            # No status: no answer at all. reqwest's error kinds, in obstore's
            # debug text: a connect or read timeout is a gateway timeout; a
            # refused or reset connection is not.
            timeout = "kind: Timeout" in text or "TimedOut" in text
            failure = base.UpstreamError(504 if timeout else 502, transport=True, retryable=True)
            return fault(failure, **where, cause=error)
        message = _MESSAGE.search(text)
        request_id = _REQUEST_ID.search(text)
        return fault(
            failure,
            **where,
            status=status,
            code=code,
            message=message.group(1) if message else text.split("\n", 1)[0],
            s3_request_id=request_id.group(1) if request_id else None,
        )


def nameable(key: str) -> bool:
    """Whether object_store's Path names exactly this key: it refuses an
    empty (so a leading or trailing ``/`` too), ``.`` or ``..`` segment and
    an ASCII control character."""
    if not key or _UNNAMEABLE.search(key):
        return False
    return not any(segment in ("", ".", "..") for segment in key.split("/"))


class _Remembered:
    __slots__ = ("version", "location")

    def __init__(self, version: object, location: str | None):
        self.version = version
        self.location = location


class _Redirects:
    """The website redirect location of the objects read last, each with
    the version (ETag, Last-Modified) it was read of."""

    def __init__(self, size: int):
        self._size = size
        self._known: OrderedDict[str, _Remembered] = OrderedDict()
        self._lock = threading.Lock()

    def knows(self, key: str) -> bool:
        """Whether some version of ``key`` is remembered."""
        return key in self._known

    def recall(self, key: str, version: object) -> _Remembered | None:
        with self._lock:
            known = self._known.get(key)
            if known is None or known.version != version:
                return None
            self._known.move_to_end(key)
            return known

    def remember(self, key: str, version: object, location: str | None) -> None:
        with self._lock:
            self._known[key] = _Remembered(version, location)
            self._known.move_to_end(key)
            if len(self._known) > self._size:
                self._known.popitem(last=False)


class _OffHubChunks:
    """A body's chunks, each read on a thread off the hub. Holds the stream
    only: dropping this drops the stream, which ends its connection."""

    __slots__ = ("_stream", "_off_hub")

    def __init__(self, stream: Iterator[bytes], off_hub: OffHub):
        self._stream = stream
        self._off_hub = off_hub

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        # next() with a default: a StopIteration is not carried across threads.
        chunk: bytes | None = self._off_hub.call(next, self._stream, None)
        if chunk is None:
            raise StopIteration
        return chunk


def _nothing() -> None:
    """Releasing an obstore body: the Body drops the last reference to the
    Rust stream, which closes its connection at once."""


def _options(request: base.ObjectRequest) -> GetOptions:
    """obstore's spelling of the request."""
    options: GetOptions = {}
    if request.range is not None:
        first, last = request.range
        if first is None:
            assert last is not None  # parse_range gives no (None, None)
            options["range"] = {"suffix": last}
        elif last is None:
            options["range"] = {"offset": first}
        else:
            options["range"] = (first, last + 1)  # obstore's end is exclusive
    if request.if_match is not None:
        options["if_match"] = request.if_match
    if request.if_none_match is not None:
        options["if_none_match"] = request.if_none_match
    if request.if_modified_since is not None:
        options["if_modified_since"] = _utc(request.if_modified_since)
    if request.if_unmodified_since is not None:
        options["if_unmodified_since"] = _utc(request.if_unmodified_since)
    return options


def _utc(value: datetime) -> datetime:
    """A date as obstore takes it: in ``datetime.timezone.utc`` (a naive one
    means UTC, as for boto3)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _headers(result: GetResult, meta: ObjectMeta, request: base.ObjectRequest) -> dict[str, str]:
    """The allowlisted headers S3 sent, rebuilt from obstore's metadata
    (``meta``: the result's), in the order of FORWARDED_HEADERS."""
    start, end = result.range
    attributes = result.attributes
    headers = {}
    if "Content-Type" in attributes:
        headers["content-type"] = attributes["Content-Type"]
    headers["content-length"] = str(end - start)
    if request.range is not None:
        headers["content-range"] = f"bytes {start}-{end - 1}/{meta['size']}"
    if meta["e_tag"]:
        headers["etag"] = meta["e_tag"]
    headers["last-modified"] = _http_date(meta["last_modified"])
    for attribute, header in _ATTRIBUTE_HEADERS:
        if attribute in attributes:
            headers[header] = attributes[attribute]
    return headers


@functools.lru_cache(maxsize=1024)
def _http_date(moment: datetime) -> str:
    """An HTTP date (RFC 9110 §5.6.7); an object's Last-Modified repeats on
    every request for it, so each is formatted once."""
    return email.utils.format_datetime(moment, usegmt=True)


def boto3_credentials() -> Boto3CredentialProvider | None:
    """boto3's credential chain as an obstore credential provider, or None
    when it finds no credentials (obstore then looks for its own)."""
    import boto3
    from obstore.auth.boto3 import Boto3CredentialProvider

    session = boto3.session.Session()
    if session.get_credentials() is None:
        return None
    return Boto3CredentialProvider(session, ttl=_CREDENTIALS_TTL)


# The process whose requests started obstore's runtime (tokio): its threads
# do not survive a fork, and a child that used it would wait forever.
_runtime_pid: int | None = None
_runtime_lock = threading.Lock()


def _check_runtime(pid: int) -> None:
    global _runtime_pid
    with _runtime_lock:
        if _runtime_pid is None:
            _runtime_pid = pid
        elif _runtime_pid != pid:
            raise ForkedRuntime(f"obstore's runtime was started in process {_runtime_pid}")


def _forget_runtime_in_child() -> None:
    # The lock may have been held by another thread at the fork.
    global _runtime_lock
    _runtime_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_runtime_in_child)
