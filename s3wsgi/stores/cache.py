"""An in-memory object cache in front of a store: small objects answered
without asking S3 while fresh, then revalidated with one conditional GET.

Opt in with ``S3Middleware(..., cache_max_bytes=64 * 1024 * 1024)``.

- An object of at most ``max_object_bytes`` is kept, bytes and headers, the
  first time it is read in full. While fresh (``ttl`` seconds after S3 last
  vouched for it) every GET and HEAD for it is answered here, with S3's
  semantics: ranges, 416 with the size, 304, 412.
- After ``ttl`` seconds the next request revalidates it with a GetObject
  carrying ``IfNoneMatch=<etag>``: S3's 304 renews it, a 200 replaces it, a
  404 drops it. So an object changed or deleted in S3 is served as it was for
  at most ``ttl`` seconds; ``ttl=0`` revalidates on every request (one
  conditional request, and no object bytes when nothing changed).
- Larger objects are remembered only as "too large" and stream as before.
- Bounded by ``max_bytes`` (least recently used out first), per process. The
  bound counts what is kept; objects being read in (one per thread at most)
  are on top of it.
- Thread-safe; the requests that miss one key at the same time share one
  S3 request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import cast

from ..http.conditions import Conditions, EntityTag, byte_span, evaluate, parse_http_date
from . import base
from .events import NO_EVENTS, StoreEvents

# The options' defaults.
DEFAULT_TTL = 60.0
DEFAULT_MAX_OBJECT_BYTES = 1024 * 1024

# What an entry costs beyond its bytes: the objects and dict slots around them.
_ENTRY_OVERHEAD = 512


class _Entry:
    """One key: its headers and bytes, or (``data is None``) a note that the
    object is too large to keep; ``expires`` is a monotonic time."""

    __slots__ = ("headers", "data", "etag", "last_modified", "expires", "cost", "redirect")

    def __init__(
        self,
        headers: dict[str, str],
        data: bytes | None,
        expires: float,
        key: str,
        redirect: str | None = None,
    ):
        self.headers = headers
        self.redirect = redirect
        self.data = data
        self.etag = headers.get("etag")
        self.last_modified: datetime | None = parse_http_date(headers.get("last-modified"))
        self.expires = expires
        self.cost = _ENTRY_OVERHEAD + len(key) + len(data or b"")
        if data is not None:
            self.cost += sum(len(name) + len(value) for name, value in headers.items())


class _Flight:
    """One S3 request on behalf of every request that missed a key meanwhile."""

    __slots__ = ("done", "entry")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.entry: _Entry | None = None


class CachingStore:
    """A :class:`~s3wsgi.stores.base.Store` that keeps small objects of ``inner`` in memory.

    :param inner: the store that reads S3.
    :param max_bytes: what the kept objects may occupy, bytes and headers.
    :param ttl: seconds an object is answered without asking S3.
    :param max_object_bytes: larger objects are streamed, never kept.
    :param clock: a monotonic clock, in seconds.
    """

    def __init__(
        self,
        inner: base.Store,
        *,
        max_bytes: int,
        ttl: float = DEFAULT_TTL,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        clock: Callable[[], float] = time.monotonic,
        events: StoreEvents = NO_EVENTS,
    ):
        if max_bytes <= 0 or ttl < 0 or max_object_bytes < 0:
            raise ValueError(
                "cache: max_bytes must be positive, ttl and max_object_bytes not negative"
            )
        self.inner = inner
        self.events = events
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.max_object_bytes = max_object_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._size = 0
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    @property
    def cached_bytes(self) -> int:
        """What the kept entries occupy, as counted against ``max_bytes``."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.data is not None

    def fresh(self, key: str) -> bool:
        """Whether a request for ``key`` is answered without asking S3."""
        entry = self._entries.get(key)
        return entry is not None and entry.data is not None and self._clock() < entry.expires

    # Listings and signed URLs are not kept: straight to the inner store
    # (s3wsgi's stores can list and sign; a ready one may not).

    def list(
        self, prefix: str, *, after: str | None, limit: int, budget: base.Budget | None = None
    ) -> base.Listing:
        inner = cast(base.ListingStore, self.inner)
        return inner.list(prefix, after=after, limit=limit, budget=budget)

    def presign(self, key: str, expires: int) -> str:
        return cast(base.ListingStore, self.inner).presign(key, expires)

    def head(self, request: base.ObjectRequest) -> base.S3Object:
        entry, _ = self._validated(request, fill=False)
        if entry is None or entry.data is None:
            return self.inner.head(request)
        _evaluate(entry, request)
        return base.S3Object(200, entry.headers, redirect=entry.redirect)

    def get(self, request: base.ObjectRequest) -> base.S3Object:
        entry, streaming = self._validated(request, fill=True)
        if streaming is not None:
            # Read to decide that the object is too large to keep.
            if not request.conditional:
                return streaming
            streaming.close()
        if entry is None or entry.data is None:
            return self.inner.get(request)
        return _answer(entry, request)

    def _validated(
        self, request: base.ObjectRequest, *, fill: bool
    ) -> tuple[_Entry | None, base.S3Object | None]:
        """The key's entry, fresh or just revalidated, or None; and, for the
        one request that read a too large object, that object's answer."""
        key = request.key
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() < entry.expires:
                self._entries.move_to_end(key)
                self.events.cache_lookup("hit" if entry.data is not None else "miss")
                return entry, None
            if not fill and (entry is None or entry.data is None):
                self.events.cache_lookup("miss")
                return None, None  # a HEAD has no bytes to fill an entry with
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        stale = entry is not None and entry.data is not None and entry.etag
        self.events.cache_lookup("revalidation" if stale else "miss")
        if not leader:
            # Served by the leader's request, even with ttl=0: it was sent
            # while this request waited.
            flight.done.wait()
            return flight.entry, None
        try:
            flight.entry, streaming = self._fetch(request, entry)
            return flight.entry, streaming
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _fetch(
        self, request: base.ObjectRequest, stale: _Entry | None
    ) -> tuple[_Entry | None, base.S3Object | None]:
        """One GetObject: conditional for a stale entry, else the whole object."""
        key = request.key
        try:
            if stale is not None and stale.data is not None and stale.etag:
                try:
                    revalidation = base.ObjectRequest(
                        key, if_none_match=stale.etag, budget=request.budget
                    )
                    obj = self.inner.get(revalidation)
                except base.NotModified:
                    with self._lock:
                        stale.expires = self._clock() + self.ttl
                    return stale, None
            else:
                obj = self.inner.get(base.ObjectRequest(key, budget=request.budget))
        except base.NotFound:
            self._forget(key)
            raise
        return self._keep(key, obj)

    def _keep(self, key: str, obj: base.S3Object) -> tuple[_Entry, base.S3Object | None]:
        size = obj.size
        if obj.status != 200 or size is None or size > min(self.max_object_bytes, self.max_bytes):
            entry = _Entry(obj.headers, None, self._clock() + self.ttl, key)
            self._put(key, entry)
            return entry, obj
        try:
            data = b"".join(obj.body or ())
        finally:
            obj.close()
        if len(data) != size:
            raise base.UpstreamError(502)  # S3 sent a body of another length than it said
        entry = _Entry(obj.headers, data, self._clock() + self.ttl, key, obj.redirect)
        self._put(key, entry)
        return entry, None

    def _put(self, key: str, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old.cost
            if entry.cost > self.max_bytes:
                self.events.cache_size(self._size)
                return
            self._entries[key] = entry
            self._size += entry.cost
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= evicted.cost
                self.events.cache_evicted()
            self.events.cache_size(self._size)

    def _forget(self, key: str) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old.cost
                self.events.cache_size(self._size)


def _evaluate(entry: _Entry, request: base.ObjectRequest) -> None:
    """Raise what S3 would for the request's validators (RFC 9110 §13.2.2)."""
    decision = evaluate(
        Conditions(
            if_match=_tags(request.if_match),
            if_none_match=_tags(request.if_none_match),
            if_modified_since=request.if_modified_since,
            if_unmodified_since=request.if_unmodified_since,
        ),
        entry.etag,
        entry.last_modified,
    )
    if decision == 412:
        raise base.PreconditionFailed()
    if decision == 304:
        raise base.NotModified(entry.headers)


def _tags(tag: str | None) -> list[EntityTag] | None:
    return None if tag is None else [EntityTag(tag)]


def _answer(entry: _Entry, request: base.ObjectRequest) -> base.S3Object:
    """GetObject's answer from a kept object: its conditions, then its range."""
    _evaluate(entry, request)
    data = entry.data or b""
    if request.range is None:
        return base.S3Object(200, entry.headers, (data,), entry.redirect)
    span = byte_span(request.range, len(data))
    if span is None:
        raise base.RangeNotSatisfiable(len(data))
    start, end = span
    headers = dict(entry.headers)
    headers["content-length"] = str(end - start + 1)
    headers["content-range"] = f"bytes {start}-{end}/{len(data)}"
    return base.S3Object(206, headers, (data[start : end + 1],))
