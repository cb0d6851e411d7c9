"""A small object of the bucket (the publish manifest, ``versions.json``)
kept in memory, parsed, and asked for again at most every ``ttl`` seconds.

Asking again is one conditional GetObject (If-None-Match: the kept ETag): a
304 keeps what is known. Meanwhile other requests go on with the kept value;
only the very first read waits. If S3 fails, the kept value stays in use (a
missing site file is not a reason to fail a page) and the next request past
a short pause tries again. So a new publish is seen within ``ttl`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from ..stores.base import (
    Budget,
    NotFound,
    NotModified,
    ObjectRequest,
    Store,
    StoreError,
)

log = logging.getLogger("s3wsgi")

T = TypeVar("T")

# Seconds before a read that failed is tried again.
RETRY_AFTER_FAILURE = 1.0
# The largest site file read (a 5,000-file manifest is about 1 MiB).
MAX_BYTES = 16 * 1024 * 1024


class Kept(Generic[T]):
    """One object's parsed value, or None while it is missing or unreadable.

    :param parse: bytes to the value; ValueError for bytes it cannot read.
    """

    def __init__(
        self,
        store: Store,
        key: str,
        parse: Callable[[bytes], T],
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.key = key
        self.parse = parse
        self.ttl = ttl
        self._clock = clock
        self._value: T | None = None
        self._etag: str | None = None
        self._due = float("-inf")  # when to ask S3 again
        self._loaded = False
        self._lock = threading.Lock()
        self._refreshing = False

    def fresh(self) -> bool:
        """Whether :meth:`get` answers now without asking S3."""
        return self._loaded and self._clock() < self._due

    def get(self, budget: Budget | None = None) -> T | None:
        now = self._clock()
        if now < self._due:
            return self._value
        if self._loaded:
            with self._lock:
                if self._refreshing or self._clock() < self._due:
                    return self._value  # another request is asking S3 meanwhile
                self._refreshing = True
            try:
                self._refresh(budget)
            finally:
                self._refreshing = False
            return self._value
        with self._lock:  # the first read: everyone waits for it
            if not self._loaded:
                self._refresh(budget)
                self._loaded = True
        return self._value

    def _refresh(self, budget: Budget | None) -> None:
        request = ObjectRequest(self.key, if_none_match=self._etag, budget=budget)
        try:
            obj = self.store.get(request)
        except NotModified:
            self._due = self._clock() + self.ttl
            return
        except NotFound:
            self._value, self._etag = None, None
            self._due = self._clock() + self.ttl
            return
        except (StoreError, OSError) as error:
            log.warning("%s: cannot read it now (%s); using what was known", self.key, error)
            self._due = self._clock() + RETRY_AFTER_FAILURE
            return
        size = obj.size
        if size is not None and size > MAX_BYTES:
            obj.close()  # not read: S3 said how large it is
            log.error("%s: %d bytes is too large for a site file; ignored", self.key, size)
            # Asked for again by its ETag: a 304 until it changes.
            self._value, self._etag = None, obj.etag
            self._due = self._clock() + self.ttl
            return
        try:
            data = b"".join(obj.body or ())
        except Exception as error:  # a body cut short: try again soon
            log.warning("%s: reading it failed (%s); using what was known", self.key, error)
            self._due = self._clock() + RETRY_AFTER_FAILURE
            return
        finally:
            obj.close()
        self._due = self._clock() + self.ttl
        if len(data) > MAX_BYTES:
            log.error("%s: %d bytes is too large for a site file; ignored", self.key, len(data))
            self._value, self._etag = None, None
            return
        try:
            self._value = self.parse(data)
        except ValueError as error:
            log.error("%s: %s; ignored", self.key, error)
            self._value = None
        self._etag = obj.etag
