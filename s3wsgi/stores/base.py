"""The seam between the middleware and S3: what a store is asked, what it
answers, and what it raises.

A store reads one bucket. It is asked with an :class:`ObjectRequest` (a key,
and optionally one byte range and GetObject's validators, with S3's meaning)
and answers an :class:`S3Object`, or raises one of the :class:`StoreError`
below. Two stores ship: :mod:`s3wsgi.stores.boto3_store` and
:mod:`s3wsgi.stores.obstore_store`; :mod:`s3wsgi.stores.cache` and
:mod:`s3wsgi.stores.resilient` wrap either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeAlias

from ..http.conditions import ByteRange, parse_http_date

# What of S3's answer reaches the client (docs/http.rst); never
# any x-amz-* header.
# A monotonic clock, in seconds: what every TTL, cool-down and deadline is
# measured by (time.monotonic, or a test's own).
Clock: TypeAlias = Callable[[], float]

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

# S3 answers a missing key with 403 when the caller may not ListBucket, and
# a HeadObject error has no body, so only its status (as a code) is known.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404", "AccessDenied", "403"})
THROTTLED_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "503", "RequestLimitExceeded", "Throttling"}
)


@dataclass(frozen=True, slots=True)
class Connection:
    """How a store reaches S3. These defaults are the options' defaults.

    With them, one attempt that S3 never answers fails within connect plus
    read timeout (18 s); :mod:`s3wsgi.stores.resilient` bounds the attempts.
    """

    endpoint_url: str | None = None
    region_name: str | None = None
    addressing_style: str | None = None
    connect_timeout: float = 3.0
    # Applies to each read, so a long body is never cut short.
    read_timeout: float = 15.0
    # At least the server's thread count, so no thread waits for, or churns,
    # a connection.
    max_pool_connections: int = 32
    chunk_size: int = 256 * 1024


class Budget:
    """The seconds a client's request may still spend on S3, across its S3
    calls, their retries, and its wait for a turn (the deadline option).

    There is one per client request, so it also names the request: the
    circuit breaker counts requests without an answer, not attempts, and
    marks here (``counted``) the run of failures it counted this one in.
    """

    __slots__ = ("seconds", "counted")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.counted: object | None = None

    def spend(self, seconds: float) -> None:
        self.seconds -= seconds


@dataclass(frozen=True, slots=True)
class ObjectRequest:
    """One GetObject or HeadObject: a key, and what S3 is asked to evaluate.

    ``range`` is one byte range as :func:`s3wsgi.http.conditions.parse_range`
    gives it; the validators are single strong entity tags (with quotes) and
    dates, with S3's meaning. ``budget`` is what the client's request may
    still spend waiting on S3, shared by its calls, or None for no bound.
    """

    key: str
    range: ByteRange | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: datetime | None = None
    if_unmodified_since: datetime | None = None
    budget: Budget | None = None

    @property
    def conditional(self) -> bool:
        return (
            self.range is not None
            or self.if_match is not None
            or self.if_none_match is not None
            or self.if_modified_since is not None
            or self.if_unmodified_since is not None
        )


class StoreError(Exception):
    """An S3 answer other than the object."""


class NotFound(StoreError):
    pass


class NotModified(StoreError):
    """S3's 304, with what of its headers is forwarded (often little)."""

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
    """The client gets a 5xx: 502, 503 or 504.

    What happened is in the class: a plain ``UpstreamError`` is S3 answering
    with an error (a 5xx, throttling, a redirect); :class:`Unreachable` is
    no answer at all; :class:`LocalError` and :class:`ConfigurationError`
    are not S3's fault. Only no answer is what the circuit breaker counts.

    :param transport: the request got no answer from S3 at all (refused,
        reset, timed out); :class:`Unreachable` sets it.
    :param retryable: another attempt may succeed.
    :param retry_after: seconds a client should wait, for a 503.
    """

    def __init__(
        self,
        status: int,
        *,
        transport: bool = False,
        retryable: bool = False,
        retry_after: int | None = None,
    ):
        super().__init__(f"upstream error {status}")
        self.status = status
        self.transport = transport
        self.retryable = retryable
        self.retry_after = retry_after


class Unreachable(UpstreamError):
    """S3 gave no answer: the connection was refused, reset or timed out (a
    504 for a timeout, else a 502). Retried; the circuit breaker counts it."""

    def __init__(self, *, timeout: bool = False):
        super().__init__(504 if timeout else 502, transport=True, retryable=True)


class LocalError(UpstreamError):
    """A fault in this process, not in S3: a bug, or a key the store cannot
    express. A 502 for this request only: never retried, never counted by
    the circuit breaker."""

    def __init__(self, cause: BaseException):
        super().__init__(502)
        self.cause = cause


# Kinds of configuration mistake, and what sets each right (docs/errors.rst).
NO_CREDENTIALS = "no-credentials"
CREDENTIALS = "credentials"
BUCKET = "bucket"
ENDPOINT = "endpoint"
REGION = "region"
ADVICE = {
    NO_CREDENTIALS: "s3wsgi found no AWS credentials: set AWS_ACCESS_KEY_ID and"
    " AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or give the process an instance or"
    " container role",
    CREDENTIALS: "S3 refused s3wsgi's credentials: check AWS_ACCESS_KEY_ID and"
    " AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and the machine's clock",
    BUCKET: "the bucket does not exist at this endpoint: check the bucket option"
    " (S3WSGI_BUCKET) and endpoint_url (S3WSGI_ENDPOINT_URL)",
    ENDPOINT: "the endpoint does not answer as S3 does: check endpoint_url"
    " (S3WSGI_ENDPOINT_URL, or AWS_ENDPOINT_URL)",
    REGION: "the bucket is in another region: set region_name (S3WSGI_REGION_NAME)"
    " or AWS_DEFAULT_REGION",
}
# S3's error codes that mean s3wsgi is set up wrong, never that a key is
# missing or S3 is down. AccessDenied is not one: S3 says it of a missing key
# when s3:ListBucket is not granted (a 404).
CONFIGURATION_CODES = {
    "NoSuchBucket": BUCKET,
    "InvalidAccessKeyId": CREDENTIALS,
    "SignatureDoesNotMatch": CREDENTIALS,
    "InvalidToken": CREDENTIALS,
    "ExpiredToken": CREDENTIALS,
    "TokenRefreshRequired": CREDENTIALS,
    "AuthorizationHeaderMalformed": REGION,
    "PermanentRedirect": REGION,
}


class ConfigurationError(UpstreamError):
    """s3wsgi is set up wrong (credentials, endpoint, bucket, region): a 502,
    never a 404; never retried, never counted by the circuit breaker;
    logged at ERROR once per kind, with :data:`ADVICE` on what to set."""

    def __init__(self, kind: str):
        super().__init__(502)
        self.kind = kind

    @property
    def advice(self) -> str:
        return ADVICE[self.kind]


class OutOfTime(UpstreamError):
    """The request's deadline leaves no room for another attempt: a 504, or,
    for a call the answer can do without, a reason to do without it."""

    def __init__(self) -> None:
        super().__init__(504)


class S3Object:
    """An object's status (200 or 206), forwarded headers and body (None for
    HEAD); ``redirect`` is its S3 website redirect location, if it has one."""

    __slots__ = ("status", "headers", "body", "redirect")

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        body: Iterable[bytes] | None = None,
        redirect: str | None = None,
    ):
        self.status = status
        self.headers = headers
        self.body = body
        self.redirect = redirect

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> datetime | None:
        return parse_http_date(self.headers.get("last-modified"))

    @property
    def size(self) -> int | None:
        """The whole object's size, also when this is a part of it; None if
        S3 did not say it in a form we can read."""
        content_range = self.headers.get("content-range")
        text = content_range.rpartition("/")[2] if content_range else None
        if text is None:
            text = self.headers.get("content-length", "")
        return int(text) if text.isdigit() else None

    def close(self) -> None:
        """Release the body's S3 connection (a no-op for HEAD)."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True, slots=True)
class Listed:
    """An object in a listing: its key, size and time of change."""

    key: str
    size: int
    last_modified: datetime | None


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a folder: the subfolders' keys (ending in ``/``) and the
    objects directly in it, both in key order; ``more`` when a next page
    starts after the last of them."""

    folders: list[str]
    objects: list[Listed]
    more: bool


def forwarded_headers(raw: dict[str, str]) -> dict[str, str]:
    """The allowlisted headers of ``raw``, whose names are lower case."""
    return {name: raw[name] for name in FORWARDED_HEADERS if name in raw}


class Store(Protocol):
    """What the middleware needs of S3.

    ``get`` is GetObject: the object's bytes (``body``, an iterable whose
    ``close()`` releases the connection), status 200, or 206 for a range.
    ``head`` is HeadObject: the same headers, no body. Both evaluate the
    request's validators as S3 does and raise :class:`NotFound`,
    :class:`NotModified`, :class:`PreconditionFailed`,
    :class:`RangeNotSatisfiable` or :class:`UpstreamError` (or one of its
    kinds: :class:`Unreachable`, :class:`ConfigurationError`,
    :class:`LocalError`).
    """

    def get(self, request: ObjectRequest) -> S3Object: ...

    def head(self, request: ObjectRequest) -> S3Object: ...


class ListingStore(Store, Protocol):
    """A store that can also list a folder and sign a URL (both shipped
    stores can).

    ``list`` is ListObjectsV2 with ``/`` as delimiter: at most ``limit``
    entries (subfolders and objects) of the folder ``prefix``, after the key
    ``after``; a caller without ``s3:ListBucket`` gets :class:`NotFound`.
    ``presign`` is a GetObject URL valid for ``expires`` seconds, made
    without asking S3.
    """

    def list(
        self, prefix: str, *, after: str | None, limit: int, budget: Budget | None = None
    ) -> Listing: ...

    def presign(self, key: str, expires: int) -> str: ...
