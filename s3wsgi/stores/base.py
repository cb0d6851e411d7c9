"""The seam between the middleware and S3: what a store returns and raises.

A store reads one bucket. ``get`` takes GetObject's conditional and range
parameters (``Range``, ``IfMatch``, ``IfNoneMatch``, ``IfModifiedSince``,
``IfUnmodifiedSince``) with S3's meaning, and answers an :class:`S3Object`
or raises one of the :class:`StoreError` below; ``head`` takes a key only.
The default implementation is :mod:`s3wsgi.boto3_store`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from webob.datetime_utils import parse_date

# What of S3's answer reaches the client (SPEC.md §4); never any x-amz-*.
FORWARDED_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "etag",
    "last-modified",
    "cache-control",
    "content-encoding",
    "content-language",
    "content-disposition",
    "expires",
)


class StoreError(Exception):
    """An S3 answer other than the object."""


class NotFound(StoreError):
    pass


class NotModified(StoreError):
    def __init__(self, headers: dict[str, str]):
        super().__init__("not modified")
        self.headers = headers


class PreconditionFailed(StoreError):
    pass


class RangeNotSatisfiable(StoreError):
    def __init__(self, size: int | None):
        super().__init__("range not satisfiable")
        self.size = size


class UpstreamError(StoreError):
    """S3 is unreachable, refuses us, or is overloaded: 502, 503 or 504."""

    def __init__(self, status: int):
        super().__init__(f"upstream error {status}")
        self.status = status


class S3Object:
    """An object's status (200 or 206), forwarded headers and body (None for HEAD)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: Iterable[bytes] | None = None):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> datetime | None:
        return parse_date(self.headers.get("last-modified"))

    @property
    def size(self) -> int:
        """The whole object's size, also when this is a part of it."""
        content_range = self.headers.get("content-range")
        if content_range:
            return int(content_range.rpartition("/")[2])
        return int(self.headers.get("content-length", 0))


def forwarded_headers(raw: dict[str, str]) -> dict[str, str]:
    return {name: raw[name] for name in FORWARDED_HEADERS if name in raw}


class Store(Protocol):
    """What the middleware needs of S3."""

    def head(self, key: str) -> S3Object: ...

    def get(self, key: str, **params) -> S3Object: ...
