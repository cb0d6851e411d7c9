"""What the boto3 and obstore stores share: the prefetching body, the
per-process holder of a client, and the check of what S3 sends that s3wsgi
passes on."""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from ..http.conditions import parse_http_date

T = TypeVar("T")

log = logging.getLogger("s3wsgi")

# A field value passed on to a client: visible ASCII, spaces and tabs (RFC
# 9110 §5.5 without obs-text, whose bytes a client may read in any charset).
_READABLE = re.compile(r"[\t\x20-\x7e]*")
# C0 and C1 control characters, shown escaped in a log line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Body:
    """The WSGI iterable of an object's bytes.

    ``prefetch()`` reads the first chunk while the answer can still be an
    error; ``close()`` releases the S3 connection, at once and for good when
    the body was not read to its end (the client went away), so a half-read
    stream is never reused. A fault while reading a later chunk propagates,
    so the server aborts the response rather than end it as if complete.
    """

    __slots__ = ("_chunks", "_release", "_first", "in_memory")

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None]):
        self._chunks: Iterator[bytes] | None = chunks
        self._release = release
        self._first = b""
        # Whether every byte is read already: S3 has nothing left to send.
        self.in_memory = False

    @classmethod
    def whole(cls, data: bytes) -> Body:
        """A body read whole already: its connection is released."""
        body = cls(iter(()), _released)
        body._first = data
        body.in_memory = True
        return body

    def prefetch(self, wanted: int, *, length: int | None = None) -> None:
        """Read the first ``wanted`` bytes now (or all there are): a server
        sends no status line before the first body byte, so a fault here
        must become an error answer, where one raised from the iterable would
        abort an answer already begun. An object that fits in the first
        chunk is thus read whole before its answer starts.

        :param length: the body's length, if known: reading it all makes
            the body :attr:`in_memory`.
        """
        chunks = self._chunks
        if chunks is None:
            return
        first = next(chunks, b"")
        if first and len(first) < wanted:
            parts = [first]
            have = len(first)
            while have < wanted and (more := next(chunks, b"")):
                parts.append(more)
                have += len(more)
            first = b"".join(parts)
        self._first = first
        self.in_memory = length is not None and len(first) >= length

    def __iter__(self) -> Iterator[bytes]:
        if self._chunks is None:
            return
        first, self._first = self._first, b""
        if first:
            yield first
        # No reference to the chunks is held across a yield, so close()
        # drops the last one while this iterator lives: obstore's stream
        # has no close() of its own, and ends its connection when dropped.
        while (chunk := self._next()) is not None:
            yield chunk

    def _next(self) -> bytes | None:
        chunks = self._chunks
        return None if chunks is None else next(chunks, None)

    @property
    def closed(self) -> bool:
        return self._chunks is None

    def close(self) -> None:
        if self._chunks is None:
            return
        self._chunks = None
        self._first = b""
        self._release()


def _released() -> None:
    """Nothing to release: the body was read to its end."""


class PerProcess(Generic[T]):
    """A value made on first use in each process, and again after a fork: a
    client's connections (and obstore's runtime) must not cross processes.

    :param make: makes the value; called once per process, under a lock.
    """

    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._value: T | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        # A fork while another thread held the lock would leave the child's
        # copy held for ever: the child starts with a new one.
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _new_lock(reference))

    def get(self) -> T:
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    self._value = self._make()
                    self._pid = pid
        # Set in this process by the branch above.
        return self._value  # type: ignore[return-value]


def _new_lock(reference: weakref.ref[PerProcess[Any]]) -> None:
    holder = reference()
    if holder is not None:
        holder._lock = threading.Lock()


def readable_headers(headers: dict[str, str], key: str) -> dict[str, str]:
    """``headers`` without those whose value is not visible ASCII, each
    left out said once in the log: a value stored by a bucket's writer, not
    a fault of S3's, so the object is served without it."""
    unreadable = [name for name, value in headers.items() if not _READABLE.fullmatch(value)]
    if not unreadable:
        return headers
    log.warning(
        "%s: its %s from S3 is not visible ASCII; served without it",
        printable(key),
        ", ".join(unreadable),
    )
    return {name: value for name, value in headers.items() if name not in unreadable}


def printable(text: str) -> str:
    """``text`` with its control characters escaped, as a log line shows a key."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def parse_s3_time(value: object) -> datetime | None:
    """A time in a listing: botocore's (left as text: ISO 8601), or a
    datetime; None if it cannot be read."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)  # "Z" included, since Python 3.11
    except ValueError:
        return parse_http_date(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
